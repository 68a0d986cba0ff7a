"""Configurations of the embedded base video LLM: `tiny` (the real one) and `micro` (tests).

    >>> from ablate.base.config import CONFIGS
    >>> CONFIGS["tiny"].tokens_per_frame
    9

Every field is hashed into the base model's identity (see `ablate.base.build`), so changing any
value builds a new model under a new cache key. Sizes were chosen by measuring LoRA
forward+backward throughput of candidate LMs on 2 CPU cores (see readme_parts/base.md).
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
    # LM trained here from scratch (Qwen2 of the sizes below; `micro` only)
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
    # 600 + 600 steps gave caption position 75% and describe-each 58% (the model lost count of the
    # "Frame k:" lines); 1200 + 1200 gave 95% and 84% (about 10 min on 2 cores)
    stage1_steps: int = 1200  # single-image captioning
    stage2_steps: int = 1200  # non-temporal instructions (describe frame k / each frame / attributes)
    batch_size: int = 32
    clip_frames: int = 8  # frames per clip in stage 2
    lr: float = 2e-3
    stage_lr: float = 0.0  # peak learning rate of stages 1-2 where it differs from `lr` (0: `lr`)
    warmup: int = 30
    # "auto": bf16 autocast of the matmuls where the CPU runs bf16 natively (AVX512-BF16 / AMX), else
    # fp32 (emulated bf16 is ~13x slower); weights stay float32. `resolved()` fixes it before hashing.
    precision: str = "auto"
    # the experimental design of issue #12 (`tiny-t3`); the defaults build the committed `tiny`
    layout: str = "frame_k"  # video prompt layout: "frame_k" ("Frame k: <image>") or "slots" (the T3 list layout)
    slot_lists: bool = False  # stage 2 adds non-temporal questions over frame / caption / mixed slot lists
    vision_cache: bool = False  # stage 0 seeded on its own and cached by its own identity; stages 1-2 on their own stream
    binding: float = 0.0  # share of stage-1 and stage-2 batches that are text-only option-binding drills (ablate.base.binding)
    binding_steps: int = 0  # a drills-only stage (the `lookup` drill) on the fresh LM, before captioning
    binding_lr: float = 1e-3  # its peak learning rate
    # loss weight of the option letter, the first answer token of every multiple-choice answer ("(C) ..", "C. ..")
    # in stages 1-2; 1 = plain mean over answer tokens. The letter is one of about ten answer tokens, and the
    # text after it is copied from the option the letter names, so unweighted the choice itself barely counts
    letter_weight: float = 1.0
    # stages 1a, 1 and 2 share one AdamW and one warm-up + cosine schedule over their summed steps (each stage
    # still scales it by its own peak lr) instead of a fresh optimizer and schedule per stage
    one_schedule: bool = False
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
    "tiny": BaseConfig(name="tiny"),
    # issue #12's experimental base (does not transfer yet; see reports/transfer_experiments.md): 4 x 128 LM,
    # slot lists in stage 2, the T3 list layout for video, stage 0 from the cache; 400 stage-0 steps reached
    # patch loss 0.10, 500 stage-1 steps left caption shape at 7% (1200 give 96.5%). Option binding (E12): a
    # drills-only stage first, the letter's loss weighted 5x, a 0.3 drill share and a lower peak lr in stages
    # 1-2 kept held-out lookup at 43% (chance 25%) to the end; without them it fell back to chance (E10, E11)
    "tiny-t3": BaseConfig(name="tiny-t3", layers=4, stage0_steps=400, stage1_steps=1200, stage2_steps=1500,
                          layout="slots", slot_lists=True, vision_cache=True,
                          binding_steps=1500, binding=0.3, letter_weight=5.0, stage_lr=1e-3),
    # the embedded video LLM of issue #23: SmolLM2-135M-Instruct, frozen, fed by a tower trained here
    # 150 frozen-LM captioning steps left held-out caption colour at 30%, 300 reach 80% (research/pretrained_lm.md)
    "smol": BaseConfig(name="smol", lm="smollm2-135m-instruct", freeze_lm=True, vision_cache=True, layout="slots",
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
