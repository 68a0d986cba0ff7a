"""Nested volumes in the sweep: with wsd, one train job per mix writes every volume's own train directory.

    .venv/bin/pytest tests/test_sweep_nested.py -q

The sweep is the real one (runner, plan, TRAIN stage, InlineExecutor) on the micro Qwen2 LM of
tests/fixtures_train.py; synthesis writes the micro pool and evaluation is a stand-in, so only training
runs for real (a handful of 4-row steps). The adapters are compared with independent train_adapter runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ablate.core import UserError, atomic_dir, stable_hash, write_json
from ablate.sweep import stage as st
from ablate.sweep.executor import Executor, InlineExecutor, LocalExecutor
from ablate.sweep.live import Live
from ablate.sweep.plan import expand, nest_train_jobs
from ablate.sweep.recipe import parse_recipe
from ablate.sweep.runner import run_sweep
from tests.fixtures_train import tensorboard_scalars

DATA = Path(__file__).parent / "data"
VOLUMES = (8, 16, 24)  # batch 4: 2, 4, 6 steps; decays of 1, 2, 3 steps; length windows of 2 steps = 8 rows

RECIPE = """\
[recipe]
name = "nested"
[base]
model = "{base}"
[data]
corpus = "{corpus}"
pool = 24
probe = 0
[mixes]
all = {{ order = 1, attribute = 1, referring = 1, grounding = 1 }}
[grid]
mix = ["all"]
volume = {volumes}
[train]
lr_scheduler = "{scheduler}"
warmup_steps = 1
decay_ratio = 0.5
batch_size = 4
lora_rank = 4
learning_rate = 5e-3
precision = "fp32"
group_by_length = true
group_window = 2
report_to = "{report_to}"
[eval]
benchmarks = [{{ name = "t3-text", path = "{bench}" }}]
engine = "hf"
"""


@pytest.fixture()
def nested(tmp_path, monkeypatch, train_lm_dir):
    """sweep(volumes) runs the recipe; `calls` lists the volume sets each train_nested call trained."""
    from tests.fixtures_eval import write_stub_eval
    from tests.fixtures_train import write_pool

    bench = tmp_path / "t3text"
    shutil.copytree(DATA / "bench" / "t3text", bench)
    corpus = tmp_path / "captions.jsonl"
    shutil.copy(DATA / "t3" / "captions.jsonl", corpus)

    def fake_synth(job, out, progress):  # the micro pool, whose rows the micro tokenizer knows
        with atomic_dir(out) as tmp:
            write_pool(tmp / "train.parquet", job.n)
            write_json(tmp / "manifest.json", {"content_hash": stable_hash(job.to_json())})

    monkeypatch.setattr(st.SYNTH, "run", fake_synth)
    monkeypatch.setattr(st.EVAL, "run", lambda job, out, progress: write_stub_eval(job, out))
    import ablate.models.checks as checks
    import ablate.sweep.report
    import ablate.train.nested as nested_mod

    monkeypatch.setattr(checks, "adapter_problems", lambda *a, **k: {})
    monkeypatch.setattr(ablate.sweep.report, "report_from_record",
                        lambda record, out, dirs: Path(out).mkdir(parents=True, exist_ok=True) or Path(out) / "report.md")
    calls = []
    real = nested_mod.train_nested

    def spy(base, data, outs, options, **kw):
        calls.append(sorted(outs))
        return real(base, data, outs, options, **kw)

    monkeypatch.setattr(nested_mod, "train_nested", spy)

    def sweep(volumes=(0, *VOLUMES), scheduler="wsd", executor=None, report_to="none"):
        text = RECIPE.format(base=train_lm_dir, corpus=corpus, bench=bench, volumes=list(volumes), scheduler=scheduler,
                             report_to=report_to)
        recipe = parse_recipe(text, "nested.toml")
        live = Live([(v.id, v.label) for v in expand(recipe)], tty=False)
        rec = run_sweep(recipe, tmp_path / "runs", tmp_path / "reports", live=live,
                        executor=executor or InlineExecutor())
        assert all(v["status"] == "done" for v in rec["variants"]), rec["variants"]
        return rec

    return {"sweep": sweep, "calls": calls, "runs": tmp_path / "runs", "lm": train_lm_dir, "tmp": tmp_path}


def _trained(rec: dict, runs: Path) -> dict[int, Path]:
    return {v["volume"]: runs / "train" / v["stages"]["train"] for v in rec["variants"] if v["volume"]}


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def test_wsd_sweep_trains_a_mix_in_one_nested_run_equal_to_independent_runs(nested):
    from ablate.sweep.report_training import training_cells
    from ablate.train import TrainOptions, train_adapter

    rec = nested["sweep"](report_to="tensorboard")
    runs = nested["runs"]
    assert rec["executed"]["train"] == 1 and nested["calls"] == [list(VOLUMES)]  # one job, one run, 3 volumes
    dirs = _trained(rec, runs)
    assert sorted(dirs) == list(VOLUMES)
    job = next(v for v in rec["variants"] if v["volume"] == 24)["jobs"]["train"]
    assert job["n"] == 24 and job["nested"] is None  # each variant records its own job, as if it ran alone
    synth = runs / "synth" / rec["variants"][1]["stages"]["synth"]
    opts = TrainOptions(**job["options"])
    assert opts.group_by_length and opts.lr_scheduler == "wsd"
    shas = set()
    for v, d in dirs.items():
        m = _manifest(d)
        # the directory an independent TrainJob of this volume would write: its key, its hash, its tensors
        own = st.TrainJob(**{k: x for k, x in job.items() if k not in ("kind", "nested")} | {"n": v})
        assert st.TRAIN.key(own) == d.name
        alone = train_adapter(nested["lm"], synth, nested["tmp"] / f"alone{v}", n=v, options=opts, show_progress=False)
        assert m["hash"] == alone["hash"] and m["steps"] == alone["steps"] == v // 4
        assert m["adapter_sha256"] == alone["adapter_sha256"], f"volume {v}: nested != independent"
        shas.add(m["adapter_sha256"])
        loss = pl.read_parquet(d / "loss.parquet")
        assert loss["step"].to_list() == list(range(1, v // 4 + 1))
        assert loss["learning_rate"].to_list() == pytest.approx(
            pl.read_parquet(nested["tmp"] / f"alone{v}" / "loss.parquet")["learning_rate"].to_list())
        assert (runs / "train" / f"{d.name}.run.json").is_file() and (runs / "train" / f"{d.name}.log").is_file()
        # TensorBoard: each volume its own run, named by its variant, with its own steps' losses
        events = tensorboard_scalars(d / "tensorboard" / "all" / f"v{v}")
        assert events == pytest.approx(dict(zip(loss["step"].to_list(), loss["loss"].to_list())), rel=1e-6)
    assert len(shas) == 3  # three different adapters, not one copied
    # run records: each volume's share of the one job's wall time, adding up to it
    secs = [rec["stage_runs"]["train"][d.name]["seconds"] for d in dirs.values()]
    assert all(s > 0 for s in secs)
    # the report's Training section reads each variant's own loss.parquet and manifest
    cells = {c["volume"]: c for c in training_cells(rec)}
    assert {v: cells[v]["steps"] for v in VOLUMES} == {v: v // 4 for v in VOLUMES}
    assert all(cells[v]["manifest"]["samples_per_s"] > 0 and cells[v]["manifest"]["train_seconds"] > 0 for v in VOLUMES)

    # a rerun computes nothing
    nested["calls"].clear()
    again = nested["sweep"]()
    assert again["executed"]["train"] == 0 and nested["calls"] == []
    assert {v: _manifest(d)["adapter_sha256"] for v, d in _trained(again, runs).items()} == \
           {v: _manifest(d)["adapter_sha256"] for v, d in dirs.items()}

    # volumes 8 and 24 gone (as after a kill -9 mid-run that had saved 16 only): the rerun trains just those two
    before = {v: _manifest(d)["adapter_sha256"] for v, d in dirs.items()}
    kept = (dirs[16] / "manifest.json").stat().st_mtime_ns
    shutil.rmtree(dirs[8])
    shutil.rmtree(dirs[24])
    nested["calls"].clear()
    third = nested["sweep"]()
    assert third["executed"]["train"] == 1 and nested["calls"] == [[8, 24]]
    assert (dirs[16] / "manifest.json").stat().st_mtime_ns == kept
    assert {v: _manifest(d)["adapter_sha256"] for v, d in _trained(third, runs).items()} == before


class TrainInWorker(Executor):
    """Train jobs in LocalExecutor's worker process, the rest in this one (where the stand-ins are)."""

    def __init__(self):
        self.local, self.inline = LocalExecutor(), InlineExecutor()

    def submit(self, job, out_dir, log, progress=None):
        ex = self.local if job.kind == "train" else self.inline
        h = ex.submit(job, out_dir, log, progress)
        h.state["by"] = ex
        return h

    def wait(self, handles):
        return [h.state["by"].wait([h])[0] for h in handles]


def test_one_volume_done_trains_only_the_others(nested, monkeypatch):
    first = nested["sweep"](volumes=(0, 16))
    d16 = _trained(first, nested["runs"])[16]
    kept = (d16 / "manifest.json").stat().st_mtime_ns
    # training in the real worker process this time: the job goes through its JSON file, as on Ray
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent.parent))
    rec = nested["sweep"](executor=TrainInWorker())
    assert rec["executed"]["train"] == 1
    dirs = _trained(rec, nested["runs"])
    job = json.loads((nested["runs"] / "train" / f"{dirs[24].name}.job.json").read_text())["job"]
    assert job["n"] == 24 and job["nested"] == {"8": str(dirs[8])}  # 16 was done: not trained again
    assert dirs[16] == d16 and (d16 / "manifest.json").stat().st_mtime_ns == kept
    assert all((d / "adapter_model.safetensors").is_file() for d in dirs.values())
    assert "nested run" in (nested["runs"] / "train" / f"{dirs[8].name}.log").read_text()


def test_volume_not_a_multiple_of_the_batch_names_the_recipe_key(nested, tmp_path):
    text = RECIPE.format(base=nested["lm"], corpus=DATA / "t3" / "captions.jsonl", bench=DATA / "bench" / "t3text",
                         volumes=[0, 8, 12], scheduler="wsd", report_to="none")
    with pytest.raises(UserError, match=r"nested\.toml:\d+: volume 12 is not a multiple of batch_size x grad_accum "
                                        r"x group_window = 8.*\(key `grid\.volume`\)"):
        parse_recipe(text, "nested.toml")
    without_grouping = text.replace("group_by_length = true", "group_by_length = false")
    with pytest.raises(UserError, match=r"volume 14 is not a multiple of batch_size x grad_accum = 4:"):
        parse_recipe(without_grouping.replace("[0, 8, 12]", "[0, 8, 14]"), "nested.toml")
    parse_recipe(without_grouping, "nested.toml")  # 12 rows: 3 steps of 4
    parse_recipe(text.replace('"wsd"', '"cosine"'), "nested.toml")  # no nesting, no such rule
    # replay rows count: 8 T3 rows + 4 replay rows at ratio 0.5 = 12 rows, not a window of 8
    replayed = text.replace("probe = 0", 'probe = 0\nreplay = "base"').replace("precision", "replay_ratio = 0.5\nprecision")
    with pytest.raises(UserError, match=r"volume 8 with its 4 replay rows \(12 rows\) is not a multiple of "
                                        r"batch_size x grad_accum x group_window = 8"):
        parse_recipe(replayed, "nested.toml")
    parse_recipe(replayed.replace("[0, 8, 12]", "[0, 16]"), "nested.toml")  # 16 + 8 = 24 rows: 3 windows
    assert not (nested["runs"]).exists()  # nothing ran


def _job(n: int, **kw) -> st.TrainJob:
    opts = {"lr_scheduler": "wsd", "batch_size": 4, "epochs": 1.0, "max_steps": None, **kw.pop("options", {})}
    return st.TrainJob(base="b", base_hash="h", data=kw.pop("data", "s1"), data_key="k", n=n, options=opts,
                       run_name=f"all/v{n}", **kw)


def test_grouping_only_merges_wsd_jobs_that_differ_in_volume(tmp_path):
    pending = {"a8": _job(8), "a16": _job(16), "a24": _job(24), "b8": _job(8, data="s2"), "b16": _job(16, data="s2"),
               "c8": _job(8, options={"lr_scheduler": "cosine"}), "c16": _job(16, options={"lr_scheduler": "cosine"}),
               "d8": _job(8, options={"max_steps": 2}), "d16": _job(16, options={"max_steps": 2}),
               "e8": _job(8, options={"learning_rate": 0.1}),
               "f8": _job(8, replay="r.jsonl", options={"replay_ratio": 0.5}),
               "f16": _job(16, replay="r.jsonl", options={"replay_ratio": 0.5})}
    got = {tuple(keys): job for job, keys in nest_train_jobs(pending, tmp_path)}
    assert set(got) == {("a24", "a16", "a8"), ("b16", "b8"), ("c8",), ("c16",), ("d8",), ("d16",), ("e8",),
                        ("f16", "f8")}  # replay nests too (its rows interleave: ablate.train.data)
    assert got[("a24", "a16", "a8")].n == 24
    assert got[("a24", "a16", "a8")].nested == {"8": str(tmp_path / "a8"), "16": str(tmp_path / "a16")}
    assert got[("c8",)].nested is None
    lead = got[("a24", "a16", "a8")]  # what an executor ships (worker job file, Ray task) comes back whole
    assert st.job_from_json(json.loads(json.dumps(lead.to_json()))) == lead


def test_length_windows_are_prefix_stable():
    from ablate.train import TrainOptions
    from ablate.train.data import example_length, length_windows, training_order

    rows = [{"prompt": [{"role": "user", "content": "x" * ((7 * i) % 11 + 1)}], "completion": [{"role": "assistant",
                                                                                                  "content": "y"}]}
            for i in range(24)]
    full = length_windows(rows, 8)
    for n in (8, 16, 24):
        assert length_windows(rows[:n], 8) == full[:n]
    assert full != rows and sorted(map(id, full)) == sorted(map(id, rows))  # it reorders, and loses nothing
    assert [example_length(r) for r in full[:8]] == sorted((example_length(r) for r in rows[:8]), reverse=True)
    # a global sort (transformers' sampler sorts larger random megabatches) is not prefix-stable
    by_len = sorted(rows, key=lambda r: -example_length(r))
    assert sorted(rows[:8], key=lambda r: -example_length(r)) != by_len[:8]
    opts = TrainOptions(lr_scheduler="wsd", group_by_length=True, batch_size=2, grad_accum=2, group_window=2)
    assert training_order(rows, opts) == full
    assert training_order(rows, TrainOptions(lr_scheduler="wsd", batch_size=2)) == rows
    assert np.all(np.diff([example_length(r) for r in training_order(rows, opts)[:8]]) <= 0)
