"""The evaluation stage's command line: `ablate eval`, `ablate rescore`, `ablate bench eval`.

    $ ablate eval --base smol --adapter t3=runs/train/abc --bench t3-probe=runs/synth/x --bench world-video
    $ ablate rescore runs/eval/y
    $ ablate bench eval -- --help

Parses flags into ablate.eval.stage.evaluate / ablate.eval.outputs.rescore_dir calls and prints the scores.
"""

from __future__ import annotations

from pathlib import Path

from ablate.core import UserError
from ablate.eval.benchmarks import BenchSpec
from ablate.eval.outputs import rescore_dir
from ablate.eval.scoring import SCORING_MODES
from ablate.eval.stage import evaluate


def _parse_bench(values: list[str], opts: list[str], limit: int | None) -> list[BenchSpec]:
    options: dict[str, dict] = {}
    for o in opts or []:
        if "=" not in o or "." not in o.split("=", 1)[0]:
            raise UserError(f"--opt {o!r}: expected BENCH.KEY=VALUE, e.g. videomme.subset=temporal")
        k, v = o.split("=", 1)
        name, key = k.split(".", 1)
        options.setdefault(name, {})[key] = v.split(",") if key == "tasks" else v
    specs = []
    for b in values or []:
        name, _, path = b.partition("=")
        o = dict(options.get(name, {}))
        if limit is not None:
            o["limit"] = limit
        specs.append(BenchSpec(name, path or None, o))
    if not specs:
        raise UserError("give at least one --bench NAME[=PATH]")
    return specs


def _parse_adapters(values: list[str], with_base: bool) -> dict[str, Path | None]:
    out: dict[str, Path | None] = {"base": None} if with_base or not values else {}
    for a in values or []:
        name, sep, path = a.partition("=")
        if not sep:
            name, path = Path(a).name, a
        if name in out:
            raise UserError(f"--adapter {a!r}: variant id {name!r} given twice")
        from ablate.names import check_name

        check_name(name, "--adapter ID", "command line")
        out[name] = Path(path)
    return out


def _print_scores(scores_path: Path) -> None:
    import polars as pl
    from rich.table import Table

    from ablate.ui import console

    df = pl.read_parquet(scores_path).filter(pl.col("sub_dim") == "all")
    df = df.filter(~pl.col("aspect").str.starts_with("task:"))
    t = Table("variant", "benchmark", "aspect", "n", "accuracy", "95% CI", "errors", "unmatched")
    for r in df.iter_rows(named=True):
        t.add_row(r["variant"], r["benchmark"], r["aspect"], str(r["n"]), f"{100 * r['accuracy']:.1f}",
                  f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}", str(r["n_error"]), str(r["n_unmatched"]))
    console.print(t)
    pred = scores_path.parent / "predictions.parquet"
    if pred.is_file():
        p = pl.read_parquet(pred)
        if "match_rule" in p.columns:
            counts = (p.group_by("variant", "benchmark", "match_rule").len().sort("variant", "benchmark", "match_rule"))
            t = Table("variant", "benchmark", "match rule", "replies",
                      title=f"match rules (scoring: {', '.join(p['scoring'].unique().to_list()) if 'scoring' in p.columns else '?'})")
            for r in counts.iter_rows(named=True):
                t.add_row(r["variant"], r["benchmark"], r["match_rule"] or "-", str(r["len"]))
            console.print(t)


def _cmd_eval(args) -> int:
    from ablate.fs import output_dir

    if args.engine == "vllm":  # vLLM's CPU setup (preloads, thread binding) needs a fresh process: re-exec once
        from ablate.eval.cpu_setup import relaunch_with_cpu_setup

        relaunch_with_cpu_setup()
    specs = _parse_bench(args.bench, args.opt, args.limit)
    adapters = _parse_adapters(args.adapter, args.with_base)
    output_dir(args.out, "writing the evaluation outputs", "--out")
    out = evaluate(args.base, adapters, specs, Path(args.out), engine=args.engine, frames=args.frames,
                   max_tokens=args.max_tokens, scoring=args.scoring)
    _print_scores(out / "scores.parquet")
    print(f"wrote {out}/predictions.parquet, {out}/scores.parquet")
    return 0


def _cmd_rescore(args) -> int:
    path = rescore_dir(args.dir, args.scoring)
    _print_scores(path)
    print(f"wrote {path}")
    return 0


def _cmd_bench(args) -> int:
    import runpy
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_eval.py"
    if not script.exists():
        raise UserError(f"{script}: benchmark script not found (run from a source checkout)")
    sys.argv = [str(script), *args.bench_args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("eval", help="evaluate adapters on text probes and video benchmarks (one engine)")
    p.add_argument("--base", default="smol", help="base model: an embedded one ('smol', 'micro') or a local model directory")
    p.add_argument("--adapter", action="append", metavar="ID=DIR", help="a variant's LoRA adapter dir (repeat)")
    p.add_argument("--with-base", action="store_true", help="also evaluate the base model (variant 'base')")
    p.add_argument("--bench", action="append", metavar="NAME[=PATH]",
                   help="t3-probe, world-video, world-text, tempcompass, videomme, mlvu, t3-text (repeat)")
    p.add_argument("--opt", action="append", metavar="BENCH.KEY=VALUE",
                   help="benchmark option, e.g. videomme.subset=temporal, tempcompass.tasks=multi-choice")
    p.add_argument("--limit", type=int, default=None, help="first N items of each benchmark")
    p.add_argument("--frames", type=int, default=8, help="frames sampled uniformly per video")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--engine", default="vllm", choices=["vllm", "hf"])
    p.add_argument("--out", required=True, help="output dir for predictions.parquet and scores.parquet")
    p.add_argument("--scoring", default="ablate", choices=SCORING_MODES,
                   help="ablate: official rules, then judge-free fallbacks; official: official rules only")
    p.set_defaults(func=_cmd_eval)
    r = sub.add_parser("rescore", help="recompute predictions' scores and scores.parquet from the replies (no inference)")
    r.add_argument("dir")
    r.add_argument("--scoring", default=None, choices=SCORING_MODES,
                   help="scoring mode (default: the one the predictions were scored with)")
    r.set_defaults(func=_cmd_rescore)
    bench = sub.choices.get("bench")
    if bench is None:
        bench = sub.add_parser("bench", help="speed benchmarks printed side by side with their baselines")
    bsub = next((a for a in bench._actions if a.__class__.__name__ == "_SubParsersAction"), None)
    if bsub is None:
        bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    b = bsub.add_parser("eval", help="this stage vs per-variant HF generate vs one vLLM engine per variant")
    b.add_argument("bench_args", nargs="*", help="arguments for benchmarks/bench_eval.py (see --help there)")
    b.set_defaults(func=_cmd_bench)
