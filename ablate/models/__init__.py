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

A family is plain data (this dataclass) plus one module (`impl`) with the video preprocessing and
prompt layout: `preprocess(frames, pp) -> dict of arrays`, `video_tokens(arrays, config) -> int`.
Everything else (training, the HF engine, vLLM routes, doctor) is written once against this contract.
Importing this package is cheap (no torch).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ablate.core import UserError, read_json_file


@dataclass(frozen=True)
class Family:
    name: str
    """Registry key; also `BaseModel.kind` for directories of this family."""
    model_types: tuple[str, ...]
    """config.json `model_type` values that select this family."""
    architectures: tuple[str, ...]
    """config.json `architectures` entries that select it (when model_type is missing or unknown)."""
    hf_class: str
    """transformers class that loads the whole checkpoint."""
    lm_prefix: str
    """Module path of the language model inside the loaded model ("" = the model is the LM)."""
    vision_prefixes: tuple[str, ...]
    """Module paths of the vision tower and projector: frozen, never in an adapter."""
    positions: str = "1d"
    """"1d" (plain positions: exact through vLLM prompt embeddings) or "mrope" (Qwen2-VL's 3-D RoPE)."""
    video_token: str | None = None
    """The placeholder the chat template emits for a video (expanded to one token per feature)."""
    vllm_arch: str | None = None
    """vLLM 0.32 model class serving the whole checkpoint natively (None: not served)."""
    vllm_lora: bool = False
    """vLLM serves LoRA adapters on this architecture (SupportsLoRA)."""
    vllm_prefix_map: dict = field(default_factory=dict)
    """vLLM 0.32's `hf_to_vllm_mapper.orig_to_new_prefix` for vllm_arch (checked against vllm by a test)."""
    impl: str | None = None
    """Module with preprocess() / video_tokens() for this family's video requests."""
    notes: str = ""

    def module(self):
        if self.impl is None:
            raise UserError(f"model family {self.name!r} builds video requests through ablate.base.embed, not ablate.models")
        return importlib.import_module(self.impl)

    @property
    def is_vlm(self) -> bool:
        """Served through ablate.models (whole-checkpoint HF engine), not the tiny base's split lm/ + encoder."""
        return self.impl is not None


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
                    f"supported model_type values: {known}. See README 'Your own model'.")


def read_config(model_dir: str | Path) -> dict:
    return read_json_file(Path(model_dir) / "config.json",
                          f"{model_dir}: no config.json (not a Hugging Face model directory)")


def detect_dir(model_dir: str | Path) -> Family:
    """The family of a model directory: an ablate base dir (manifest.json + lm/) or an HF checkpoint."""
    d = Path(model_dir)
    if str(model_dir) in ("tiny", "micro") or ((d / "manifest.json").exists() and (d / "lm").is_dir()):
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
