"""`ablate base build smol` and `ablate base check smol`.

    ablate base build smol [--lm PATH] [--out DIR] [--steps N]
    ablate base check smol [--n 100]

Heavy libraries are imported inside the command functions so `ablate --help` stays instant.
"""

from __future__ import annotations

import json


def add_cli(sub) -> None:
    from ablate.base import EMBEDDED

    p = sub.add_parser("base", help="build / check the embedded base video LLM")
    bs = p.add_subparsers(dest="base_command", metavar="ACTION")
    b = bs.add_parser("build", help="pretrain the embedded base (cached by content hash)")
    b.add_argument("spec", choices=EMBEDDED, help="which embedded config")
    b.add_argument("--lm", help="a local copy of the pretrained LM (HF directory or .gguf file) instead of the registry")
    b.add_argument("--out", help="also copy the built model to this directory")
    b.add_argument("--steps", type=int, help="override the step count of both stages (quick runs)")
    b.set_defaults(func=_build)
    c = bs.add_parser("check", help="parity of HF full/ vs FrameEncoder + vLLM on world video questions")
    c.add_argument("spec", help=f"an embedded base ({', '.join(EMBEDDED)}) or a base directory")
    c.add_argument("--n", type=int, default=100, help="number of world video questions")
    c.add_argument("--max-tokens", type=int, default=32)
    c.add_argument("--json", help="also write the report to this file")
    c.set_defaults(func=_check)


def _build(args) -> int:
    from ablate.base import build_base
    from ablate.core import read_json
    from ablate.ui import console

    if args.lm:  # children and later steps of this process resolve the LM the same way
        import os

        from ablate.base.lm_source import ENV

        os.environ[ENV] = args.lm
    base = build_base(args.spec, out=args.out, steps=args.steps)
    m = read_json(base.root / "manifest.json")
    h = m["heldout"]
    console.print(f"base {args.spec} {base.hash}: {m['sizes']['params_total'] / 1e6:.2f}M params "
                  f"(LM {m['sizes']['params_lm'] / 1e6:.2f}M), built in {m['build_seconds']:.0f}s")
    console.print(f"  caption colour {h['caption']['color']:.1%} shape {h['caption']['shape']:.1%} "
                  f"position {h['caption']['position']:.1%}; describe-each-frame "
                  f"{h['describe_each_frame']['per_frame_attribute_accuracy']:.1%}")
    if "bench_temporal_mc" in h:
        console.print(f"  bench temporal MC {h['bench_temporal_mc']['accuracy']:.1%} (chance {h['bench_temporal_mc']['chance']:.1%})")
    console.print(f"  {base.root}")
    return 0


def _check(args) -> int:
    from ablate.base import resolve_base
    from ablate.base.check import bench_items, parity
    from ablate.core import write_json
    from ablate.ui import console

    base = resolve_base(args.spec)
    from ablate.base.prompts import base_layout

    rep = parity(base, bench_items(args.n, layout=base_layout(base)), args.max_tokens)
    console.print(f"parity HF full/ vs FrameEncoder+vLLM: {rep['n_agree']}/{rep['n']} identical ({rep['agree']:.1%})")
    for m in rep["mismatches"][:5]:
        console.print(f"  differs: hf={m['hf']!r} vllm={m['vllm']!r}", highlight=False)
    if args.json:
        write_json(args.json, rep)
    console.print(json.dumps(rep["examples"][:2]), highlight=False)
    return 0 if rep["agree"] >= 0.98 else 1
