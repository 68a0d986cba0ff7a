"""`ablate synth`: synthesize T3 training and probe data from an image-caption corpus.

    ablate synth blip_laion_cc_sbu_558k.json --out data/t3 --mix order=1,attribute=1 --n 20000 --probe-n 1000
    ablate synth world --out data/t3-world --frames 4 --length-scale 8      # the embedded world's captions

Writes DIR/train.parquet, DIR/probe.parquet, DIR/manifest.json (and DIR/{train,probe}_llava.json with
--export llava), then prints a summary: counts per family, letter balance, dropped captions. The
work is done by `t3.synthesize` (see t3/synth.py); this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="synthesize T3 text temporal training + probe data from a caption corpus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("corpus", help="caption file or directory of shards; `world` = the embedded world's captions")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--corpus-format", default="auto",
                   help="auto (by content), llava, sharegpt4v, recap, coco, jsonl, parquet, csv")
    p.add_argument("--caption-field", default=None, help="caption column for jsonl/parquet/csv")
    p.add_argument("--mix", default="all", help="families and weights, e.g. order=1,attribute=2 (default: all)")
    p.add_argument("--n", type=int, default=10_000, help="training samples (default 10000)")
    p.add_argument("--probe-n", type=int, default=1_000, help="held-out probe samples (default 1000)")
    p.add_argument("--frames", type=int, default=4, help="captions (frames) per sample at 1x (default 4)")
    p.add_argument("--length-scale", type=int, default=1, choices=(1, 2, 4, 8),
                   help="the paper's sequence-length scaling: frames x this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe-fraction", type=float, default=0.1, help="share of captions kept for the probe set")
    p.add_argument("--full-captions", action="store_true", help="keep whole captions (default: first sentence)")
    p.add_argument("--max-chars", type=int, default=400, help="drop captions longer than this")
    p.add_argument("--export", action="append", default=[], choices=("llava",),
                   help="also write LLaVA `conversations` JSON")
    p.add_argument("--overwrite", action="store_true", help="regenerate even if DIR holds the same content hash")
    p.add_argument("--quiet", action="store_true", help="no summary table")
    p.set_defaults(func=run)


def _corpus_path(arg: str) -> Path:
    if arg == "world" and not Path(arg).exists():
        from ablate.world import default_world  # noqa: PLC0415 - only when asked for

        return default_world() / "captions" / "captions.json"
    return Path(arg)


def run(args: argparse.Namespace) -> int:
    import time

    import t3

    from ablate.fs import output_dir

    output_dir(args.out, "writing the synthesized data", "--out")
    t0 = time.perf_counter()
    spec = t3.SynthSpec(mix=t3.parse_mix(args.mix), n=args.n, probe_n=args.probe_n, frames=args.frames,
                        length_scale=args.length_scale, seed=args.seed, probe_fraction=args.probe_fraction,
                        first_sentence=not args.full_captions, max_chars=args.max_chars)
    manifest = t3.synthesize(_corpus_path(args.corpus), args.out, spec, corpus_format=args.corpus_format,
                             caption_field=args.caption_field, export=tuple(args.export), overwrite=args.overwrite)
    if not args.quiet:
        print_summary(manifest, args.out, time.perf_counter() - t0)
    return 0


def print_summary(manifest: dict, out: Path, seconds: float) -> None:
    from rich.table import Table

    from ablate.ui import console

    train, probe, corpus = manifest["train"], manifest["probe"], manifest["corpus"]
    letters = sorted({l for part in (train, probe) for l in part.get("per_letter", {})})
    t = Table(title=f"T3 synthesis -> {out}  (content_hash {manifest['content_hash']})")
    t.add_column("family")
    t.add_column("train", justify="right")
    t.add_column("probe", justify="right")
    for l in letters:
        t.add_column(f"train {l}", justify="right")
    for fam in sorted(set(train.get("per_family", {})) | set(probe.get("per_family", {}))):
        fl = train.get("per_family_letter", {}).get(fam, {})
        t.add_row(fam, str(train.get("per_family", {}).get(fam, 0)), str(probe.get("per_family", {}).get(fam, 0)),
                  *[str(fl.get(l, 0)) for l in letters])
    t.add_row("[bold]all", f"[bold]{train['n']}", f"[bold]{probe['n']}",
              *[f"[bold]{train.get('per_letter', {}).get(l, 0)}" for l in letters])
    console.print(t)
    dropped = ", ".join(f"{k} {v}" for k, v in corpus["dropped"].items())
    console.print(f"corpus {corpus['path']} ({corpus['format']}): {corpus['n_records']} records, "
                  f"{corpus['n_captions']} usable captions (dropped: {dropped}); "
                  f"train pool {corpus['train_pool']['captions']}, probe pool {corpus['probe_pool']['captions']}",
                  highlight=False)
    n = train["n"] + probe["n"]
    console.print(f"{n} samples in {seconds:.2f} s ({n / max(seconds, 1e-9):,.0f}/s), "
                  f"{manifest['n_frames']} frames each", highlight=False)
