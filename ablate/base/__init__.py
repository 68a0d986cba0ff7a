"""The base model: an embedded video LLM (`smol`; `micro` for tests) or a local HF model directory.

    from ablate.base import resolve_base
    base = resolve_base("smol")        # built on first use, then cached
    base.lm_dir, base.full_dir         # what PEFT/vLLM load; the LLaVA model with its processor

The embedded bases are LLaVA-style models of stock transformers classes (CLIP vision tower, projector, a
causal LM: SmolLM2-135M-Instruct for `smol`, a small Qwen2 trained from scratch for `micro`) pretrained
here on the synthetic world (ablate.world). See ablate.base.pretrain. Importing this package is cheap (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ablate.base.config import CONFIGS
from ablate.core import UserError, read_json, stable_hash


@dataclass(frozen=True)
class BaseModel:
    root: Path
    lm_dir: Path  # causal LM + tokenizer with chat template: what PEFT trains and vLLM serves
    full_dir: Path | None  # the vision-language model (LlavaForConditionalGeneration + processor)
    hash: str  # content hash
    kind: str  # "llava" | "lm" | an ablate.models family name (qwen2_vl, llava_next_video, llava_onevision)


EMBEDDED = tuple(CONFIGS)  # the embedded configs' names: "smol", "micro"


def build_base(config: str, out: str | Path | None = None, verbose: bool = True, steps: int | None = None,
               **overrides) -> BaseModel:
    """Build (or find cached) an embedded base; `steps` overrides both LM stages' step counts, `overrides` any
    other config field; `out` also copies the built base to that directory."""
    import shutil

    from ablate.base.pretrain import build
    from ablate.core import atomic_dir

    if steps:
        overrides = {"stage1_steps": steps, "stage2_steps": steps, **overrides}
    root, key = build(config, verbose=verbose, **overrides)
    if out is not None:
        out = Path(out)
        with atomic_dir(out, overwrite=True) as tmp:
            shutil.copytree(root, tmp, dirs_exist_ok=True)
        root = out
    return BaseModel(root=root, lm_dir=root / "lm", full_dir=root / "full", hash=key, kind="llava")


def resolve_base(spec: str | Path | BaseModel, build: bool = True) -> BaseModel:
    """"smol" / "micro" (embedded, built and cached on first use) or a local HF model directory.

    The one base resolver: training and evaluation both call it. A BaseModel (or any object with
    `lm_dir` and `hash`, as tests pass) is returned as it is.
    """
    if isinstance(spec, BaseModel) or (hasattr(spec, "lm_dir") and hasattr(spec, "hash")):
        return spec
    if str(spec) in EMBEDDED:
        if not build:
            from ablate.base.config import get_config
            from ablate.base.pretrain import base_corpus, build_key, pretrained_lm
            from ablate.core import cache_root

            cfg = get_config(str(spec))
            lm = pretrained_lm(cfg, fetch=False)
            key = build_key(cfg, base_corpus(cfg), lm) if lm is not None or not cfg.lm else ""
            root = cache_root() / "base" / key
            if not key or not (root / "manifest.json").exists():
                raise UserError(f"base {spec!r} is not built yet (run `ablate base build {spec}`)")
            return BaseModel(root=root, lm_dir=root / "lm", full_dir=root / "full", hash=key, kind="llava")
        return build_base(str(spec), verbose=str(spec) != "micro")
    return _local_base(Path(spec))


def _local_base(root: Path) -> BaseModel:
    """A base directory written by `ablate base build` (--out), or a plain HF model directory."""
    from ablate.core import tree_hash

    if not root.is_dir():
        raise UserError(f"{root}: base model directory not found (or use an embedded base: {', '.join(EMBEDDED)})")
    if (root / "manifest.json").exists() and (root / "lm").is_dir():
        m = read_json(root / "manifest.json")
        if not isinstance(m, dict) or not isinstance(m.get("hash"), str):
            raise UserError(f"{root / 'manifest.json'}: not an ablate base manifest (needs a string `hash`)")
        full = root / "full" if (root / "full").is_dir() else None
        return BaseModel(root=root, lm_dir=root / "lm", full_dir=full, hash=m["hash"], kind="llava" if full else "lm")
    if not (root / "config.json").exists():
        raise UserError(f"{root}: neither an ablate base dir (manifest.json + lm/) nor an HF model dir (config.json)")
    conf = read_json(root / "config.json")
    h = stable_hash({"dir_tree": tree_hash(root, exclude=(".DS_Store",))})
    if "text_config" in conf and "vision_config" in conf:
        from ablate.models import detect  # model-family layer: kind = family name (llava, qwen2_vl, ...)

        return BaseModel(root=root, lm_dir=root, full_dir=root, hash=h, kind=detect(conf, str(root / "config.json")).name)
    return BaseModel(root=root, lm_dir=root, full_dir=None, hash=h, kind="lm")
