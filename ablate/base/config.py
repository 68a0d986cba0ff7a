"""Configurations of the embedded base video LLM: `smol` (the real one) and `micro` (tests).

    >>> from ablate.base.config import CONFIGS
    >>> CONFIGS["smol"].tokens_per_frame
    9

Every field is hashed into the base model's identity (see `ablate.base.pretrain.build_key`), so changing
any value builds a new model under a new cache key. `smol` feeds a pretrained LM (SmolLM2-135M-Instruct,
frozen) from a vision tower trained here; `micro` trains a small Qwen2 LM from scratch in seconds, for
formats and mechanics only (see docs/base.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BaseConfig:
    name: str
    # vision side: a CLIP-like ViT on square frames; one token per patch (CLS dropped).
    # 48 px frames in 16 px patches give 3x3 patches, one per cell of the world's 3x3 grid.
    frame_size: int = 48
    patch_size: int = 16
    render_size: int = 64  # the world renders (and encodes its videos) at 64 px; frames are resized to frame_size
    vision_hidden: int = 128
    vision_layers: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 256
    # language side: a pretrained LM by name (ablate.base.lm_source: "smollm2-135m-instruct"), or "" for an
    # LM trained here from scratch (Qwen2 of the sizes below; `micro`)
    lm: str = ""
    lm_path: str = ""  # a local copy of `lm` (HF dir or .gguf) instead of the registry; never hashed (its content is)
    freeze_lm: bool = False  # stages 1-2 train the projector only (LLaVA's stage 1); the LM stays as pretrained
    align_steps: int = 0  # projector steps matching the LM's input embeddings of each patch's words (no LM pass)
    align_batch: int = 64
    canonical_captions: bool = False  # stage 1 captions are the frame descriptions of the bench's text twin
    # from-scratch LM: Qwen2, head_dim 64 because vLLM's CPU attention rejects smaller heads
    hidden: int = 128
    layers: int = 3
    heads: int = 2
    kv_heads: int = 2
    intermediate: int = 384
    vocab_size: int = 2048  # upper bound; the trained tokenizer may be smaller (padded up to 64)
    max_positions: int = 4096
    # pretraining
    tokenizer_captions: int = 20000  # generated captions the tokenizer is trained on
    stage0_steps: int = 1200  # vision tower: per-patch object attributes (the CLIP-pretraining analogue)
    stage0_batch: int = 64
    freeze_vision: bool = True  # stages 1-2 train projector + LM on the frozen tower, as LLaVA does
    stage1_steps: int = 1200  # single-image captioning
    stage2_steps: int = 1200  # non-temporal instructions (describe frame k / each frame / attributes)
    batch_size: int = 32
    clip_frames: int = 8  # frames per clip in stage 2
    lr: float = 2e-3
    warmup: int = 30
    # "auto": bf16 autocast of the matmuls where the CPU runs bf16 natively (AVX512-BF16 / AMX), else
    # fp32 (emulated bf16 is ~13x slower); weights stay float32. `resolved()` fixes it before hashing.
    precision: str = "auto"
    layout: str = "frame_k"  # video prompt layout: "frame_k" ("Frame k: <image>") or "slots" (the T3 list layout)
    replay_rows: int = 8000  # text-only non-temporal rows written to replay.jsonl (T3 cells replay them)
    seed: int = 0
    threads: int = 2
    # held-out evaluation sizes
    eval_images: int = 200
    eval_clips: int = 50
    eval_bench: int = 200  # temporal multiple-choice questions of the world bench

    @property
    def tokens_per_frame(self) -> int:
        return (self.frame_size // self.patch_size) ** 2

    @property
    def head_dim(self) -> int:
        return 64

    def resolved(self) -> "BaseConfig":
        """This config with `precision` resolved for this CPU ("bf16" / "fp32"): what is hashed and built."""
        from ablate.base.precision import resolve_precision

        return replace(self, precision=resolve_precision(self.precision))


CONFIGS: dict[str, BaseConfig] = {
    # the embedded video LLM of issue #23: SmolLM2-135M-Instruct, frozen, fed by a tower trained here
    # 150 frozen-LM captioning steps left held-out caption colour at 30%, 300 reach 80% (research/pretrained_lm.md)
    "smol": BaseConfig(name="smol", lm="smollm2-135m-instruct", freeze_lm=True, layout="slots",
                       align_steps=300, stage1_steps=300, stage2_steps=0, batch_size=8, canonical_captions=True,
                       eval_images=30, eval_clips=0, eval_bench=60),  # no describe-each: stage 2 is off
    # a few dozen steps: builds in seconds; formats and mechanics only, not quality
    "micro": BaseConfig(
        name="micro", vision_layers=1, layers=1, intermediate=128, vocab_size=512, tokenizer_captions=400,
        stage0_steps=10, stage0_batch=8, stage1_steps=10, stage2_steps=6, batch_size=4, clip_frames=4, warmup=2,
        eval_images=4, eval_clips=2, eval_bench=0, replay_rows=200,
    ),
}


def get_config(name: str, **overrides) -> BaseConfig:
    from ablate.core import UserError

    if name not in CONFIGS:
        raise UserError(f"unknown base config {name!r}; choose one of {sorted(CONFIGS)}")
    return (replace(CONFIGS[name], **overrides) if overrides else CONFIGS[name]).resolved()
