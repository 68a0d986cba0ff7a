# Needs ablate at commit b57ac87 (`git checkout b57ac87`): it uses the tiny / tiny-t3 bases and ablate.base.pretrain.build of then, removed since (issue #23 item 5).
"""Does this base transfer? Base vs T3-trained side by side on t3-probe, world-video and world-text.

    python research/bench_transfer.py --out /tmp/bt --base tiny-t3         # the issue-12 experimental base
    python research/bench_transfer.py --out /tmp/bt --base-set layers=4 --base-set hidden=256 \
        --volumes 1000,4000 --replay-ratio 1 --lora-rank 64 --lr 1e-3

Builds (or finds in the cache) the base, synthesizes T3 text from the world's captions, trains one
LoRA adapter per volume (with the base's own non-temporal replay data at --replay-ratio), evaluates
base + adapters in one engine, and prints per benchmark and aspect the accuracy of every variant,
then for world-video: the share of multiple-choice / caption-matching replies that match an option,
the share of "yes" among yes/no replies, and item-level transfer (P(video right | text twin right),
P(video right | text twin wrong), agreement). About 10 minutes on 2 idle cores with a cached base.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _parse_set(values: list[str]) -> dict:
    out = {}
    for v in values:
        k, _, raw = v.partition("=")
        try:
            out[k] = json.loads(raw)
        except json.JSONDecodeError:
            out[k] = raw
    return out


def item_transfer(pred):
    try:
        from ablate.sweep.report_stats import item_transfer as f
    except ImportError:
        try:  # before report.py was split
            from ablate.sweep.report import item_transfer as f
        except ImportError:  # before the layout move of issue #14
            from ablate.report import item_transfer as f
    return f(pred)


def summarize(pred, variants: list[str]) -> str:
    import polars as pl

    lines = []
    p = pred.with_columns(pl.col("correct").fill_null(False).cast(pl.Float64))
    for bench in ("t3-probe", "world-text", "world-video"):
        b = p.filter(pl.col("benchmark") == bench)
        if b.is_empty():
            continue
        rows = pl.concat([b, b.with_columns(pl.lit("all").alias("aspect"))])
        acc = rows.group_by("variant", "aspect").agg(pl.col("correct").mean() * 100)
        aspects = sorted(acc["aspect"].unique().to_list(), key=lambda a: (a != "all", a))
        lines.append(f"\n## {bench}\n| aspect | " + " | ".join(variants) + " |")
        lines.append("|---" * (len(variants) + 1) + "|")
        for a in aspects:
            vals = []
            for v in variants:
                x = acc.filter((pl.col("variant") == v) & (pl.col("aspect") == a))["correct"]
                vals.append(f"{x[0]:.1f}" if len(x) else "-")
            lines.append(f"| {a} | " + " | ".join(vals) + " |")
        if bench in ("world-video", "world-text"):
            by_task = b.group_by("variant", "task").agg(
                (pl.col("correct").mean() * 100).alias("acc"), (pl.col("match_status") == "matched").mean().alias("matched"),
                (pl.col("parsed").str.to_lowercase() == "yes").mean().alias("yes"))
            lines.append(f"\n{bench} by task (accuracy / matched share / yes share):")
            for v in variants:
                cells = []
                for r in by_task.filter(pl.col("variant") == v).sort("task").iter_rows(named=True):
                    extra = f" yes {r['yes']:.0%}" if r["task"] == "yes_no" else f" matched {r['matched']:.0%}"
                    cells.append(f"{r['task']} {r['acc']:.1f}{extra}")
                lines.append(f"  {v}: " + "; ".join(cells))
    tr = item_transfer(pred)
    if not tr.is_empty():
        lines.append("\n## item-level transfer (world-video vs its text twin)\n| variant | aspect | n | P(v|t) | P(v|~t) | agree |")
        lines.append("|---|---|---|---|---|---|")
        keep = ["all", "order", "attribute_change", "referring", "grounding"]
        for r in tr.filter(pl.col("aspect").is_in(keep)).sort("variant", "aspect").iter_rows(named=True):
            f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
            lines.append(f"| {r['variant']} | {r['aspect']} | {r['n']} | {f(r['p_video_given_text_right'])} | "
                         f"{f(r['p_video_given_text_wrong'])} | {f(r['agreement'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--base", default="tiny")
    ap.add_argument("--base-set", action="append", default=[], help="BaseConfig override KEY=VALUE (JSON value)")
    ap.add_argument("--volumes", default="1000,4000")
    ap.add_argument("--frames", type=int, default=4, help="captions per T3 sample")
    ap.add_argument("--probe", type=int, default=400)
    ap.add_argument("--replay-ratio", type=float, default=1.0)
    ap.add_argument("--lora-rank", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--video-limit", type=int, default=0, help="evaluate only the first N world-video/text items (0 = all)")
    args = ap.parse_args(argv)

    import t3
    from ablate.base import resolve_base
    from ablate.base.pretrain import build
    from ablate.eval.benchmarks import BenchSpec
    from ablate.eval.stage import evaluate
    from ablate.train import TrainOptions, train_adapter
    from ablate.world import default_world

    t0 = time.perf_counter()
    overrides = _parse_set(args.base_set)
    base = build(args.base, **overrides) if args.base in ("tiny", "tiny-t3", "micro") else resolve_base(args.base)
    t_base = time.perf_counter() - t0
    world = default_world()
    vols = [int(v) for v in args.volumes.split(",") if v]
    synth = args.out / "synth"
    t3.synthesize(world / "captions" / "captions.json", synth,
                  t3.SynthSpec(n=max(vols), probe_n=args.probe, frames=args.frames, seed=0))
    replay = base.root / "replay.jsonl"
    if args.replay_ratio and not replay.exists():
        raise SystemExit(f"{replay}: this base has no replay data; use --replay-ratio 0")
    opts = TrainOptions(lora_rank=args.lora_rank, lora_alpha=2 * args.lora_rank, learning_rate=args.lr,
                        epochs=args.epochs, batch_size=args.batch_size, replay_ratio=args.replay_ratio,
                        precision=args.precision)
    adapters: dict = {"base": None}
    t1 = time.perf_counter()
    for v in vols:
        out = args.out / "train" / f"v{v}-r{args.lora_rank}-lr{args.lr}-rp{args.replay_ratio}-e{args.epochs}-{base.hash[:8]}"
        m = train_adapter(base, synth, out, v, opts, replay=replay if args.replay_ratio else None, show_progress=False)
        adapters[f"v{v}"] = out
        print(f"[bench] trained v{v}: {m.get('samples', '?')} samples, final loss {m.get('final_loss', m.get('loss_last', '?'))}", flush=True)
    t_train = time.perf_counter() - t1
    t2 = time.perf_counter()
    opt = {"limit": args.video_limit} if args.video_limit else {}
    benches = [BenchSpec("t3-probe", synth / "probe.parquet"), BenchSpec("world-video", world / "bench", opt),
               BenchSpec("world-text", world / "bench", opt)]
    ev = evaluate(base, adapters, benches, args.out / f"eval-{base.hash[:8]}-r{args.lora_rank}-rp{args.replay_ratio}-e{args.epochs}",
                  show_progress=False)
    t_eval = time.perf_counter() - t2
    import polars as pl

    pred = pl.read_parquet(Path(ev) / "predictions.parquet" if Path(ev).is_dir() else ev)
    text = summarize(pred, list(adapters))
    head = (f"# bench_transfer: base {base.hash} ({json.dumps(overrides)}), volumes {vols}, replay {args.replay_ratio}, "
            f"rank {args.lora_rank}, lr {args.lr}, epochs {args.epochs}\n"
            f"times (s): base {t_base:.0f}, train {t_train:.0f}, eval {t_eval:.0f}, total {time.perf_counter() - t0:.0f}")
    report = head + "\n" + text
    print(report)
    (args.out / "summary.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
