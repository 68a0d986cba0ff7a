"""Package foundation: broken media libraries are hidden, the CLI starts fast, core helpers behave."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.core import UserError, atomic_dir, read_json, stable_hash, tree_hash

PY = sys.executable


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_compat_rule_detects_cpu_torch_with_cuda_media_libs(monkeypatch):
    from ablate import compat

    versions = {"torch": "2.13.0+cpu", "torchvision": "0.28.0", "torchaudio": "2.11.0+cpu", "torchcodec": None}
    monkeypatch.delenv("ABLATE_HIDE_MODULES", raising=False)
    monkeypatch.setattr(compat, "_version", lambda d: versions.get(d))
    assert compat.broken_media_libs() == ["torchvision"]
    versions["torch"] = "2.13.0"  # a CUDA torch: the PyPI media wheels match it
    assert compat.broken_media_libs() == []
    monkeypatch.setenv("ABLATE_HIDE_MODULES", "torchaudio")
    assert compat.broken_media_libs() == ["torchaudio"]
    monkeypatch.setenv("ABLATE_HIDE_MODULES", "none")
    assert compat.broken_media_libs() == []


def test_hidden_module_is_invisible_to_find_spec():
    out = _run(
        "import importlib.util, sys; import ablate.compat as c; "
        "sys.modules.pop('torchvision', None); import os; os.environ['ABLATE_HIDE_MODULES']='torchvision'; "
        "print(c.hide_broken_media_libs()); print(importlib.util.find_spec('torchvision'))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["['torchvision']", "None"]


def test_peft_trl_vllm_import_after_ablate():
    """The acceptance line of issue 2: this import line works in the installed environment."""
    out = _run("import ablate, t3, peft, trl, vllm, transformers; "
               "from transformers import LlavaForConditionalGeneration; print('ok')")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_cli_help_is_fast_and_imports_no_heavy_library():
    code = ("import sys, time; t=time.perf_counter(); from ablate.cli import build_parser; build_parser(); "
            "heavy=[m for m in ('torch','vllm','trl','transformers','peft') if m in sys.modules]; "
            "print(heavy, time.perf_counter()-t)")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    heavy, seconds = out.stdout.strip().split("] ")
    assert heavy == "[", f"CLI imported heavy modules: {heavy}]"
    assert float(seconds) < 1.0
    t = time.perf_counter()
    res = subprocess.run([PY, "-m", "ablate", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "doctor" in res.stdout
    assert time.perf_counter() - t < 3.0


def test_doctor_reports_versions():
    res = subprocess.run([PY, "-m", "ablate", "doctor"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert "torch" in res.stdout and "transformers" in res.stdout and "GPU" in res.stdout
    assert res.returncode in (0, 1)


def test_stable_hash_is_order_independent_and_sensitive():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert stable_hash({"a": 1.0}) != stable_hash({"a": "1.0"})


def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path):
    final = tmp_path / "result"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("crash")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(final) as tmp:
        (tmp / "done.txt").write_text("y")
    assert (final / "done.txt").read_text() == "y"
    h = tree_hash(final)
    with atomic_dir(final) as tmp:  # already finished: the new attempt is discarded
        (tmp / "other.txt").write_text("z")
    assert tree_hash(final) == h and [p.name for p in tmp_path.iterdir()] == ["result"]


def test_read_json_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  "b": \n}')
    with pytest.raises(UserError, match=r"bad\.json:4"):
        read_json(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"a": 1}))
    assert read_json(good) == {"a": 1}


def test_atomic_dir_two_attempts_finishing_at_once(tmp_path):
    """Two attempts of the same content-addressed work both succeed; one result stays, no temp dir left."""
    final = tmp_path / "k"
    a, b = atomic_dir(final), atomic_dir(final)
    ta, tb = a.__enter__(), b.__enter__()  # both started before either finished
    (ta / "x").write_text("same")
    (tb / "x").write_text("same")
    a.__exit__(None, None, None)
    b.__exit__(None, None, None)  # the rename hits a non-empty `final`: ours is dropped, no error
    assert (final / "x").read_text() == "same"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]
    c = atomic_dir(final, overwrite=True)
    (c.__enter__() / "x").write_text("new")
    c.__exit__(None, None, None)
    assert (final / "x").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["k"]
