"""The `Family` record: one per video-LLM architecture (ablate.models registers them; each family module
defines its FAMILY with it).

    from ablate.models.family import Family
    FAMILY = Family(name="tiny", model_types=("tiny",), architectures=(), hf_class="...", lm_prefix="",
                    vision_prefixes=())
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ablate.core import UserError


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
