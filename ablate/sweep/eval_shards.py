"""Evaluation sharding for the sweep runner: one evaluation setting's job as k engine jobs, and the
per-variant accuracies the live table shows once they finish.

    from ablate.sweep.eval_shards import shard_eval
    shard_eval(job, variants, k=2)  # [(job with half the adapters, those variants), (the other half, ...)]

k comes from the executor (`shards()`; 1 for LocalExecutor, so the job and its key are unchanged).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ablate.sweep.plan import Variant
from ablate.sweep.stage import EvalJob

def shard_eval(job: EvalJob, vs: list[Variant], k: int) -> list[tuple[EvalJob, list[Variant]]]:
    """One evaluation setting's job as k engine jobs: k balanced subsets of its variants (round robin),
    or, with fewer variants than k, k item shards of all of them. k = 1: the job itself, same key."""
    if k <= 1 or not vs:
        return [(job, vs)]
    if len(vs) >= k:
        parts = [vs[i::k] for i in range(k)]
        return [(dataclasses.replace(job, adapters={v.id: job.adapters[v.id] for v in p},
                                     train_keys={v.id: job.train_keys[v.id] for v in p}), p) for p in parts]
    return [(dataclasses.replace(job, items=[i, k]), vs) for i in range(k)]


def variant_accuracies(edirs: list[Path]) -> dict:
    """Per variant: mean accuracy over text benchmarks and over video benchmarks (live table)."""
    import polars as pl

    p = pl.concat([pl.read_parquet(d / "predictions.parquet") for d in edirs], how="diagonal_relaxed")
    g = (p.group_by("variant", "benchmark", "modality").agg(pl.col("correct").fill_null(False).mean().alias("a"))
         .group_by("variant", "modality").agg(pl.col("a").mean()))
    out: dict = {}
    for row in g.to_dicts():
        out.setdefault(row["variant"], {})[f"{row['modality']}_acc"] = row["a"]
    return out
