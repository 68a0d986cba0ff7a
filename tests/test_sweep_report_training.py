"""The report's Training section: curves, first / last loss over 5% of the steps, flags, the Outcome's link.

    .venv/bin/pytest tests/test_sweep_report_training.py -q
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ablate.sweep.report import build_report
from ablate.sweep.report_training import loss_summary, training_cells, training_section


def cell(root: Path, key: str, losses: list[float], batch: int = 4, samples: int = 160) -> Path:
    d = root / "runs" / "train" / key
    d.mkdir(parents=True)
    n = len(losses)
    pl.DataFrame({"step": list(range(1, n + 1)), "loss": losses, "learning_rate": np.linspace(1e-3, 0, n).tolist(),
                  "grad_norm": [1.0] * n, "tokens": [100 * (i + 1) for i in range(n)],
                  "elapsed_s": [0.5 * (i + 1) for i in range(n)]}).write_parquet(d / "loss.parquet")
    (d / "manifest.json").write_text(json.dumps({
        "samples": samples, "epochs": 1.0, "steps": n, "samples_per_s": 321.0, "train_seconds": 0.5 * n,
        "options": {"batch_size": batch, "grad_accum": 1},
        "tracking": {"report_to": "tensorboard", "run_name": key, "log_dir": f"tensorboard/{key}"}}))
    return d


@pytest.fixture()
def record(tmp_path):
    falling = [3.0 - 2.0 * i / 39 for i in range(40)]  # 40 steps: the 5% edges are 2 steps each
    flat = [1.0 + 0.01 * (i % 3) for i in range(40)]
    nan = [2.0] * 20 + [float("nan")] * 20
    dirs = {k: cell(tmp_path, k, losses) for k, losses in (("k1", falling), ("k2", flat), ("k3", nan))}
    dirs["k4"] = cell(tmp_path, "k4", falling[:10], samples=40)  # another mix
    v = lambda vid, label, mix, vol, key: {"id": vid, "label": label, "mix": mix, "volume": vol, "status": "done",
                                           "adapter": str(dirs[key]), "stages": {"train": key}}
    return {"name": "unit", "variants": [
        {"id": "b", "label": "base", "mix": None, "volume": 0, "status": "done"},
        v("v1", "all/v160", "all", 160, "k1"), v("v2", "all/v80", "all", 80, "k2"), v("v3", "all/v40", "all", 40, "k3"),
        v("g1", "generic/v40", "generic", 40, "k4"),
        {"id": "bad", "label": "all/v320", "mix": "all", "volume": 320, "status": "failed", "stages": {}}]}


def test_loss_summary_edges_and_flags():
    s = loss_summary(pl.DataFrame({"step": [1, 2, 3, 4], "loss": [4.0, 3.0, 2.0, 1.0]}))
    assert (s["steps"], s["first_loss"], s["last_loss"], s["flag"]) == (4, 4.0, 1.0, "")  # ceil(5% of 4) = 1 step
    s = loss_summary(pl.DataFrame({"step": list(range(1, 41)), "loss": [float(x) for x in range(40, 0, -1)]}))
    assert (s["first_loss"], s["last_loss"]) == (39.5, 1.5)  # 2 steps each
    assert loss_summary(pl.DataFrame({"step": [1, 2], "loss": [1.0, 1.0]}))["flag"] == "loss did not fall"
    assert loss_summary(pl.DataFrame({"step": [1, 2, 3], "loss": [2.0, math.inf, 1.0]}))["flag"] == "non-finite loss"


def test_training_section_figures_table_and_flags(record, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    cells = {c["label"]: c for c in training_cells(record)}
    assert set(cells) == {"all/v160", "all/v80", "all/v40", "generic/v40", "all/v320"}
    assert [cells[k]["flag"] for k in ("all/v160", "all/v80", "all/v40", "all/v320")] == [
        "", "loss did not fall", "non-finite loss", "not trained (failed)"]
    assert cells["all/v160"]["loss"]["rows"].to_list()[:2] == [4, 8]  # steps x effective batch
    assert cells["all/v160"]["loss"]["rows"].max() == 160
    md = "\n".join(training_section(record, out))
    assert (out / "training_all.png").is_file() and (out / "training_generic.png").is_file()
    assert "![training loss, mix all](training_all.png)" in md
    assert "| all/v160 | 160 | 40 | 2.9744 | 1.0256 | 321.0 | 20.0 | ok |" in md
    assert "| all/v80 | 160 | 40 | 1.0050 | 1.0100 | 321.0 | 20.0 | **loss did not fall** |" in md
    assert "**non-finite loss**" in md and "| all/v320 | 320 | - | - | - | - | - | **not trained (failed)** |" in md
    assert f"tensorboard --logdir {tmp_path / 'runs' / 'train'}" in md


def _preds(variants: list[str]) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame([{"variant": v, "adapter_sha256": None, "benchmark": "t3-probe", "item_id": f"t/{i}",
                          "modality": "text", "task": "multi-choice", "aspect": "order", "sub_dim": "x", "reply": "A",
                          "parsed": "A", "match_status": "matched", "correct": bool(rng.random() < 0.5),
                          "prompt_tokens": 10, "gen_tokens": 2, "latency_s": 0.01, "error": None}
                         for v in variants for i in range(40)])


def test_report_places_training_after_the_outcome_which_links_it(record, tmp_path):
    md = build_report(record, _preds(["b", "v1", "v2", "v3", "g1"]), tmp_path / "rep").read_text()
    outcome, training = md.index("## Outcome"), md.index("## Training\n")
    assert outcome < md.index("see [Training](#training)") < training < md.index("## Scaling grid")
    assert ("Training: 3 of 5 trained cells flagged: all/v80 (loss did not fall), all/v40 (non-finite loss), "
            "all/v320 (not trained (failed))") in md
    empty = build_report(record, pl.DataFrame(schema={"variant": pl.Utf8}), tmp_path / "rep2").read_text()
    assert "No predictions yet" in empty and "## Training\n" in empty  # training shows before any evaluation
