"""Inference backends behind one contract (`Engine`), chosen by name and imported only when chosen.

    from ablate.eval.engines import load_engine, Request
    engine = load_engine("hf", "path/to/lm", adapters={"v1": Path("adapter_dir"), "base": None})
    gens = engine.generate([Request(prompt_ids=(5, 6, 7), adapter="v1")])

Backends: "vllm" (default; one vllm.LLM holding every LoRA) and "hf" (transformers + PEFT, adapters
switched in place; the parity reference and the fallback where vLLM is absent).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ablate.core import UserError
from ablate.eval.engines.base import Engine, Generation, Request, SamplingParams, adapter_sha256, lora_ids

BACKENDS = {"vllm": "ablate.eval.engines.vllm_engine", "hf": "ablate.eval.engines.hf_engine"}

__all__ = ["BACKENDS", "Engine", "Generation", "Request", "SamplingParams", "adapter_sha256", "engine_max_lora_rank",
           "load_engine", "lora_ids"]


def engine_max_lora_rank(name: str) -> int | None:
    """The largest LoRA rank backend `name` serves (its module's MAX_LORA_RANK; None = no limit).
    Reading it imports the backend module only, never vllm or torch."""
    if name not in BACKENDS:
        return None
    return getattr(importlib.import_module(BACKENDS[name]), "MAX_LORA_RANK", None)


def load_engine(name: str, lm_dir: str | Path, adapters: dict[str, Path | None], **options) -> Engine:
    """Build backend `name` for the causal LM in `lm_dir` with every adapter of this call loaded.

    options: prompt_embeds (bool, video requests will come), max_model_len (int), device (hf only).
    """
    if name not in BACKENDS:
        raise UserError(f"unknown engine {name!r}; choose one of {', '.join(sorted(BACKENDS))}")
    try:
        module = importlib.import_module(BACKENDS[name])
    except ImportError as e:
        raise UserError(f"engine {name!r} is not installed here ({e}); try --engine hf") from None
    return module.create(Path(lm_dir), dict(adapters), **options)
