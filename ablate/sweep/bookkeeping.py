"""The sweep runner's state and bookkeeping: the context it threads through the stages, each stage run's
outcome, and the records it keeps (runs/variants/<id>.json, runs/sweeps/<name>/sweep.json).

    from ablate.sweep.bookkeeping import Ran, _recipe_hash, _versions
    Ran("3f2a9c01", seconds=12.5)  # a stage directory computed in 12.5 s
    print(_versions())             # "ablate 0.x, torch ..., polars ..." as recorded in sweep.json

ablate.sweep.runner chains the stages; everything here only reads and writes the record, so a
killed sweep leaves records that `ablate plan` and the next run can read.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import ablate
from ablate.core import stable_hash, write_json
from ablate.fs import doing
from ablate.names import check_name, child_path
from ablate.sweep.live import Live
from ablate.sweep.plan import Variant
from ablate.sweep.sections import Recipe, train_ident
from ablate.sweep.stage import STAGES

@dataclasses.dataclass
class Ctx:
    recipe: Recipe
    runs: Path
    force: tuple
    live: Live
    record: dict
    executor: object
    base: object = None
    world: Path | None = None
    corpus: Path | None = None
    executed: dict = dataclasses.field(default_factory=lambda: {"synth": 0, "train": 0, "eval": 0})


@dataclasses.dataclass(frozen=True)
class Ran:
    key: str | None  # None: the key could not be computed (an input is missing)
    error: str = ""
    seconds: float = 0.0  # 0 when the directory was already done


def _force(ctx: Ctx, stage: str, d: Path) -> None:
    if stage in ctx.force and d.exists() and str(d) not in ctx.record.setdefault("_forced", []):
        shutil.rmtree(d)
        ctx.record["_forced"].append(str(d))  # force once per sweep, not once per variant sharing it


def _log(ctx: Ctx, stage: str, key: str | None) -> Path | None:
    log = ctx.runs / stage / f"{key}.log"
    return log if key and log.exists() else None


def _vrec(ctx: Ctx, v: Variant) -> dict:
    return ctx.record["variants"][[x["id"] for x in ctx.record["variants"]].index(v.id)]


def _fail(ctx: Ctx, v: Variant, stage: str, error: str, log: Path | None) -> None:
    rec = _vrec(ctx, v)
    rec.update(status="failed", failed_stage=stage, error=error, log=str(log) if log else None)
    ctx.live.update(v.id, stage=f"failed:{stage}", note=error.splitlines()[-1][:60] if error else "")
    _save(ctx, v)


def _save(ctx: Ctx, v: Variant | None = None) -> None:
    if v is not None:
        path = child_path(ctx.runs, "variants", f"{check_name(v.id, 'variant id', ctx.recipe.path)}.json")
        with doing("writing the variant record", path, "--runs-dir"):
            write_json(path, _vrec(ctx, v))
    path = child_path(ctx.runs, "sweeps", check_name(ctx.recipe.name, "recipe.name", ctx.recipe.path), "sweep.json")
    with doing("writing the sweep record", path, "--runs-dir"):
        write_json(path, {k: val for k, val in ctx.record.items() if not k.startswith("_")})


def _done(ctx: Ctx, v: Variant, stage: str, job, ran: Ran) -> None:
    rec = _vrec(ctx, v)
    rec["stages"][stage] = ran.key
    rec.setdefault("jobs", {})[stage] = job.to_json()
    rec["timings"][stage] = ran.seconds


def _recipe_hash(recipe: Recipe) -> str:
    """What the recipe asks, not where it runs: [sweep] (executor, address ...) and the tracker are left out."""
    d = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "sweep"}
    return stable_hash({**d, "train": train_ident(recipe.train)})


def _versions() -> str:
    import importlib.metadata as md

    out = [f"ablate {ablate.__version__}"]
    for d in ("torch", "transformers", "peft", "trl", "vllm", "polars"):
        try:
            out.append(f"{d} {md.version(d)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)


def _clean_tmp(runs: Path) -> None:
    """Remove temp dirs a killed run left behind (safe: we hold the lock on this runs dir)."""
    for stage in STAGES:
        for p in [*(runs / stage).glob(".*.tmp-*"), *(runs / stage).glob(".*.old-*")] if (runs / stage).is_dir() else []:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
