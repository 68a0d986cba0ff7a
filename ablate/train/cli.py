"""`ablate train`: its flags (one per TrainOptions field) and the command, single volume or nested volumes.

    $ ablate train --base smol --data runs/t3 --out runs/adapters/order-1k --n 1000 --mix order=1
    $ ablate train --base smol --data runs/t3 --out runs/adapters --volumes 400,800 --lr-scheduler wsd

The stage itself is ablate.train.stage (train_adapter) and ablate.train.nested (train_nested).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ablate.core import UserError
from ablate.train.stage import OPTION_CHOICES, TrainOptions, train_adapter


FLAG_ALIASES = {"learning_rate": ("--lr",), "lr_scheduler": ("--scheduler",)}
BATCHING = {"padded": {}, "grouped": {"group_by_length": True}, "padding-free": {"padding_free": True},
            "packed": {"packing": True}}


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def add_option_flags(p) -> None:
    """One flag per TrainOptions field, typed and documented from the dataclass itself."""
    import argparse
    import typing

    from ablate.core import field_docs

    hints, docs, d = typing.get_type_hints(TrainOptions), field_docs(TrainOptions), TrainOptions()
    for f in dataclasses.fields(TrainOptions):
        tp, default = hints[f.name], getattr(d, f.name)
        shown = ",".join(default) if isinstance(default, tuple) else default
        kw: dict = {"dest": f.name, "default": None, "help": f"{docs.get(f.name, '')} (default: {shown})".replace("%", "%%")}
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            kw["type"] = _comma_list if typing.get_origin(tp) is tuple else (args[0] if args else tp)
            kw["metavar"] = f.name.upper()
            if f.name in OPTION_CHOICES:
                kw["choices"] = OPTION_CHOICES[f.name]
        p.add_argument("--" + f.name.replace("_", "-"), *FLAG_ALIASES.get(f.name, ()), **kw)
    p.add_argument("--batching", default=None, choices=tuple(BATCHING),
                   help="shorthand for the batching flags: padded (default), grouped (--group-by-length), "
                        "padding-free (--padding-free), packed (--packing)")


def options_from_args(args) -> TrainOptions:
    """TrainOptions from parsed flags: only the flags given, the rest are TrainOptions' defaults."""
    given = dict(BATCHING[args.batching]) if getattr(args, "batching", None) else {}
    given.update({f.name: getattr(args, f.name) for f in dataclasses.fields(TrainOptions)
                  if getattr(args, f.name, None) is not None})
    return TrainOptions(**given)


def _cmd_train(args) -> int:
    import t3

    from ablate.ui import console

    from ablate.fs import output_dir

    mix = t3.parse_mix(args.mix) if args.mix else None
    output_dir(args.out, "writing the adapter", "--out")
    if args.volumes:
        return _cmd_train_nested(args, mix)
    m = train_adapter(args.base, args.data, args.out, args.n, options_from_args(args), mix=mix, replay=args.replay,
                      report_to=args.report_to)
    console.print(
        f"adapter {args.out}: {m['samples']} samples, {m['steps']} steps, final loss {m['final_loss']:.4f}, "
        f"{m['samples_per_s']:.0f} samples/s, {m['tokens_per_s']:.0f} tokens/s, sha256 {m['adapter_sha256'][:12]}"
    )
    if (m.get("tracking") or {}).get("log_dir"):
        console.print(f"loss curves: tensorboard --logdir {args.out}")
    return 0


def _cmd_train_nested(args, mix) -> int:
    from ablate.train.nested import train_nested
    from ablate.ui import console

    try:
        volumes = sorted({int(v) for v in args.volumes.split(",") if v.strip()})
    except ValueError:
        raise UserError(f"--volumes {args.volumes!r}: give row counts, e.g. 400,800,1600") from None
    if args.n is not None:
        raise UserError("--volumes trains every volume in one run: leave out --n")
    outs = {v: Path(args.out) / f"n{v}" for v in volumes}
    for v, m in sorted(train_nested(args.base, args.data, outs, options_from_args(args), mix=mix,
                                    replay=args.replay).items()):
        console.print(f"adapter {outs[v]}: {m['samples']} samples, {m['steps']} steps, final loss "
                      f"{m['final_loss']:.4f}, sha256 {m['adapter_sha256'][:12]}")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("train", help="train one LoRA adapter on T3 text data (TRL SFTTrainer + PEFT)")
    p.add_argument("--base", required=True, help="an embedded base (`smol`, `micro`) or a local HF model dir")
    p.add_argument("--data", required=True, help="synthesis dir with train.parquet, or a Parquet/JSONL with `messages`")
    p.add_argument("--out", required=True, help="adapter output dir (written atomically)")
    p.add_argument("--n", type=int, default=None, help="use the first N samples of the pool (default: all)")
    p.add_argument("--mix", default=None, help="family weights, e.g. order=1,attribute=1 (filters `task`)")
    p.add_argument("--replay", default=None, help="JSONL/Parquet chat data (`messages`) mixed in")
    p.add_argument("--volumes", default=None,
                   help="nested volumes, e.g. 400,800,1600: one wsd run (--lr-scheduler wsd) writes OUT/n400, "
                        "OUT/n800 ..., each equal to its own run of that many rows (docs/training-speed.md)")
    add_option_flags(p)
    add_report_to_flag(p)
    p.set_defaults(func=_cmd_train)


def add_report_to_flag(p, default: str | None = "tensorboard") -> None:
    """--report-to (ablate train, ablate sweep): the tracker; never part of a hash (ablate.train.tracking)."""
    from ablate.train.tracking import REPORT_TO

    shown = default or "the recipe's [train] report_to, else tensorboard"
    p.add_argument("--report-to", dest="report_to", default=default, choices=REPORT_TO,
                   help="experiment tracker: tensorboard (event files under the adapter dir's tensorboard/), "
                        "wandb or mlflow (their package must be installed), none; changing it retrains nothing "
                        f"(default: {shown})")
