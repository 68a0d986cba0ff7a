"""Recipe rules that span several keys (ablate.recipe checks each key alone, then calls these).

    from ablate.sweep.recipe_checks import cross_field, check_names
    check_names(err, sections, mixes)           # names that become paths (ablate.names)
    cross_field(err, sections, mixes, grid, benches)

Each rule reports through the same collector as the per-key checks (`err.add(key, message)`), so a
problem reads `recipes/x.toml:14: ... (key `grid.volume`)` and every problem is listed together.
The rules, each one a user would expect to be told about before anything runs:
- every grid volume fits in the synthesized pool (volume <= data.pool, per pool value on the grid);
- the t3-probe benchmark needs probe items (data.probe > 0);
- train.replay_ratio > 0 needs a replay file (data.replay), and a replay file needs a ratio;
- two mixes on the grid with the same weights would be one variant under two names;
- a benchmark is listed once; the corpus is not a grid axis (the runner uses one per recipe);
- world.videos is even (each clip comes with its reversal);
- recipe and mix names are safe names (they become report / record paths);
- with train.lr_scheduler = "wsd" (one nested run per mix, ablate.sweep.plan.nest_train_jobs), every grid
  volume (with its replay rows) is a multiple of batch_size x grad_accum (x group_window with group_by_length).
"""

from __future__ import annotations

import itertools
from typing import Any

from ablate.names import name_problem


def _values(section, grid: dict, sect: str, key: str) -> list[Any]:
    """The values `sect.key` takes across the grid: the axis if there is one, else the section's value."""
    axis = f"{sect}.{key}"
    if axis in grid:
        return list(grid[axis])
    return [getattr(section, key)] if section is not None else []


def check_names(err, sec: dict, mixes_raw: Any) -> None:
    rec = sec.get("recipe")
    if rec is not None:
        why = name_problem(rec.name)
        if why:
            err.add("recipe.name", why)
    if isinstance(mixes_raw, dict):
        for name in mixes_raw:
            why = name_problem(name)
            if why:
                err.add(f"mixes.{name}", f"mix {why}")


def cross_field(err, sec: dict, mixes: dict, grid: dict, benches: list) -> None:
    data, train, world = sec.get("data"), sec.get("train"), sec.get("world")
    volumes = [v for v in grid.get("volume", []) if isinstance(v, int) and not isinstance(v, bool)]
    pools = [p for p in _values(data, grid, "data", "pool") if isinstance(p, int)]
    for pool in pools:
        over = sorted(v for v in volumes if v > pool)
        if over:
            err.add("grid.volume", f"volume {over[-1]} is larger than data.pool = {pool} (the synthesized pool "
                                   f"each volume takes a prefix of); raise data.pool or drop the volume")
            break
    if any(b.name == "t3-probe" for b in benches) and any(v > 0 for v in volumes):
        if any(p == 0 for p in _values(data, grid, "data", "probe")):
            err.add("data.probe", "benchmark `t3-probe` needs probe items, but data.probe = 0")
    ratios = [r for r in _values(train, grid, "train", "replay_ratio") if r is not None]
    replays = _values(data, grid, "data", "replay")
    if any(r > 0 for r in ratios) and any(not p for p in replays):
        err.add("train.replay_ratio", "replay_ratio > 0 needs a replay file (key `data.replay`)")
    if any(replays) and not any(r > 0 for r in ratios):
        err.add("data.replay", "a replay file is set but train.replay_ratio is not > 0, so it would never be used")
    on_grid = [m for m in grid.get("mix", []) if m in mixes]
    for a, b in itertools.combinations(on_grid, 2):
        if _normalised(mixes[a]) == _normalised(mixes[b]):
            err.add(f"mixes.{b}", f"mixes `{a}` and `{b}` have the same weights, so they are one variant; "
                                  "drop one or change its weights")
    if "data.corpus" in grid:
        err.add("grid.data.corpus", "the corpus cannot be a grid axis (one corpus per recipe: the t3-probe and "
                                    "every variant's data come from it); write one recipe per corpus")
    names = [b.name for b in benches]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        err.add("eval.benchmarks", f"benchmark `{dup}` is listed twice (its items and scores would collide)")
    _nested_volumes(err, train, grid, volumes)
    videos = getattr(world, "videos", None)
    if isinstance(videos, int) and videos % 2:
        err.add("world.videos", f"must be even (each clip comes with its reversal), got {videos}")


NEST_KEYS = ("lr_scheduler", "batch_size", "grad_accum", "group_by_length", "group_window", "epochs", "max_steps",
             "replay_ratio")


def _nested_volumes(err, train, grid: dict, volumes: list[int]) -> None:
    """wsd trains a mix's volumes in one nested run: each must end on an optimizer step (and length window)."""
    from ablate.core import UserError
    from ablate.sweep.plan import nestable
    from ablate.train.data import replay_count
    from ablate.train.nested import nest_unit, nest_unit_text
    from ablate.train.stage import TrainOptions, options_record

    values = [_values(train, grid, "train", k) or [None] for k in NEST_KEYS]
    for combo in itertools.product(*values):
        try:
            opts = TrainOptions(**{k: v for k, v in zip(NEST_KEYS, combo) if v is not None})
        except UserError:  # reported by the per-key checks
            continue
        rows = {v: v + replay_count(v, opts.replay_ratio) for v in volumes if v > 0}  # replay rows come on top
        bad = [v for v in rows if rows[v] % nest_unit(opts)]
        if nestable(options_record(opts)) and bad:
            what = (f"volume {bad[0]}" if rows[bad[0]] == bad[0] else
                    f"volume {bad[0]} with its {rows[bad[0]] - bad[0]} replay rows ({rows[bad[0]]} rows)")
            err.add("grid.volume", f"{what} is not a multiple of {nest_unit_text(opts)}: with "
                                   "train.lr_scheduler = \"wsd\" each mix's volumes train in one nested run, where "
                                   "every volume must end on an optimizer step"
                                   + (" and a length window (train.group_window)" if opts.group_by_length else "")
                                   + " (docs/training-speed.md)")
            return


def _normalised(weights: dict) -> dict:
    total = sum(weights.values()) or 1.0
    return {k: round(v / total, 9) for k, v in weights.items() if v > 0}


def grid_paths(grid: dict) -> list[tuple[str, str]]:
    """(axis key, path) for each path-valued grid value (the data.replay axis)."""
    out = []
    for v in grid.get("data.replay", []):
        if isinstance(v, str) and v:
            out.append(("grid.data.replay", v))
    return out
