"""Experiment tracking of one training run (`report_to`): TensorBoard event files, or W&B / MLflow by name.

    from ablate.train.tracking import check_report_to, tracking
    check_report_to("wandb")        # UserError naming the package when it is not installed
    with tracking("tensorboard", out / "tensorboard", run_name="all/v1000", group="data_scale") as kw:
        SFTConfig(..., **kw)         # report_to=["tensorboard"], run_name="all/v1000"

    $ ablate train ... --report-to wandb          $ ablate sweep recipes/data_scale.toml --report-to none

`tensorboard` (the default) writes event files under `<adapter dir>/tensorboard/<run name>/`, so
`tensorboard --logdir runs/train` shows every cell of a sweep side by side, each named by its variant.
`wandb` and `mlflow` are handed to TRL / transformers by name: the run is named after the variant
(TrainingArguments.run_name) and grouped by recipe (WANDB_RUN_GROUP, MLFLOW_EXPERIMENT_NAME, unless the
user set them); their own settings (WANDB_MODE, WANDB_PROJECT, MLFLOW_TRACKING_URI ...) come from the
environment as usual. Tracking never enters an adapter's hash or a stage key: changing it retrains nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Iterator

from ablate.core import UserError

REPORT_TO = ("tensorboard", "wandb", "mlflow", "none")
DEFAULT_REPORT_TO = "tensorboard"
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # report_to -> the package it needs
LOG_SUBDIR = "tensorboard"  # the event files' folder inside an adapter directory


def check_report_to(name: str, key: str = "report_to") -> None:
    """Raise a UserError (naming `key`) unless `name` is a known tracker whose package is importable."""
    if name not in REPORT_TO:
        raise UserError(f"{key} = {name!r}: unknown tracker; choose one of {', '.join(REPORT_TO)}")
    pkg = PACKAGES.get(name)
    if pkg and importlib.util.find_spec(pkg) is None:
        raise UserError(f'{key} = "{name}" needs the `{pkg}` package, which is not installed in this Python '
                        f'environment: pip install {pkg} (or use report_to = "tensorboard" or "none")')


def run_dir_name(run_name: str) -> str:
    """A run name as a relative folder path: `all/v1000 train.lora_rank=8` -> `all/v1000_train.lora_rank=8`."""
    parts = [re.sub(r"[^\w.=+-]+", "_", p) for p in str(run_name).split("/") if p not in ("", ".", "..")]
    return "/".join(p for p in parts if p) or "run"


@contextlib.contextmanager
def tracking(report_to: str, log_dir: str | Path, run_name: str, group: str | None = None) -> Iterator[dict]:
    """Set the tracker's environment for the block; yield the SFTConfig arguments (report_to, run_name).

    The variables are restored on exit, so a training run in this process leaves the environment as it was."""
    check_report_to(report_to)
    env: dict[str, str] = {}
    if report_to == "tensorboard":
        env["TENSORBOARD_LOGGING_DIR"] = str(log_dir)  # transformers' TensorBoardCallback reads it
    elif report_to == "wandb" and group:
        env["WANDB_RUN_GROUP"] = os.environ.get("WANDB_RUN_GROUP") or group
    elif report_to == "mlflow" and group:
        env["MLFLOW_EXPERIMENT_NAME"] = os.environ.get("MLFLOW_EXPERIMENT_NAME") or group
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield {"report_to": "none" if report_to == "none" else [report_to], "run_name": run_name}
    finally:
        _finish(report_to)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write_events(adapter_dir: str | Path, run_name: str) -> Path:
    """TensorBoard event files from an adapter's loss.parquet (train/loss, train/learning_rate, train/grad_norm
    per optimizer step), under `<adapter_dir>/tensorboard/<run name>/`, as a live run writes them. Nested runs
    (ablate.train.nested: one run saves several volumes) write each volume's events this way when it is saved."""
    import polars as pl
    from torch.utils.tensorboard import SummaryWriter

    log_dir = Path(adapter_dir) / LOG_SUBDIR / run_dir_name(run_name)
    writer = SummaryWriter(str(log_dir))
    try:
        for r in pl.read_parquet(Path(adapter_dir) / "loss.parquet").iter_rows(named=True):
            for col in ("loss", "learning_rate", "grad_norm"):
                if r.get(col) is not None:
                    writer.add_scalar(f"train/{col}", r[col], r["step"])
    finally:
        writer.close()
    return log_dir


def _finish(report_to: str) -> None:
    """Close the tracker's run, so that a second training in this process starts its own (transformers
    leaves a W&B run open, and an MLflow one unless MLFLOW_NESTED_RUN / auto-end says otherwise)."""
    import sys

    mod = sys.modules.get(PACKAGES.get(report_to, ""))
    if report_to == "wandb" and mod is not None and getattr(mod, "run", None) is not None:
        mod.finish()
    elif report_to == "mlflow" and mod is not None and mod.active_run() is not None:
        mod.end_run()
