"""The training stage: one LoRA adapter per recipe cell, with TRL's SFTTrainer and PEFT (`ablate train`).

    $ ablate train --base smol --data runs/t3 --out runs/adapters/order-1k --n 1000 --mix order=1

    from ablate.train import TrainOptions, train_adapter
    manifest = train_adapter("smol", "runs/t3", "runs/a1", n=1000, options=TrainOptions(epochs=1))
    manifest["adapter_sha256"], manifest["samples_per_s"]

Outputs in `out/`: adapter_model.safetensors, adapter_config.json (PEFT, loadable on the base's `lm/`
and by vLLM's LoRARequest), loss.parquet (one row per optimizer step) and manifest.json. The
directory is written under a temporary name and renamed when complete (ablate.core.atomic_dir); its
`hash` covers the base hash, the exact training examples, every option and the code version, so a
rerun with the same inputs returns the finished manifest at once. Data selection lives in
ablate.train.data, model loading and LoRA target checks in ablate.train.model, the loop in
ablate.train.loop. No torch import at module level: `ablate --help` stays instant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ablate.core import UserError

#: bump when a change here alters the adapter trained from the same inputs
TRAIN_CODE_VERSION = "train-1"

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr", "wsd")
PRECISIONS = ("auto", "fp32", "bf16")
OPTION_CHOICES = {"lr_scheduler": SCHEDULERS, "precision": PRECISIONS}  # recipe validation and CLI choices


@dataclass(frozen=True)
class TrainOptions:
    """Every knob of one LoRA training run; all of them enter the adapter's hash."""

    lora_rank: int = 16
    """LoRA rank r of each adapted Linear."""
    lora_alpha: float = 32.0
    """LoRA scale numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input; 0 keeps the step cheaper and deterministic."""
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    """Linear modules of the language model to adapt: short names (`q_proj`), full names, or `all-linear`."""
    learning_rate: float = 1e-3
    """Peak learning rate (AdamW). LoRA on a small LM wants far more than the paper's full-FT 1e-5."""
    lr_scheduler: str = "cosine"
    """Schedule after warmup: linear, cosine (paper), constant, constant_with_warmup, cosine_with_min_lr, or
    wsd (warmup-stable-decay: warmup_steps, then constant, then a linear decay over the last decay_ratio of
    the steps; rows in pool order, so one run saves every nested volume: docs/training-speed.md)."""
    warmup_ratio: float = 0.03
    """Fraction of the steps spent warming up (paper: 3%); ignored when warmup_steps > 0 and by wsd."""
    epochs: float = 1.0
    """Passes over the selected data (paper: 1). Ignored when max_steps is set."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs); None, 0 or -1 = no limit."""
    batch_size: int = 64
    """Examples per micro-batch (paper global batch: 64)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step; the effective batch is batch_size * grad_accum."""
    max_length: int = 1024
    """Truncate (or, when packing, pack to) this many tokens."""
    seed: int = 0
    """Seed for the LoRA init, the data order and dropout."""
    packing: bool = False
    """Pack several examples into each max_length row (TRL bfd packing; implies padding-free)."""
    padding_free: bool = False
    """Flatten each batch into one row without pad tokens (TRL padding_free)."""
    group_by_length: bool = False
    """Padded batches of similar-length examples (less padding; same data, different order). With wsd: rows
    sorted by length inside fixed windows of the pool (group_window), so nested volumes stay exact."""
    weight_decay: float = 0.0
    """AdamW weight decay on the LoRA weights."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    replay_ratio: float = 0.0
    """Replay samples per T3 sample (needs a replay file; the paper used 2.0: original data = 2x T3)."""
    precision: str = "auto"
    """auto (bf16 on a GPU; on CPU bf16 where it is native, AVX512-BF16 or AMX, else fp32), fp32, or bf16."""
    lora_layers: int = 0
    """LoRA on the top N decoder layers only (0 = all). Nothing trains below them, so the backward pass
    stops at the lowest adapted layer: fewer layers, faster steps (research/train_speed.md: what it costs)."""
    warmup_steps: int = 0
    """Warmup in optimizer steps; > 0 overrides warmup_ratio. wsd warms up over exactly this many steps
    (the same for every volume, which is what lets nested volumes share one run)."""
    decay_ratio: float = 0.1
    """wsd only: fraction of the steps (rounded up) spent decaying the learning rate linearly towards 0."""
    group_window: int = 8
    """wsd with group_by_length only: rows are sorted by length inside consecutive windows of this many
    optimizer steps of the pool (ablate.train.data.length_windows); nested volumes are multiples of it."""

    def __post_init__(self) -> None:
        def bad(field: str, why: str):
            raise UserError(f"train option `{field}`: {why} (got {getattr(self, field)!r})")

        if isinstance(self.target_modules, str):
            object.__setattr__(self, "target_modules", (self.target_modules,))
        else:
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if isinstance(self.max_steps, int) and not isinstance(self.max_steps, bool) and self.max_steps <= 0:
            object.__setattr__(self, "max_steps", None)  # 0 / -1 mean "no step limit", as in transformers
        for f in ("lora_rank", "batch_size", "grad_accum", "max_length"):
            if not isinstance(getattr(self, f), int) or isinstance(getattr(self, f), bool) or getattr(self, f) < 1:
                bad(f, "must be an integer >= 1")
        if self.lora_alpha <= 0:
            bad("lora_alpha", "must be > 0")
        if not 0 <= self.lora_dropout < 1:
            bad("lora_dropout", "must be in [0, 1)")
        if not self.target_modules or not all(isinstance(t, str) and t for t in self.target_modules):
            bad("target_modules", "must be a non-empty list of module names")
        if not 0 < self.learning_rate < 1:
            bad("learning_rate", "must be in (0, 1)")
        if self.lr_scheduler not in SCHEDULERS:
            bad("lr_scheduler", f"must be one of {', '.join(SCHEDULERS)}")
        if not 0 <= self.warmup_ratio < 1:
            bad("warmup_ratio", "must be in [0, 1)")
        if self.epochs <= 0:
            bad("epochs", "must be > 0")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            bad("max_steps", "must be an integer >= 1 or None")
        if self.weight_decay < 0:
            bad("weight_decay", "must be >= 0")
        if self.max_grad_norm < 0:
            bad("max_grad_norm", "must be >= 0")
        if self.replay_ratio < 0:
            bad("replay_ratio", "must be >= 0")
        if self.precision not in PRECISIONS:
            bad("precision", "must be auto, fp32 or bf16")
        if not isinstance(self.group_window, int) or isinstance(self.group_window, bool) or self.group_window < 1:
            bad("group_window", "must be an integer >= 1")
        for f in ("lora_layers", "warmup_steps"):
            if not isinstance(getattr(self, f), int) or isinstance(getattr(self, f), bool) or getattr(self, f) < 0:
                bad(f, "must be an integer >= 0")
        if not 0 < self.decay_ratio <= 1:
            bad("decay_ratio", "must be in (0, 1]")

    @property
    def batching(self) -> str:
        """"packed", "padding_free", "grouped" or "padded": how batches are formed."""
        if self.packing:
            return "packed"
        return "padding_free" if self.padding_free else "grouped" if self.group_by_length else "padded"


#: fields added after train-1: they enter a key only when set to a value other than their default, so every
#: adapter (and sweep cell) trained before they existed keeps its key
LATER_FIELDS = ("lora_layers", "warmup_steps", "decay_ratio", "group_window")


def options_record(options: TrainOptions) -> dict:
    """The options as JSON values (tuples -> lists), without LATER_FIELDS at their defaults: what keys hash."""
    import json

    from ablate.core import canonical_json

    d = json.loads(canonical_json(dataclasses.asdict(options)))
    defaults = TrainOptions()
    return {k: v for k, v in d.items() if not (k in LATER_FIELDS and getattr(options, k) == getattr(defaults, k))}


OnStep = Callable[[int, int, float, float], None]


def adapter_done(out: str | Path) -> bool:
    """An adapter directory is finished when its manifest is there and the weights file is still the
    one training wrote (its sha256 is in the manifest): a file changed since then means retraining."""
    from ablate.core import content_sha256, read_json

    out = Path(out)
    weights, man = out / "adapter_model.safetensors", out / "manifest.json"
    if not (weights.is_file() and man.is_file()):
        return False
    try:
        return read_json(man).get("adapter_sha256") == content_sha256(weights)
    except (UserError, OSError, AttributeError):
        return False


def run_identity(base, sel, options: TrainOptions, mix, precision: str) -> dict:
    """Everything an adapter depends on (its `hash` is stable_hash of this): base, exact data, options, code."""
    import ablate

    return {
        "base_hash": base.hash,
        "data": {"content_hash": sel.content_hash, "n": sel.n_t3, "mix": mix, "n_replay": sel.n_replay},
        "options": options_record(options),
        "precision": precision,
        "code_version": f"{ablate.__version__}/{TRAIN_CODE_VERSION}",
    }


def train_adapter(
    base,
    data: str | Path,
    out: str | Path,
    n: int | None,
    options: TrainOptions | None = None,
    mix: dict | None = None,
    replay: str | Path | None = None,
    on_step: OnStep | None = None,
    show_progress: bool = True,
    report_to: str = "tensorboard",
    run_name: str | None = None,
    group: str | None = None,
) -> dict:
    """Train one LoRA adapter into `out` and return its manifest (instantly if already trained).

    base: "smol" (or "micro"), a local HF model dir, or an ablate.base.BaseModel. data: a synthesis dir holding
    train.parquet, or a Parquet/JSONL file with a `messages` column. n: how many pool samples (a
    prefix; None = all; 0 is an error, volume 0 is the base model). mix: {family: weight} filter
    over the `task` column. replay: chat file mixed in at options.replay_ratio.
    on_step(step, total_steps, loss, samples_per_s) is called after every optimizer step.
    report_to: tensorboard (event files in out/tensorboard/<run_name>/), wandb, mlflow or none; run_name
    (default: out's name) and group (the recipe) name the tracked run (ablate.train.tracking). None of the
    three enters the adapter's hash: a finished adapter is returned as it is, whatever they say.
    """
    from ablate.core import read_json, stable_hash
    from ablate.train.data import select_examples
    from ablate.base import resolve_base
    from ablate.train.tracking import check_report_to

    options = options or TrainOptions()
    check_report_to(report_to)
    out = Path(out)
    if n == 0:
        raise UserError("n=0 means the base model itself: there is no adapter to train (the sweep uses the base for volume 0)")
    if out.exists() and not (out / "manifest.json").is_file() and any(out.iterdir()):
        raise UserError(f"{out}: exists and is not an adapter directory; refusing to overwrite it")
    sel = select_examples(data, n, mix=mix, replay=replay, replay_ratio=options.replay_ratio)
    tbase = resolve_base(base)
    from ablate.models.checks import check_base

    check_base(tbase)  # config.json without weights, weights of another shape: say so before training starts
    from ablate.train.loop import device_and_precision

    device, precision = device_and_precision(options.precision)
    identity = run_identity(tbase, sel, options, mix, precision)
    run_hash = stable_hash(identity)
    if adapter_done(out):
        old = read_json(out / "manifest.json")
        if old.get("hash") == run_hash:
            return old

    from ablate.train.loop import run_training

    return run_training(tbase, sel, out, options, identity, run_hash, device, precision, on_step, show_progress,
                        report_to=report_to, run_name=run_name, group=group)


# `ablate train` flags: one per TrainOptions field (--lora-rank ...), plus these older spellings
