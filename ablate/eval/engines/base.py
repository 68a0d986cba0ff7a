"""The one inference contract every backend implements, and the adapter facts backends share.

    from ablate.eval.engines import load_engine, Request, SamplingParams
    engine = load_engine("vllm", lm_dir, adapters={"v1": Path("runs/a/adapter")})
    [gen] = engine.generate([Request(prompt_ids=(1, 2, 3), adapter="v1")])
    print(gen.text, gen.prompt_tokens, gen.gen_tokens)
    engine.close()

A request carries either token ids (text prompts, chat template already applied) or prompt
embeddings (video prompts: frame features spliced into the text embeddings by the base model's
FrameEncoder), the sampling parameters, and the variant id of its adapter (None = the base model).
Backends return one `Generation` per request, in order. Greedy decoding is the default, so every
backend must give the same answer for the same request (checked by the parity test).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ablate.core import UserError, read_json_file


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 24  # answers are a letter or an option line; longer replies are cut
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0

    def key(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class Request:
    prompt_ids: tuple[int, ...] | None = None
    prompt_embeds: Any = None  # torch.Tensor [L, hidden] on CPU, float32
    adapter: str | None = None
    sampling: SamplingParams = SamplingParams()
    mm: Any = None  # VLM video inputs for ablate.models engines: preprocessed arrays (hf) or frames (vllm-native)

    def __post_init__(self):
        if (self.prompt_ids is None) == (self.prompt_embeds is None):
            raise ValueError("a Request needs exactly one of prompt_ids or prompt_embeds")

    @property
    def prompt_len(self) -> int:
        return len(self.prompt_ids) if self.prompt_ids is not None else int(self.prompt_embeds.shape[0])


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: tuple[int, ...]
    prompt_tokens: int
    gen_tokens: int
    latency_s: float  # this request's share of the batch wall time


class Engine(Protocol):
    """What evaluate() needs from a backend. Created once per call, holds every adapter."""

    name: str

    def generate(self, requests: list[Request]) -> list[Generation]: ...

    def close(self) -> None: ...


def adapter_config(adapter_dir: Path) -> dict:
    return read_json_file(Path(adapter_dir) / "adapter_config.json",
                          f"{adapter_dir}: not a LoRA adapter directory (no adapter_config.json)")


def adapter_weights_file(adapter_dir: Path) -> Path:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (Path(adapter_dir) / name).exists():
            return Path(adapter_dir) / name
    raise UserError(f"{adapter_dir}: no adapter_model.safetensors")


def adapter_sha256(adapter_dir: Path | None) -> str:
    """sha256 of the adapter's weights and config content: what the item cache and the eval key use,
    never the path. Two trainings that give the same weights give the same value."""
    if adapter_dir is None:
        return "base"
    import hashlib

    from ablate.core import canonical_json, content_sha256

    h = hashlib.sha256(content_sha256(adapter_weights_file(adapter_dir)).encode())
    cfg = adapter_config(adapter_dir)
    if isinstance(cfg.get("target_modules"), list):  # PEFT writes a set: its order changes run to run
        cfg["target_modules"] = sorted(cfg["target_modules"])
    h.update(canonical_json(cfg).encode())
    return h.hexdigest()


def lora_ids(adapters: dict[str, Path | None]) -> dict[str, int]:
    """Stable LoRA int ids (1..n by sorted variant id), the same for every call with these variants."""
    names = sorted(k for k, v in adapters.items() if v is not None)
    return {k: i + 1 for i, k in enumerate(names)}
