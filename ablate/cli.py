"""The `ablate` command line. Each stage module registers its own subcommand(s).

    ablate --help
    ablate doctor

A module listed in COMMAND_MODULES defines `add_cli(subparsers)`, which adds its parser(s) and sets
`func=<callable(args) -> int | None>`. Those modules must not import torch, vllm, trl or transformers
at module level, so that `ablate --help` and `ablate plan` stay instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ablate import __version__
from ablate.core import UserError

COMMAND_MODULES = [
    "ablate.sweep.cli",
    "ablate.doctor",
    "ablate.world",
    "ablate.synth.stage",
    "ablate.eval.cli",
    "ablate.base.cli",
    "ablate.train.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablate",
        description="Run T3 ablations: synthesize text temporal data, train LoRA adapters, "
        "evaluate them on text probes and video benchmarks, report.",
    )
    parser.add_argument("--version", action="version", version=f"ablate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        code = args.func(args)
    except (UserError, OSError) as e:
        from ablate.fs import is_environment_error, os_user_error

        if not isinstance(e, UserError):  # the environment (permission, full disk, a file in the way) is
            if not is_environment_error(e):  # the user's to fix; any other OSError is a bug: traceback
                raise
            path = e.filename or getattr(args, "out", None) or getattr(args, "runs_dir", None)
            e = os_user_error(e, f"`ablate {args.command}` writing or reading it", path)
        from ablate.ui import err_console

        err_console.print("error:", style="bold red", end=" ")
        err_console.print(str(e), highlight=False, markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
