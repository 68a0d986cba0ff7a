"""Model families: which video LLM a checkpoint is, and how ablate trains, prompts and serves it.

    from ablate.models import detect_dir, engines_here
    fam = detect_dir("/models/Qwen2-VL-7B-Instruct")      # Family(name="qwen2_vl", ...)
    fam.lm_prefix                                         # "model.language_model": LoRA lives below it
    engines_here(fam, "/models/Qwen2-VL-7B-Instruct")     # {"hf": Route(ok=True, ...), "vllm": Route(...)}

One `Family` per architecture, chosen from config.json (`model_type`, then `architectures`):

| family | checkpoints | LM positions | vLLM LoRA |
|---|---|---|---|
| tiny | ablate's embedded base (`ablate base build`) | 1-D | yes (on lm/) |
| llava | LLaVA-1.5 style `LlavaForConditionalGeneration` | 1-D | yes |
| qwen2_vl | Qwen2-VL, Qwen2.5-VL | M-RoPE (3-D) | yes |
| llava_next_video | LLaVA-NeXT-Video | 1-D | yes |
| llava_onevision | LLaVA-OneVision | 1-D | no (vLLM 0.32 has no LoRA for it) |

A family is plain data (ablate.models.family.Family) plus one module (`impl`) with the video preprocessing and
prompt layout: `preprocess(frames, pp) -> dict of arrays`, `video_tokens(arrays, config) -> int`.
Everything else (training, the HF engine, vLLM routes, doctor) is written once against this contract.
Importing this package is cheap (no torch).
"""

from __future__ import annotations

from pathlib import Path

from ablate.core import UserError, read_json_file
from ablate.models.family import Family


def _families() -> dict[str, Family]:
    from ablate.models import llava, llava_next_video, llava_onevision, qwen2_vl, tiny

    return {m.FAMILY.name: m.FAMILY for m in (tiny, llava, qwen2_vl, llava_next_video, llava_onevision)}


FAMILIES: dict[str, Family] = {}


def families() -> dict[str, Family]:
    if not FAMILIES:
        FAMILIES.update(_families())
    return FAMILIES


def detect(config: dict, source: str = "config.json") -> Family:
    """The family of a parsed config.json; UserError naming the model_type otherwise."""
    fams = families()
    mt = config.get("model_type")
    for f in fams.values():
        if mt in f.model_types:
            return f
    archs = config.get("architectures") or []
    for f in fams.values():
        if any(a in f.architectures for a in archs):
            return f
    known = ", ".join(sorted(t for f in fams.values() for t in f.model_types))
    raise UserError(f"{source}: model_type {mt!r} (architectures {archs}) is not a supported family; "
                    f"supported model_type values: {known}. See docs/models.md.")


# the embedded bases' config names (ablate.base.config.CONFIGS; the models layer sits below ablate.base, so it
# names them here; tests/test_models_families.py checks the two agree)
EMBEDDED_BASES = ("smol", "micro")


def read_config(model_dir: str | Path) -> dict:
    return read_json_file(Path(model_dir) / "config.json",
                          f"{model_dir}: no config.json (not a Hugging Face model directory)")


def detect_dir(model_dir: str | Path) -> Family:
    """The family of a model directory: an ablate base dir (manifest.json + lm/) or an HF checkpoint."""
    d = Path(model_dir)
    if str(model_dir) in EMBEDDED_BASES or ((d / "manifest.json").exists() and (d / "lm").is_dir()):
        return families()["tiny"]
    return detect(read_config(d), str(d / "config.json"))


def family_of_base(base) -> Family:
    """The family of an ablate BaseModel (kind set by ablate.base.resolve_base)."""
    fams = families()
    kind = getattr(base, "kind", None)
    if kind in fams:
        return fams[kind]
    if kind == "lm":
        return fams["tiny"]
    return detect_dir(base.root)


from ablate.models.routes import Route, engines_here, pick_route  # noqa: E402

__all__ = ["FAMILIES", "Family", "Route", "detect", "detect_dir", "engines_here", "families", "family_of_base",
           "pick_route", "read_config"]
