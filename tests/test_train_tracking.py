"""Training you can inspect: TensorBoard event files per cell, trackers by name, never in a hash (issue #26).

    .venv/bin/pytest tests/test_train_tracking.py -q

A micro sweep (micro base, micro world; real synthesis and training, evaluation stubbed) is read back
through TensorBoard's own EventAccumulator; a fake `wandb` (tests/fake_trackers) shows what is handed to
transformers' W&B callback; changing `report_to` retrains nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ablate.core import UserError
from ablate.sweep import stage as st
from ablate.train import TrainOptions, train_adapter
from tests.fixtures_eval import write_stub_eval
from tests.fixtures_train import tensorboard_scalars as scalars

FAKES = Path(__file__).parent / "fake_trackers"
FAST = TrainOptions(batch_size=8, epochs=1.0, learning_rate=5e-3, lora_rank=4, lora_alpha=8)

RECIPE = """\
[recipe]
name = "tracked"
[base]
model = "{base}"
[data]
corpus = "{corpus}"
pool = 32
probe = 8
[mixes]
all = {{ order = 1, attribute = 1, referring = 1, grounding = 1 }}
[grid]
volume = [0, 16, 32]
[train]
batch_size = 8
lora_rank = 4
lora_alpha = 8
learning_rate = 5e-3
[eval]
benchmarks = ["t3-probe"]
engine = "hf"
"""


@pytest.fixture()
def micro_sweep(tmp_path, monkeypatch, micro_base, micro_world):
    """sweep(*overrides) -> (record, trainings run); real synth + train in this process, eval stubbed."""
    from ablate.sweep.executor import InlineExecutor
    from ablate.sweep.live import Live
    from ablate.sweep.plan import expand
    from ablate.sweep.recipe import parse_recipe
    from ablate.sweep.runner import run_sweep
    import ablate.sweep.report

    trained = []
    real_train = st.TRAIN.run
    monkeypatch.setattr(st.TRAIN, "run", lambda job, out, progress: trained.append(job) or real_train(job, out, progress))
    monkeypatch.setattr(st.EVAL, "run", lambda job, out, progress: write_stub_eval(job, out, "t3-probe"))
    monkeypatch.setattr(ablate.sweep.report, "report_from_record",
                        lambda record, out, dirs: Path(out).mkdir(parents=True, exist_ok=True) or Path(out) / "report.md")
    text = RECIPE.format(base=micro_base.root, corpus=micro_world / "captions" / "captions.json")

    def sweep(*overrides):
        trained.clear()
        recipe = parse_recipe(text, "tracked.toml", overrides)
        live = Live([(v.id, v.label) for v in expand(recipe)], tty=False)
        rec = run_sweep(recipe, tmp_path / "runs", tmp_path / "reports", live=live, executor=InlineExecutor())
        assert all(v["status"] == "done" for v in rec["variants"]), rec["variants"]
        return rec, list(trained)

    return sweep, tmp_path / "runs"


def test_micro_sweep_tensorboard_events_match_loss_parquet_and_report_to_retrains_nothing(micro_sweep):
    sweep, runs = micro_sweep
    rec, trained = sweep()
    assert sorted(j.n for j in trained) == [16, 32]
    assert {(j.report_to, j.run_name, j.group) for j in trained} == {("tensorboard", "all/v16", "tracked"),
                                                                     ("tensorboard", "all/v32", "tracked")}
    # `tensorboard --logdir runs/train` sees one run per cell, named <key>/tensorboard/<variant>
    event_dirs = {p.parent.relative_to(runs / "train").as_posix() for p in (runs / "train").rglob("events.out.tfevents.*")}
    cells = {v["label"]: v for v in rec["variants"] if v["volume"]}
    assert event_dirs == {f"{v['stages']['train']}/tensorboard/{label}" for label, v in cells.items()}
    for label, v in cells.items():
        tdir = runs / "train" / v["stages"]["train"]
        loss = pl.read_parquet(tdir / "loss.parquet")
        tb = scalars(tdir / "tensorboard" / label)
        assert sorted(tb) == loss["step"].to_list() and len(tb) == v["volume"] // 8
        assert [tb[s] for s in loss["step"]] == pytest.approx(loss["loss"].to_list(), rel=1e-6)
        lr = scalars(tdir / "tensorboard" / label, "train/learning_rate")
        assert [lr[s] for s in loss["step"]] == pytest.approx(loss["learning_rate"].to_list(), rel=1e-6)
        assert json.loads((tdir / "manifest.json").read_text())["tracking"] == {
            "report_to": "tensorboard", "run_name": label, "log_dir": f"tensorboard/{label}"}

    # the report's Training section reads the same files
    from ablate.sweep.report_training import training_cells, training_section

    out = runs.parent / "report"
    out.mkdir()
    md = "\n".join(training_section(rec, out))
    assert (out / "training_all.png").stat().st_size > 10_000
    assert "| all/v16 | 16 | 2 |" in md and "| all/v32 | 32 | 4 |" in md
    assert f"tensorboard --logdir {runs / 'train'}" in md
    first = {c["label"]: c for c in training_cells(rec)}["all/v32"]
    assert first["first_loss"] == pytest.approx(pl.read_parquet(first["dir"] / "loss.parquet")["loss"][0])

    # another tracker: same variants, same keys, nothing synthesized, trained or evaluated again
    again, trained = sweep('train.report_to="none"')
    assert trained == []
    assert [v["id"] for v in again["variants"]] == [v["id"] for v in rec["variants"]]
    assert [v["stages"] for v in again["variants"]] == [v["stages"] for v in rec["variants"]]


def test_train_key_and_variant_ids_ignore_the_tracker(tmp_path):
    from ablate.sweep.plan import expand
    from ablate.sweep.recipe import parse_recipe

    (tmp_path / "manifest.json").write_text('{"content_hash": "c"}')
    job = st.TrainJob(base="b", base_hash="h", data=str(tmp_path), data_key="k", n=8, options={"lora_rank": 4})
    key = st.TRAIN.key(job)
    for kw in ({"report_to": "wandb"}, {"report_to": "none", "run_name": "all/v8", "group": "r"}):
        assert st.TRAIN.key(st.TrainJob(**{**job.__dict__, **kw})) == key
    assert st.TRAIN.key(st.TrainJob(**{**job.__dict__, "n": 9})) != key  # the key still sees what matters
    text = RECIPE.format(base="micro", corpus="world")
    ids = [v.id for v in expand(parse_recipe(text, "r.toml", check_paths=False))]
    for value in ("tensorboard", "none", "wandb"):
        assert [v.id for v in expand(parse_recipe(text, "r.toml", [f'train.report_to="{value}"'],
                                                  check_paths=False))] == ids
    assert [v.id for v in expand(parse_recipe(text, "r.toml", ["train.lora_rank=8"], check_paths=False))] != ids


def test_wandb_by_name_run_named_after_the_variant_and_grouped_by_recipe(train_lm_dir, train_pool, tmp_path,
                                                                         monkeypatch):
    import os
    import sys

    log = tmp_path / "wandb.jsonl"
    monkeypatch.setenv("FAKE_WANDB_LOG", str(log))
    monkeypatch.delenv("WANDB_RUN_GROUP", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    out = tmp_path / "a"
    m = train_adapter(train_lm_dir, train_pool, out, n=32, options=FAST, show_progress=False, report_to="wandb",
                      run_name="all/v32", group="data_scale")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    inits = [e for e in events if e["event"] == "init"]
    assert inits == [{"event": "init", "project": "huggingface", "name": "all/v32", "group": "data_scale"}]
    logged = {e["data"]["train/global_step"]: e["data"]["train/loss"] for e in events
              if e["event"] == "log" and "train/loss" in e["data"]}
    loss = pl.read_parquet(out / "loss.parquet")
    assert [logged[s] for s in loss["step"]] == pytest.approx(loss["loss"].to_list())
    assert events[-1] == {"event": "finish", "name": "all/v32"}  # closed: a next run in this process is its own
    assert "WANDB_RUN_GROUP" not in os.environ  # the group was set for the run only
    assert not (out / "tensorboard").exists() and m["tracking"]["report_to"] == "wandb"

    # a finished adapter is returned as it is whatever the tracker: nothing trains, nothing is logged
    n_events = len(log.read_text().splitlines())
    assert train_adapter(train_lm_dir, train_pool, out, n=32, options=FAST, show_progress=False,
                         report_to="tensorboard") == m
    assert len(log.read_text().splitlines()) == n_events and not (out / "tensorboard").exists()


def test_missing_tracker_package_is_a_user_error_naming_it(tmp_path, monkeypatch):
    import importlib.util

    from ablate.sweep.recipe import parse_recipe
    from ablate.train.tracking import check_report_to

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(UserError, match=r'report_to = "mlflow" needs the `mlflow` package.*pip install mlflow'):
        check_report_to("mlflow")
    with pytest.raises(UserError, match=r"`mlflow` package"):  # before any data is read or model loaded
        train_adapter("micro", tmp_path / "missing", tmp_path / "a", n=8, report_to="mlflow")
    text = RECIPE.format(base="micro", corpus="world")
    with pytest.raises(UserError, match=r"--set train.report_to\).*`mlflow` package.*key `train.report_to`"):
        parse_recipe(text, "r.toml", ['train.report_to="mlflow"'])  # the sweep checks before it runs
    parse_recipe(text, "r.toml", ['train.report_to="mlflow"'], check_paths=False)  # `ablate plan`: schema only
    with pytest.raises(UserError, match=r"'neptune' not one of \['tensorboard', 'wandb', 'mlflow', 'none'\].*key `train.report_to`"):
        parse_recipe(text, "r.toml", ['train.report_to="neptune"'], check_paths=False)
    with pytest.raises(UserError, match=r"grid.train.report_to.*not a grid axis"):
        parse_recipe(text, "r.toml", ['grid.train.report_to=["none", "tensorboard"]'], check_paths=False)


def test_report_to_flags():
    import argparse

    from ablate.sweep.cli import add_cli as sweep_cli
    from ablate.train.cli import add_cli as train_cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    train_cli(sub)
    sweep_cli(sub)
    base = ["train", "--base", "b", "--data", "d", "--out", "o"]
    assert parser.parse_args(base).report_to == "tensorboard"
    assert parser.parse_args(base + ["--report-to", "wandb"]).report_to == "wandb"
    assert parser.parse_args(["sweep", "r.toml"]).report_to is None  # the recipe decides
    assert parser.parse_args(["sweep", "r.toml", "--report-to", "none"]).report_to == "none"
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--report-to", "comet"])
