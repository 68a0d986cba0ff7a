"""The installed environment is consistent on its own (issue #13, item 7).

pip's CPU install of vLLM brings CUDA-only torchvision / torchaudio / torchcodec beside a CPU torch;
ablate's wheel ships `ablate-compat.pth` (tools/ablate_build.py) so that every Python process of the
environment hides them, not only processes that import ablate. CI (.ci/run) makes a fresh venv with
README's command and runs the tests inside it, so the slow tests here check exactly that venv: plain
`python -c "from peft import PeftModel"` in a clean environment, and vLLM serving the micro base from
a plain process with a cold vLLM cache (its model inspection runs in a subprocess of its own).

    python -m pytest -q tests/test_install_env.py
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLAIN_IMPORTS = ("import peft; from peft import PeftModel; from transformers import AutoProcessor; "
                 "import vllm; print('imports ok')")


def _clean_env(tmp_path: Path, **extra) -> dict:
    """The environment of a user's shell: no PYTHONPATH, nothing of ablate's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ABLATE_", "VLLM_", "PYTEST"))}
    env.update(HOME=str(tmp_path), **extra)
    return env


def test_backend_adds_the_pth_with_its_record_line(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import ablate_build
    finally:
        sys.path.pop(0)
    whl = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("x/__init__.py", "")
        z.writestr("x-1.0.dist-info/RECORD", "x/__init__.py,,\nx-1.0.dist-info/RECORD,,\n")
    ablate_build._add_pth(str(whl))
    with zipfile.ZipFile(whl) as z:
        pth = z.read(ablate_build.PTH_NAME)
        record = z.read("x-1.0.dist-info/RECORD").decode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(pth).digest()).rstrip(b"=").decode()
    assert f"{ablate_build.PTH_NAME},sha256={digest},{len(pth)}" in record.splitlines()
    assert pth.startswith(b"import ") and pth.count(b"\n") == 1  # site.py executes one `import` line
    # the line itself never fails an interpreter start, even where ablate cannot be imported
    r = subprocess.run([sys.executable, "-S", "-c", pth.decode()], capture_output=True, text=True, cwd=tmp_path,
                       env=_clean_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert ablate_build.PTH_NAME > "__editable__.ablate-0.1.0.pth"  # processed after the editable finder


@pytest.mark.slow
def test_plain_imports_work_in_the_installed_env(tmp_path):
    site = Path(sysconfig.get_paths()["purelib"])
    assert (site / "ablate-compat.pth").is_file(), (
        f"{site}: ablate-compat.pth missing; this environment was installed before the fix: "
        "run README's `pip install -e \".[cpu,dev]\"` again")
    r = subprocess.run([sys.executable, "-c", PLAIN_IMPORTS], capture_output=True, text=True, cwd=tmp_path,
                       env=_clean_env(tmp_path), timeout=300)
    assert r.returncode == 0 and "imports ok" in r.stdout, r.stderr[-3000:]


@pytest.mark.slow
def test_plain_process_vllm_serves_the_micro_base(tmp_path, micro_base):
    """No ablate import, no ablate patch, a cold vLLM cache: vLLM inspects Qwen2 in its own subprocess."""
    code = (f"from vllm import LLM, SamplingParams\n"
            f"llm = LLM(model={str(micro_base.lm_dir)!r}, dtype='float32', max_model_len=512, enforce_eager=True, seed=0)\n"
            f"out = llm.generate(['Describe the image.'], SamplingParams(temperature=0.0, max_tokens=4), use_tqdm=False)\n"
            f"print('generated', len(out[0].outputs[0].token_ids))\n")
    env = _clean_env(tmp_path, VLLM_CPU_KVCACHE_SPACE="1", VLLM_CACHE_ROOT=str(tmp_path / "vllm-cold"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0 and "generated" in r.stdout, r.stderr[-4000:]
