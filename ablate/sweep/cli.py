"""CLI of the sweep: `ablate sweep`, `ablate validate`, `ablate plan`, `ablate report`.

    ablate validate recipes/*.toml                    # schema, values, paths; nothing runs
    ablate plan recipes/data_scale.toml               # variant table, what is cached (no torch import)
    ablate sweep recipes/data_scale.toml              # run / resume; report -> reports/data_scale/
    ablate sweep recipes/smoke.toml --set train.lora_rank=4 --force eval
    ablate sweep recipes/smoke.toml --report-to wandb    # tracker (default tensorboard); retrains nothing
    ablate sweep recipes/data_scale.toml --executor ray --address auto   # on a Ray cluster (`ray start --head`)
    ablate report recipes/data_scale.toml             # rebuild the report from stored predictions
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ablate.core import UserError


def _common(p: argparse.ArgumentParser, runs: bool = True) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe value, e.g. --set train.lora_rank=8 (repeatable; TOML values)")
    if runs:
        p.add_argument("--runs-dir", default="runs", help="where stage outputs live (default: runs/)")


def _validate(args) -> int:
    from ablate.sweep.plan import expand
    from ablate.sweep.recipe import load_recipe

    problems = []
    for path in args.recipes:
        try:
            r = load_recipe(path, args.overrides, check_paths=not args.no_path_check)
            print(f"{path}: ok ({r.name}, {len(expand(r))} variants)")
        except UserError as e:
            problems.append(str(e))
    if problems:
        raise UserError("\n".join(problems))
    return 0


def _plan(args) -> int:
    from ablate.sweep.plan import print_plan
    from ablate.sweep.recipe import load_recipe

    print_plan(load_recipe(args.recipe, args.overrides, check_paths=False), args.runs_dir)
    return 0


def _sweep(args) -> int:
    from ablate.sweep.recipe import load_recipe
    from ablate.sweep.runner import run_sweep

    overrides = list(args.overrides) + ([f'train.report_to="{args.report_to}"'] if args.report_to else [])
    recipe = load_recipe(args.recipe, overrides, check_paths=True)
    if args.lm:  # the embedded base's LM from a local copy: the base build child and every worker read it
        import os

        from ablate.base.lm_source import ENV

        os.environ[ENV] = str(Path(args.lm).expanduser().resolve())
    with make_executor(recipe.sweep, args.executor, args.address) as executor:
        runs = Path(args.runs_dir).resolve() if executor.remote else args.runs_dir  # paths in jobs read on other nodes
        record = run_sweep(recipe, runs, args.reports_dir, force=args.force, executor=executor)  # work on every node
    failed = [v for v in record["variants"] if v.get("status") == "failed"]
    print(f"report: {record['report']}")
    if failed:
        print(f"{len(failed)} variant(s) failed: " + ", ".join(f"{v['label']} ({v['failed_stage']})" for v in failed))
        return 1
    return 0


def make_executor(sweep, executor: str | None = None, address: str | None = None):
    """The executor named by --executor (else [sweep] executor), as a context manager."""
    import contextlib

    name = executor or ("ray" if address else sweep.executor)
    if name == "local":
        if address:
            raise UserError("--address is for --executor ray (a Ray cluster to join)")
        from ablate.sweep.executor import LocalExecutor

        return contextlib.nullcontext(LocalExecutor())
    from ablate.sweep.ray_executor import RayExecutor

    return RayExecutor(address or sweep.address, gpus_per_cell=sweep.gpus_per_cell, cpus_per_cell=sweep.cpus_per_cell,
                       max_retries=sweep.max_retries, timeout_s=sweep.timeout, eval_shards=sweep.eval_shards)


def _report(args) -> int:
    from ablate.fs import doing
    from ablate.sweep.report import rebuild

    with doing("writing the report", args.reports_dir, "--reports-dir"):
        paths = rebuild(args.target, args.runs_dir, args.reports_dir, scoring=args.scoring)
    for p in paths:
        print(f"report: {p}")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("sweep", help="run a recipe's grid: synth -> train -> eval -> report (resumable)")
    p.add_argument("recipe")
    _common(p)
    p.add_argument("--reports-dir", default="reports", help="reports go to REPORTS_DIR/<recipe name>/")
    p.add_argument("--force", action="append", default=[], choices=["synth", "train", "eval", "report"],
                   help="redo a stage even if its output exists (repeatable)")
    p.add_argument("--executor", choices=["local", "ray"], default=None,
                   help="where jobs run: local child processes (default) or Ray tasks (pip install -e \".[ray]\"); "
                        "default: the recipe's [sweep] executor")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster to join (auto = the one `ray start --head` started, or HOST:PORT); "
                        "without it --executor ray starts a local cluster for this sweep")
    p.add_argument("--lm", default=None, metavar="PATH",
                   help="the embedded base's pretrained LM from a local copy (HF directory or .gguf file) instead "
                        "of the package registry (also: $ABLATE_LM)")
    from ablate.train.cli import add_report_to_flag

    add_report_to_flag(p, default=None)  # unset: the recipe's [train] report_to
    p.set_defaults(func=_sweep)

    p = sub.add_parser("validate", help="check recipes (schema, values, paths) without running anything")
    p.add_argument("recipes", nargs="+")
    _common(p, runs=False)
    p.add_argument("--no-path-check", action="store_true",
                   help="check schema and values only (for recipes written for another machine)")
    p.set_defaults(func=_validate)

    p = sub.add_parser("plan", help="print a recipe's variants and what is cached in the runs dir")
    p.add_argument("recipe")
    _common(p)
    p.set_defaults(func=_plan)

    p = sub.add_parser("report", help="rebuild a sweep's report from stored predictions (no inference)")
    p.add_argument("target", help="a recipe .toml, a runs/sweeps/<name> dir, or a runs dir")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--scoring", default=None, choices=["ablate", "official"],
                   help="rescore every reply in this mode (default: the mode the predictions were scored with); "
                        "the report says which; use another --reports-dir to keep both")
    p.set_defaults(func=_report)
