"""Plan: a recipe's grid -> variants with content-addressed ids, and what the runs dir already holds.

    from ablate.sweep.recipe import load_recipe
    from ablate.sweep.plan import expand
    for v in expand(load_recipe("recipes/data_scale.toml")):
        print(v.id, v.label)

    $ ablate plan recipes/data_scale.toml            # no torch import: instant

A variant is one cell of the grid. Its id hashes every recipe value that determines its result (base
model spec, data config, mix weights, volume, seed, training options, evaluation options). Volume 0 is
the base model itself: it ignores mix / training axes, so all volume-0 cells with the same evaluation
settings collapse into one `base` variant. The stage directories under the runs dir are keyed by the
content hashes of their inputs (see ablate.sweep.runner); the plan's "cached" columns read the record the
runner keeps per variant (runs/variants/<id>.json) and check that those stage directories exist.

Nested volumes (`nest_train_jobs`): with [train] lr_scheduler = "wsd", the train jobs still to run that
differ only in volume (same synthesis, base and options) become one job: its largest volume's TrainJob,
whose `nested` names the other volumes' own train directories. Grouping happens here, before any
executor sees a job, so the local and the Ray executors run the same grouped job.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from ablate import __version__
from ablate.core import stable_hash
from ablate.sweep.sections import DataSection, EvalSection, Recipe, TrainSection, train_ident
from ablate.sweep.stage import ORDER, STAGES, TrainJob, job_from_json



@dataclass(frozen=True)
class Variant:
    id: str
    """Content-addressed id (hash of everything in the recipe that determines the result)."""
    label: str
    """Readable name such as `all/v1000` or `base`."""
    axes: dict
    """Grid axis -> value for this cell (empty-ish for the base variant)."""
    mix: str | None
    """Mix name (None for the base model)."""
    mix_weights: dict | None
    """Family -> weight."""
    volume: int
    """Training rows (a prefix of the synthesized pool); 0 = base model, no adapter."""
    seed: int
    """Seed for synthesis and training."""
    data: DataSection
    train: TrainSection
    eval: EvalSection

    @property
    def is_base(self) -> bool:
        return self.volume == 0

    @property
    def eval_key(self) -> dict:
        """Evaluation settings; variants sharing them are evaluated in one engine call."""
        return {"frames": self.eval.frames, "max_tokens": self.eval.max_tokens, "engine": self.eval.engine,
                "scoring": self.eval.scoring}


def _eval_ident(ev: EvalSection):
    """The eval section as it enters a variant id: the default scoring is left out, so the ids of
    recipes written before `eval.scoring` existed stay the same (the eval dir key always has it)."""
    return ev if ev.scoring != "ablate" else {k: v for k, v in dataclasses.asdict(ev).items() if k != "scoring"}


def _replace(section, values: dict):
    return dataclasses.replace(section, **values) if values else section


def expand(recipe: Recipe) -> list[Variant]:
    """Every grid cell as a Variant, deduplicated by id, in grid order (base first)."""
    axes = list(recipe.grid)
    out: dict[str, Variant] = {}
    for combo in itertools.product(*(recipe.grid[a] for a in axes)):
        cell = dict(zip(axes, combo))
        per = {s: {k.split(".", 1)[1]: v for k, v in cell.items() if k.startswith(s + ".")}
               for s in ("data", "train", "eval")}
        data = _replace(recipe.data, per["data"])
        train = _replace(recipe.train, per["train"])
        ev = _replace(recipe.eval, per["eval"])
        volume = int(cell["volume"])
        seed = int(cell.get("seed", recipe.recipe.seed))
        mix = cell["mix"]
        if volume == 0:
            eval_axes = {f"eval.{k}": v for k, v in per["eval"].items()}
            ident = {"base": recipe.base.model, "world": recipe.world, "eval": _eval_ident(ev), "version": __version__}
            label = "base" + "".join(f" {k}={v}" for k, v in eval_axes.items())
            v = Variant(stable_hash(ident, 12), label, {"volume": 0, **eval_axes}, None, None, 0, seed,
                        data, train, ev)
        else:
            weights = recipe.mixes[mix]
            ident = {"base": recipe.base.model, "world": recipe.world, "data": data, "mix": weights, "volume": volume,
                     "seed": seed, "train": train_ident(train), "eval": _eval_ident(ev), "version": __version__}
            extra = "".join(f" {k}={cell[k]}" for k in axes
                            if k not in ("mix", "volume") and len(recipe.grid[k]) > 1)
            label = f"{mix}/v{volume}{extra}"
            v = Variant(stable_hash(ident, 12), label, cell, mix, weights, volume, seed, data, train, ev)
        out.setdefault(v.id, v)
    return sorted(out.values(), key=lambda v: (not v.is_base, list(out).index(v.id)))


def nestable(options: dict) -> bool:
    """Train options (a TrainJob's) whose volumes one nested run can train: wsd, one epoch, no step limit."""
    return (options.get("lr_scheduler") == "wsd" and options.get("max_steps") is None
            and float(options.get("epochs", 1.0)) == 1.0)


def nest_train_jobs(pending: dict[str, TrainJob], train_dir: Path) -> list[tuple[TrainJob, list[str]]]:
    """Train jobs to run ({key: job}) -> [(job to submit, the keys it computes)], in the order given.

    Jobs whose options are `nestable` and that differ only in `n` (and the run name) form one group: its
    largest volume's job, with `nested` = {rows: train_dir/<key>} of the others (ablate.train.nested trains
    them in one run, each into its own directory, with its own hash). Every other job stays alone.
    """
    groups: dict[str, list[str]] = {}
    for key, job in pending.items():
        if isinstance(job, TrainJob) and nestable(job.options):
            same = {k: v for k, v in job.to_json().items() if k not in ("n", "run_name", "nested", "nested_names")}
            groups.setdefault(stable_hash(same), []).append(key)
        else:
            groups[key] = [key]
    out = []
    for keys in groups.values():
        keys = sorted(keys, key=lambda k: pending[k].n)
        lead = pending[keys[-1]]
        if len(keys) > 1:  # the same volume twice cannot happen: the key holds n
            lead = dataclasses.replace(lead, nested={str(pending[k].n): str(Path(train_dir) / k) for k in keys[:-1]},
                                       nested_names={str(pending[k].n): pending[k].run_name for k in keys[:-1]})
        out.append((lead, keys[::-1]))
    return out


def variant_record(runs_dir: str | Path, vid: str) -> dict | None:
    """The runner's record for a variant (stage keys, status), or None if it never ran here."""
    p = Path(runs_dir) / "variants" / f"{vid}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def cached_stages(runs_dir: str | Path, vid: str) -> dict[str, bool]:
    """Stage -> whether the runner would skip it now (its recorded job still has the recorded key, that
    directory is done, and so is every stage before it)."""
    rec = variant_record(runs_dir, vid) or {}
    out, before = {}, True
    for stage in ORDER:
        key = (rec.get("stages") or {}).get(stage)
        job = (rec.get("jobs") or {}).get(stage)
        ok = False
        if key and job and before:
            try:
                ok = STAGES[stage].key(job_from_json(job)) == key and STAGES[stage].is_done(Path(runs_dir) / stage / key)
            except Exception:  # noqa: BLE001 - an input that is gone or unreadable: the stage must run
                ok = False
        out[stage] = ok
        before = ok if (key or stage == "eval") else before  # the base variant has no synth/train
    return out


def plan_rows(recipe: Recipe, runs_dir: str | Path) -> list[dict]:
    """One dict per variant: id, label, axes, cached stages, last status."""
    rows = []
    for v in expand(recipe):
        cached = cached_stages(runs_dir, v.id)
        rec = variant_record(runs_dir, v.id) or {}
        if v.is_base:
            cached["synth"] = cached["train"] = None  # not needed
        rows.append({"id": v.id, "label": v.label, "mix": v.mix or "-", "volume": v.volume,
                     "seed": v.seed, **{f"cached_{s}": c for s, c in cached.items()},
                     "status": rec.get("status", "new")})
    return rows


def print_plan(recipe: Recipe, runs_dir: str | Path) -> list[dict]:
    """Print the variant table (rich on a TTY, plain columns otherwise)."""
    from rich.table import Table

    from ablate.ui import console, is_tty

    rows = plan_rows(recipe, runs_dir)
    mark = {True: "cached", False: "todo", None: "-"}
    cols = ("id", "variant", "mix", "volume", "seed", "synth", "train", "eval", "status")
    cells = [[r["id"], r["label"], r["mix"], str(r["volume"]), str(r["seed"]),
              *(mark[r[f"cached_{s}"]] for s in ORDER), r["status"]] for r in rows]
    title = f"{recipe.name}: {len(rows)} variants (runs dir {runs_dir})"
    if is_tty():
        table = Table(title=title)
        for col in cols:
            table.add_column(col, no_wrap=col in ("id", "variant"))
        for c in cells:
            table.add_row(*c)
        console.print(table)
    else:  # plain aligned columns: greppable, never truncated
        print(title)
        widths = [max(len(x) for x in col) for col in zip(cols, *cells)]
        for c in [list(cols)] + cells:
            print("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
    todo = sum(1 for r in rows if r["cached_train"] is False)
    print(f"{len(rows)} variants; {todo} adapters to train; "
                  f"{sum(1 for r in rows if not r['cached_eval'])} variants to evaluate")
    return rows
