"""Benchmarks by name: each loader turns files on disk into `Item`s (id, modality, prompt, options,
answer, aspect tags, scorer); nothing here runs a model.

    from ablate.eval.benchmarks import BenchSpec, load_items
    items = load_items(BenchSpec("tempcompass", "data/TempCompass", {"tasks": ["multi-choice"]}))
    print(len(items), items[0].prompt)

Names: t3-probe, world-video, world-text, tempcompass, videomme, mlvu, t3-text. A malformed file
raises UserError naming it; an item that cannot be read becomes an Item with `error` set (the run
goes on and the error is counted in the scores).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ablate.core import UserError, stable_hash



@dataclass(frozen=True)
class Benchmark:
    """What the recipe validator, the evaluation stage and the runner know about a benchmark."""

    name: str
    loader: str
    """Module with `load(spec) -> list[Item]`, imported only when the benchmark is asked for."""
    modality: str
    """"text" or "video" (a video benchmark needs the engine's prompt-embeds path)."""
    default: str | None
    """Where it lives when no path is given: "probe" (the sweep's own held-out T3 probe), "world" (the
    embedded world's bench dir); None: a path is required."""
    scorers: tuple[str, ...]
    """Names in ablate.eval.scoring.SCORERS_VERSION that its items use."""

    @property
    def needs_path(self) -> bool:
        return self.default is None


_TC = ("tempcompass-mc", "yes_no", "tempcompass-cm")
REGISTRY = {b.name: b for b in (
    Benchmark("t3-probe", "ablate.eval.benchmarks.text", "text", "probe", ("t3",)),
    Benchmark("world-video", "ablate.eval.benchmarks.tempcompass", "video", "world", _TC),
    Benchmark("world-text", "ablate.eval.benchmarks.text", "text", "world", ("t3", "yes_no")),
    Benchmark("tempcompass", "ablate.eval.benchmarks.tempcompass", "video", None, _TC),
    Benchmark("videomme", "ablate.eval.benchmarks.videomme", "video", None, ("videomme",)),
    Benchmark("mlvu", "ablate.eval.benchmarks.mlvu", "video", None, ("mlvu",)),
    Benchmark("t3-text", "ablate.eval.benchmarks.text", "text", None, ("t3",)),
)}


def benchmark(name: str) -> Benchmark:
    """The registry entry for `name`; a UserError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise UserError(f"unknown benchmark {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def default_path(name: str, world: str | Path | None = None, probe: str | Path | None = None) -> Path | None:
    """The default location of a benchmark: the probe's parquet in a synthesis dir, the world's bench."""
    where = benchmark(name).default
    if where == "probe":
        return Path(probe) / "probe.parquet" if probe else None
    if where == "world":
        return Path(world) / "bench" if world else None
    return None


PROMPT_VERSION = 1  # bump when any loader's prompt wording changes: it is part of the item cache key


@dataclass(frozen=True)
class BenchSpec:
    name: str
    path: str | Path | None = None  # None: the default location (t3-probe / world-* only)
    options: dict = field(default_factory=dict)  # e.g. {"tasks": [...]}, {"subset": "temporal"}, {"limit": 100}

    def __post_init__(self):
        benchmark(self.name)  # unknown names fail here, naming the known ones


@dataclass(frozen=True)
class Item:
    benchmark: str
    item_id: str
    modality: str  # "text" | "video"
    task: str  # e.g. multi-choice | yes_no | caption_matching | videomme | order ...
    prompt: str  # the user text (for video: without the frame placeholders)
    options: tuple[str, ...]
    answer: str  # letter, yes/no, or the full correct line (TempCompass); for t3-text maybe "a|b" alternatives
    scorer: str  # a name in ablate.eval.scoring.SCORERS_VERSION
    aspect: str = "all"
    sub_dim: str = "all"
    video: str | None = None  # path relative to root
    root: str | None = None
    error: str | None = None  # set when the item itself could not be read

    def content_hash(self, video_hash: str | None = None) -> str:
        """What determines the generation: benchmark prompt text and the video's bytes (not paths)."""
        return stable_hash([self.modality, self.prompt, video_hash])


def load_items(spec: BenchSpec) -> list[Item]:
    module = importlib.import_module(REGISTRY[spec.name].loader)
    items = module.load(spec)
    limit = spec.options.get("limit")
    if limit is not None:
        items = items[: int(limit)]
    seen: set[str] = set()
    for it in items:
        if it.item_id in seen:
            raise UserError(f"{spec.path}: benchmark {spec.name} has duplicate item id {it.item_id!r}")
        seen.add(it.item_id)
    from dataclasses import replace

    from ablate.eval.scorable import unscorable

    out = []
    for it in items:  # an item that cannot be scored is an error row with its reason, never a silent zero
        why = None if it.error else unscorable(it.scorer, it.options, it.answer)
        out.append(replace(it, error=f"{spec.path or spec.name}: {it.item_id}: cannot be scored: {why}") if why else it)
    return out


def need_path(spec: BenchSpec) -> Path:
    if spec.path is None:
        raise UserError(f"benchmark {spec.name}: a path is required (key `path`)")
    p = Path(spec.path).expanduser()
    if not p.exists():
        raise UserError(f"{p}: benchmark {spec.name} not found")
    return p


def read_parquet(path: Path, required: tuple[str, ...]):
    import polars as pl

    try:
        df = pl.read_parquet(path)
    except Exception as e:  # noqa: BLE001 (polars raises several types for a bad file)
        raise UserError(f"{path}: cannot read Parquet ({type(e).__name__}: {e})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(df.columns)})")
    return df
