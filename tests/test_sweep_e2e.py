"""End to end on recipes/smoke.toml (micro base, small world): run tree, report sections, a second run
that trains and infers nothing, failure isolation, and kill-and-resume ending with the same results.

    .venv/bin/pytest tests/test_sweep_e2e.py -q -m slow        (several minutes on 2 cores)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).parent.parent
SMOKE = ROOT / "recipes" / "smoke.toml"
pytestmark = pytest.mark.slow


PINNED: list[str] = []


def sweep(runs: Path, reports: Path, *extra: str, wait: bool = True):
    cmd = [sys.executable, "-m", "ablate", "sweep", str(SMOKE), "--runs-dir", str(runs), "--reports-dir", str(reports),
           *PINNED, *extra]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


def record(runs: Path) -> dict:
    return json.loads((runs / "sweeps" / "smoke" / "sweep.json").read_text())


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    # Pin the world and base model by directory: their cache keys hash the code that builds them, so a
    # code edit while the tests run (several people work in this tree) would rightly rebuild them and
    # retrain everything. Passing directories is also how a user points a recipe at built artefacts.
    from ablate.base import resolve_base
    from ablate.sweep.recipe import load_recipe
    from ablate.world import default_world

    world = default_world(**load_recipe(SMOKE).world.params())
    base = resolve_base("micro")
    PINNED[:] = ["--set", f'base.model="{base.root}"', "--set", f'data.corpus="{world}/captions/captions.json"',
                 "--set", f'eval.benchmarks=["t3-probe", {{name="world-video", path="{world}/bench"}}, '
                          f'{{name="world-text", path="{world}/bench"}}]']
    d = tmp_path_factory.mktemp("e2e")
    out = sweep(d / "runs", d / "reports")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return d, out


def test_run_tree_and_report(first):
    d, out = first
    runs = d / "runs"
    rec = record(runs)
    assert [v["status"] for v in rec["variants"]] == ["done"] * 3
    assert rec["executed"]["train"] == 2 and rec["executed"]["eval"] == 1
    for v in rec["variants"]:
        assert (runs / "variants" / f"{v['id']}.json").is_file()
        assert (runs / "eval" / v["stages"]["eval"] / "predictions.parquet").is_file()
        if v["volume"]:
            t = runs / "train" / v["stages"]["train"]
            assert (t / "adapter_model.safetensors").is_file() and (t / "manifest.json").is_file()
            assert (runs / "synth" / v["stages"]["synth"] / "train.parquet").is_file()
            assert (runs / "train" / f"{v['stages']['train']}.log").is_file()
            assert list((t / "tensorboard" / v["label"]).glob("events.out.tfevents.*"))  # report_to's default
    assert "[sweep:train] 2 trained, 0 cached, 0 failed" in out.stdout  # plain lines: stdout is not a TTY
    rep = d / "reports" / "smoke"
    md = (rep / "report.md").read_text()
    for s in ("## Run summary", "## Training", "## Scaling grid", "## Task-mix table", "## Text vs video correlation", "## Per-benchmark breakdown"):
        assert s in md
    res = pl.read_parquet(rep / "results.parquet")
    assert set(res["benchmark"]) == {"t3-probe", "world-video", "world-text"}
    # results recomputed from the stored predictions match the evaluation stage's own scores
    ev = runs / "eval" / rec["variants"][0]["stages"]["eval"]
    scores = pl.read_parquet(ev / "scores.parquet").filter(pl.col("aspect") == "all")
    mine = res.filter(pl.col("aspect") == "all").select("variant", "benchmark", pl.col("accuracy").alias("mine"))
    j = scores.join(mine, on=["variant", "benchmark"])
    assert j.height == 9 and (j["accuracy"] - j["mine"]).abs().max() < 1e-9


def test_second_run_does_nothing(first):
    d, _ = first
    t0 = time.perf_counter()
    out = sweep(d / "runs", d / "reports", "--report-to", "none")  # another tracker changes no key
    assert out.returncode == 0, out.stdout[-3000:]
    assert record(d / "runs")["executed"] == {"synth": 0, "train": 0, "eval": 0}
    assert "2 cached" in out.stdout
    assert time.perf_counter() - t0 < 60
    rebuilt = subprocess.run([sys.executable, "-m", "ablate", "report", str(d / "runs"), "--reports-dir", str(d / "rebuilt")],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    a = pl.read_parquet(d / "reports" / "smoke" / "results.parquet")
    assert a.equals(pl.read_parquet(d / "rebuilt" / "smoke" / "results.parquet"))


def test_failing_variant_is_isolated(first):
    d, _ = first
    out = sweep(d / "runs", d / "reports-fail", "--set", 'train.target_modules=["no_such_module"]')
    assert out.returncode == 1  # some variants failed; the sweep still finished
    rec = record(d / "runs")
    by = {v["label"]: v for v in rec["variants"]}
    assert by["base"]["status"] == "done"
    for label in ("all/v64", "generic/v64"):
        assert by[label]["status"] == "failed" and by[label]["failed_stage"] == "train"
        assert "no_such_module" in by[label]["error"] and Path(by[label]["log"]).is_file()
    md = (d / "reports-fail" / "smoke" / "report.md").read_text()
    assert "**Failures**" in md and "no_such_module" in md
    sweep(d / "runs", d / "reports")  # restore the record for the other tests


def test_kill_and_resume_gives_same_results(first):
    d, _ = first
    runs = d / "runs"
    before = {v["label"]: v for v in record(runs)["variants"]}
    results_before = pl.read_parquet(d / "reports" / "smoke" / "results.parquet")
    p = sweep(runs, d / "reports", "--force", "train", wait=False)
    deadline = time.time() + 600
    for line in p.stdout:  # kill during the first training: its "train 0% loading" line comes before any step
        if re.search(r"^\[sweep\] \S+ train \d+%", line) or time.time() > deadline:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(1)
    out = sweep(runs, d / "reports")  # the lock was released with the killed process
    assert out.returncode == 0, out.stdout[-3000:]
    rec = record(runs)
    assert rec["executed"]["train"] >= 1
    after = {v["label"]: v for v in rec["variants"]}
    for label, v in before.items():
        assert after[label].get("adapter_sha256") == v.get("adapter_sha256")  # deterministic retraining
    assert not list((runs / "train").glob(".*.tmp-*"))
    assert pl.read_parquet(d / "reports" / "smoke" / "results.parquet").equals(results_before)
