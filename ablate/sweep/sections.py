"""The recipe's sections as frozen dataclasses, one docstring per field (what `ablate validate` checks against).

    from ablate.sweep.sections import DataSection, EvalSection
    DataSection(pool=2000).frames          # 4: defaults are the field defaults
    EvalSection().benchmarks               # ['t3-probe', 'world-video', 'world-text']

ablate.sweep.recipe parses TOML into these (types, ranges, choices from the annotations and its
tables); [train] mirrors ablate.train.TrainOptions field by field.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

@dataclass(frozen=True)
class RecipeSection:
    name: str
    """Recipe name; the report goes to reports/<name>/ and the sweep record to runs/sweeps/<name>/."""
    seed: int = 0
    """Default seed for synthesis and training (a `seed` grid axis overrides it per variant)."""
    description: str = ""
    """One line saying what the sweep asks; printed at the top of the report."""


@dataclass(frozen=True)
class BaseSection:
    model: str = "smol"
    """`smol` (the embedded model; `micro` for tests), built and cached on first use, or a local HF model directory."""


@dataclass(frozen=True)
class WorldSection:
    """Size of the embedded world (used when data.corpus = "world" or a world-* benchmark has no
    path); unset values take ablate.world's defaults (20k images, 240 videos of 8 frames, 64 px)."""

    images: int | None = None
    """Captioned images rendered for the corpus."""
    videos: int | None = None
    """Benchmark videos (even: each clip comes with its reversal)."""
    frames: int | None = None
    """Frames per benchmark video."""
    size: int | None = None
    """Frame size in pixels."""
    seed: int | None = None
    """World seed."""

    def params(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class DataSection:
    corpus: str = "world"
    """Caption corpus for T3 synthesis: `world` (the embedded world's captions.json) or a file path."""
    corpus_format: str = "auto"
    """Corpus format for t3.read_captions: auto, llava, coco, sharegpt4v, jsonl, parquet, csv."""
    caption_field: str | None = None
    """Caption column for JSONL / Parquet / CSV corpora."""
    pool: int = 8000
    """Training rows synthesized per mix; a variant's volume takes the first `volume` rows (nested)."""
    probe: int = 1000
    """Size of the held-out t3-probe set (four families, captions never seen in training)."""
    frames: int = 4
    """Base number of captions (pretend frames) per T3 sample."""
    length_scale: int = 1
    """The paper's sequence-length scaling: 1, 2, 4 or 8 times `frames`."""
    replay: str | None = None
    """Chat data (JSONL/Parquet with `messages`) mixed in at train.replay_ratio; "base" = the embedded
    base's own non-temporal instruction data (its replay.jsonl: the paper's replay of the original data)."""


REPORT_TO_DOC = ("Experiment tracker: tensorboard (default; event files under each adapter dir's tensorboard/), "
                 "wandb, mlflow or none. Not part of any hash or id: changing it retrains nothing.")
UNHASHED_TRAIN_KEYS = ("report_to",)  # [train] keys that say how training is watched, not what it computes


def train_ident(train) -> dict:
    """[train] as it enters variant ids and the recipe hash: without the tracking keys, so ids stay as
    they were before `report_to` existed and a tracker change reruns nothing."""
    return {k: v for k, v in dataclasses.asdict(train).items() if k not in UNHASHED_TRAIN_KEYS}


def _train_section() -> type:
    """[train]: one optional field per ablate.train.TrainOptions field (same name, type, docstring);
    unset (None) means TrainOptions' own default (`seed`: the variant's seed). A new TrainOptions
    field appears here, in validation and as an `ablate train` flag without any edit. Plus `report_to`
    (ablate.train.tracking), which is no training option: it never enters a hash."""
    from ablate.core import field_docs
    from ablate.train.stage import TrainOptions

    hints, docs = typing.get_type_hints(TrainOptions), field_docs(TrainOptions)
    fields = []
    for f in dataclasses.fields(TrainOptions):
        tp = hints[f.name]
        if typing.get_origin(tp) is tuple:  # TOML has arrays, not tuples
            tp = list[typing.get_args(tp)[0]]
        fields.append((f.name, tp | None, field(default=None, metadata={"doc": docs.get(f.name, "")})))
    fields.append(("report_to", str | None, field(default=None, metadata={"doc": REPORT_TO_DOC})))
    cls = dataclasses.make_dataclass("TrainSection", fields, frozen=True)
    cls.__module__, cls.__doc__ = __name__, _train_section.__doc__
    return cls


TrainSection = _train_section()


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    """Benchmark name (see ablate.eval.benchmarks.REGISTRY)."""
    path: str | None = None
    """Root directory or file; required for real benchmarks, optional for the world ones."""


@dataclass(frozen=True)
class EvalSection:
    benchmarks: list = field(default_factory=lambda: ["t3-probe", "world-video", "world-text"])
    """Benchmark names, or inline tables {name = ..., path = ...}."""
    frames: int = 8
    """Frames sampled uniformly per video."""
    max_tokens: int = 32
    """Generation budget per answer (greedy)."""
    engine: str = "vllm"
    """Inference backend: vllm (one engine for every adapter) or hf (reference)."""
    scoring: str = "ablate"
    """Reply scoring: `ablate` (official rules, then judge-free fallbacks) or `official` (the
    benchmarks' own rules only, unmatched = wrong; TempCompass as its scripts with --disable_llm)."""


@dataclass(frozen=True)
class SweepSection:
    """Where the jobs run; `ablate sweep --executor / --address` override these. Not part of any key:
    the same recipe gives the same results on one machine and on a cluster."""

    executor: str = "local"
    """`local` (child processes on this machine) or `ray` (Ray tasks on a cluster; pip install -e ".[ray]")."""
    address: str | None = None
    """Ray cluster to join: `auto` (the one `ray start` started) or HOST:PORT; unset: a local Ray cluster
    that lives as long as the sweep."""
    gpus_per_cell: float | None = None
    """GPUs per training / evaluation job under Ray; unset: 1 when the cluster has GPUs, else 0."""
    cpus_per_cell: float = 1
    """CPU slots per job under Ray (what bounds how many run at once on a cluster without GPUs)."""
    max_retries: int = 3
    """Ray retries of a job whose worker process, Ray worker or node died (a Python error is never retried)."""
    timeout: float | None = None
    """Seconds after which a running job is killed and recorded as failed (Ray); unset: no limit."""
    eval_shards: int | None = None
    """Engines per evaluation setting (Ray): unset = one per GPU of the cluster (1 without GPUs); 1 = one
    engine for all variants, as locally. Variants are split into balanced subsets, or, with fewer
    variants than shards, the benchmark items are."""


@dataclass(frozen=True)
class Recipe:
    path: str
    recipe: RecipeSection
    base: BaseSection
    world: WorldSection
    data: DataSection
    mixes: dict[str, dict[str, float]]
    """Named task mixes: family -> weight (families: order, attribute, referring, grounding; or
    `generic` alone for the generic-text control)."""
    grid: dict[str, list]
    """Axis -> values. `mix`, `volume`, `seed`, or `train.X` / `data.X` / `eval.X`."""
    train: TrainSection
    eval: EvalSection
    sweep: SweepSection = SweepSection()

    @property
    def name(self) -> str:
        return self.recipe.name

    def benchmark_specs(self) -> list[BenchmarkSpec]:
        return [b if isinstance(b, BenchmarkSpec) else BenchmarkSpec(b) for b in self.eval.benchmarks]
