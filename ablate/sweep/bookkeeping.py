"""The sweep runner's records: the sweep record and its per-variant records, each stage run's outcome,
and the context the runner threads through the stages.

    from ablate.sweep.bookkeeping import Ran, SweepRecord, VariantRecord, recipe_hash, versions
    rec = SweepRecord.start(recipe, variants)       # every variant pending
    rec.variant("3f2a9c01").done("train", job, Ran("9b1e...", seconds=12.5, finished="2026-12-01 09:31:02"))
    rec.to_json()                                    # what runs/sweeps/<name>/sweep.json holds
    print(versions())                                # "ablate 0.x, torch ..., polars ..."

Files (ablate.sweep.runner writes them; `ablate plan` and the report read them):
- runs/sweeps/<recipe name>/sweep.json: SweepRecord.to_json();
- runs/variants/<variant id>.json: VariantRecord.to_json();
- runs/<stage>/<key>.run.json: {"seconds", "finished"} of the run that computed that stage directory,
  so a later sweep that finds the directory done still reports how long it took and when (`stage_run`);
  for the volumes of one nested training run, their shares of its wall time (`write_nested_runs`).

Everything here only reads and writes records, so a killed sweep leaves records that `ablate plan` and
the next run can read.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import ablate
from ablate.core import stable_hash, write_json
from ablate.fs import doing
from ablate.names import check_name, child_path
from ablate.sweep.executor import Executor
from ablate.sweep.live import Live
from ablate.sweep.plan import Variant
from ablate.sweep.sections import Recipe, train_ident
from ablate.sweep.stage import STAGES


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass(frozen=True)
class Ran:
    """One stage directory as a variant got it."""

    key: str | None  # None: the key could not be computed (an input is missing)
    error: str = ""
    seconds: float | None = None  # wall time of the run that computed the directory (None: not recorded)
    finished: str | None = None  # when that run finished (None: not recorded)
    fresh: bool = False  # computed by this invocation


def stage_run_file(runs: Path, stage: str, key: str) -> Path:
    return runs / stage / f"{key}.run.json"


def write_stage_run(runs: Path, stage: str, key: str, seconds: float) -> Ran:
    """Record that this invocation computed runs/<stage>/<key> in `seconds`; the Ran for it."""
    ran = Ran(key, "", round(seconds, 3), now(), True)
    write_json(stage_run_file(runs, stage, key), {"seconds": ran.seconds, "finished": ran.finished})
    return ran


def write_nested_runs(runs: Path, stage: str, keys: list[str], seconds: float, error: str = "") -> dict[str, Ran]:
    """The Ran of each directory of one nested training job (keys[0]: the job's own, the largest volume).

    A directory that is done counts as computed now, even when the job failed later (a kill after its
    save): its run.json gets the job's wall time times its manifest's `nested.own_seconds` over the sum
    of those of the directories done, so the runs' seconds add up to the job's. Each other key gets a
    <key>.log naming the job's log. A directory not done gets the job's error.
    """
    done = [k for k in keys if STAGES[stage].is_done(runs / stage / k)]
    own = {}
    for k in done:
        try:
            own[k] = float(json.loads((runs / stage / k / "manifest.json").read_text())["nested"]["own_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            own[k] = 1.0  # trained before own_seconds existed: an even share
    total = sum(own.values()) or 1.0
    out = {k: write_stage_run(runs, stage, k, seconds * own[k] / total) for k in done}
    for k in keys[1:]:
        (runs / stage / f"{k}.log").write_text(f"trained in one nested run with {keys[0]}: see {keys[0]}.log\n")
    for k in keys:
        if k not in out:
            out[k] = Ran(k, error or f"{stage} finished but {runs / stage / k} is not complete")
    return out


def stage_run(runs: Path, stage: str, key: str) -> Ran:
    """The recorded run that computed a directory found done (seconds/finished None if never recorded)."""
    try:
        d = json.loads(stage_run_file(runs, stage, key).read_text())
        return Ran(key, "", float(d["seconds"]), str(d["finished"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Ran(key)


@dataclasses.dataclass
class VariantRecord:
    """One variant's progress through the stages (runs/variants/<id>.json)."""

    id: str
    label: str
    mix: str
    volume: int
    seed: int
    axes: dict
    status: str = "pending"  # pending | done | failed
    stages: dict = dataclasses.field(default_factory=dict)  # stage -> key of the directory it uses
    timings: dict = dataclasses.field(default_factory=dict)  # stage -> s of the run that computed it (None: unknown)
    computed: dict = dataclasses.field(default_factory=dict)  # stage -> when that run finished (None: unknown)
    jobs: dict = dataclasses.field(default_factory=dict)  # stage -> the job as JSON
    adapter: str | None = None
    adapter_sha256: str | None = None
    eval_shards: list | None = None  # eval keys when its evaluation ran as several engine jobs
    failed_stage: str | None = None
    error: str | None = None
    log: str | None = None
    accuracies: dict = dataclasses.field(default_factory=dict)  # text_acc / video_acc (live table)

    @classmethod
    def pending(cls, v: Variant) -> "VariantRecord":
        return cls(v.id, v.label, v.mix, v.volume, v.seed, v.axes)

    def done(self, stage: str, job, ran: Ran) -> None:
        self.stages[stage] = ran.key
        self.jobs[stage] = job.to_json()
        self.timings[stage] = ran.seconds
        self.computed[stage] = ran.finished

    def fail(self, stage: str, error: str, log: Path | None) -> None:
        self.status, self.failed_stage, self.error, self.log = "failed", stage, error, str(log) if log else None

    def trained(self, adapter_dir: Path, log: Path | None) -> None:
        self.adapter = str(adapter_dir)
        self.adapter_sha256 = json.loads((adapter_dir / "manifest.json").read_text()).get("adapter_sha256")
        self.log = str(log) if log else None

    def evaluated(self, shard_keys: list[str], accuracies: dict) -> None:
        if len(shard_keys) > 1:
            self.eval_shards = list(shard_keys)
        self.status = "done"
        self.accuracies = dict(accuracies)

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "accuracies"}
        optional = ("adapter", "adapter_sha256", "eval_shards", "failed_stage", "error", "log")
        d = {k: v for k, v in d.items() if not (k in optional and v is None) and not (k == "jobs" and not v)}
        return {**d, **self.accuracies}


@dataclasses.dataclass
class SweepRecord:
    """What one sweep did (runs/sweeps/<name>/sweep.json); the report is built from its JSON."""

    name: str
    recipe_path: str | None
    description: str | None
    recipe_hash: str
    versions: str
    started: str
    variants: dict[str, VariantRecord]  # id -> record, in the plan's order
    timings: dict = dataclasses.field(default_factory=dict)  # this invocation's wall time per step (s)
    stage_runs: dict = dataclasses.field(default_factory=dict)  # stage -> key -> {seconds, finished, fresh}
    world: str | None = None
    world_hash: str | None = None
    base: str | None = None
    base_hash: str | None = None
    probe_hash: str | None = None
    eval_dirs: list | None = None
    executed: dict | None = None
    finished: str | None = None
    report: str | None = None

    @classmethod
    def start(cls, recipe: Recipe, variants: list[Variant]) -> "SweepRecord":
        return cls(recipe.name, recipe.path, recipe.recipe.description, recipe_hash(recipe), versions(), now(),
                   {v.id: VariantRecord.pending(v) for v in variants})

    def variant(self, v: Variant | str) -> VariantRecord:
        return self.variants[v if isinstance(v, str) else v.id]

    def note_stage_run(self, stage: str, ran: Ran) -> None:
        self.stage_runs.setdefault(stage, {})[ran.key] = {"seconds": ran.seconds, "finished": ran.finished,
                                                          "fresh": ran.fresh}

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["variants"] = [v.to_json() for v in self.variants.values()]
        return {k: v for k, v in d.items() if v is not None}


@dataclasses.dataclass
class Ctx:
    """What the runner threads through the stages."""

    recipe: Recipe
    runs: Path
    force: tuple
    live: Live
    record: SweepRecord
    executor: Executor
    base: object = None
    world: Path | None = None
    corpus: Path | None = None
    executed: dict = dataclasses.field(default_factory=lambda: {"synth": 0, "train": 0, "eval": 0})
    forced: set = dataclasses.field(default_factory=set)

    def force_once(self, stage: str, d: Path) -> None:
        """--force STAGE: remove the stage directory, once per sweep (not once per variant sharing it)."""
        if stage in self.force and d.exists() and str(d) not in self.forced:
            shutil.rmtree(d)
            self.forced.add(str(d))

    def log(self, stage: str, key: str | None) -> Path | None:
        log = self.runs / stage / f"{key}.log"
        return log if key and log.exists() else None

    def fail(self, v: Variant, stage: str, error: str, key: str | None) -> None:
        self.record.variant(v).fail(stage, error, self.log(stage, key))
        self.live.update(v.id, stage=f"failed:{stage}", note=error.splitlines()[-1][:60] if error else "")
        self.save(v)

    def save(self, v: Variant | None = None) -> None:
        if v is not None:
            path = child_path(self.runs, "variants", f"{check_name(v.id, 'variant id', self.recipe.path)}.json")
            with doing("writing the variant record", path, "--runs-dir"):
                write_json(path, self.record.variant(v).to_json())
        path = child_path(self.runs, "sweeps", check_name(self.recipe.name, "recipe.name", self.recipe.path), "sweep.json")
        with doing("writing the sweep record", path, "--runs-dir"):
            write_json(path, self.record.to_json())


def recipe_hash(recipe: Recipe) -> str:
    """What the recipe asks, not where it runs: [sweep] (executor, address ...) and the tracker are left out."""
    d = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "sweep"}
    return stable_hash({**d, "train": train_ident(recipe.train)})


def versions() -> str:
    import importlib.metadata as md

    out = [f"ablate {ablate.__version__}"]
    for d in ("torch", "transformers", "peft", "trl", "vllm", "polars"):
        try:
            out.append(f"{d} {md.version(d)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)


def clean_tmp(runs: Path) -> None:
    """Remove temp dirs a killed run left behind (safe: we hold the lock on this runs dir)."""
    for stage in STAGES:
        for p in [*(runs / stage).glob(".*.tmp-*"), *(runs / stage).glob(".*.old-*")] if (runs / stage).is_dir() else []:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
