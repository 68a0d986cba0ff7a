"""The stage contract: keys, one definition of done, what reruns after a change (fast: fake stage bodies).

    .venv/bin/pytest tests/test_sweep_stage.py -q

The runner, its executor and `ablate plan` are the real ones (InlineExecutor: jobs run in this
process); only each stage's `run` is replaced by a stand-in that writes the files its real body
writes, so a whole sweep takes well under a second and every rerun can be counted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ablate.core import atomic_dir, stable_hash, write_json
from ablate.sweep import stage as st
from ablate.sweep.executor import InlineExecutor, LocalExecutor
from ablate.sweep.live import Live
from ablate.sweep.plan import plan_rows
from ablate.sweep.recipe import parse_recipe
from ablate.sweep.runner import run_sweep

DATA = Path(__file__).parent / "data"

def safetensors_bytes(tag: str) -> bytes:
    """A whole safetensors file whose one tensor spells `tag` (distinct tags, distinct bytes)."""
    from safetensors.numpy import save

    return save({"w": np.frombuffer(tag.encode(), dtype=np.uint8).copy()})


RECIPE = """\
[recipe]
name = "contract"
[base]
model = "{base}"
[data]
corpus = "{corpus}"
pool = 40
probe = 8
[mixes]
all = {{ order = 1, attribute = 1, referring = 1, grounding = 1 }}
generic = {{ generic = 1 }}
[grid]
mix = ["all", "generic"]
volume = [0, 10, 20]
[eval]
benchmarks = ["t3-probe", {{ name = "t3-text", path = "{bench}" }}]
engine = "hf"
"""


@pytest.fixture()
def world(tmp_path, monkeypatch):
    """A runs dir, a recipe over a copied benchmark, and stage bodies that count their runs."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")  # a plain local "HF dir": never loaded by the stand-ins
    bench = tmp_path / "t3text"
    shutil.copytree(DATA / "bench" / "t3text", bench)
    corpus = tmp_path / "captions.jsonl"
    shutil.copy(DATA / "t3" / "captions.jsonl", corpus)
    runs = []

    def fake_synth(job, out, progress):
        runs.append(("synth", job.mix.get("generic") and "generic" or "t3"))
        with atomic_dir(out) as tmp:
            write_json(tmp / "manifest.json", {"content_hash": stable_hash(job.to_json())})
            pl.DataFrame({"id": ["rows"]}).write_parquet(tmp / "train.parquet")  # whole files: the runner
            pl.DataFrame({"id": ["probe"]}).write_parquet(tmp / "probe.parquet")  # re-checks them before reuse

    def fake_train(job, out, progress):
        runs.append(("train", job.n))
        progress(st.Progress(0.5, 1.0, "step 1/2"))
        with atomic_dir(out) as tmp:
            weights = safetensors_bytes(f"{job.data_key}/{job.n}")  # deterministic, like real training
            (tmp / "adapter_model.safetensors").write_bytes(weights)
            (tmp / "adapter_config.json").write_text("{}")
            write_json(tmp / "manifest.json", {"adapter_sha256": hashlib.sha256(weights).hexdigest()})

    def fake_eval(job, out, progress):
        from tests.fixtures_eval import write_stub_eval

        runs.append(("eval", len(job.adapters)))
        write_stub_eval(job, out)

    monkeypatch.setattr(st.SYNTH, "run", fake_synth)
    monkeypatch.setattr(st.TRAIN, "run", fake_train)
    monkeypatch.setattr(st.EVAL, "run", fake_eval)
    import ablate.models.checks as checks  # the stand-in base and adapters have no real weights to check

    monkeypatch.setattr(checks, "check_base", lambda base: None)
    monkeypatch.setattr(checks, "adapter_problems", lambda *a, **k: {})
    import ablate.sweep.report

    monkeypatch.setattr(ablate.sweep.report, "report_from_record",
                        lambda record, out, dirs: Path(out).mkdir(parents=True, exist_ok=True) or Path(out) / "report.md")
    recipe = parse_recipe(RECIPE.format(base=base, corpus=corpus, bench=bench), "contract.toml")
    d = tmp_path / "runs"

    def sweep():
        runs.clear()
        live = Live([(v.id, v.label) for v in __import__("ablate.sweep.plan").sweep.plan.expand(recipe)], tty=False)
        rec = run_sweep(recipe, d, tmp_path / "reports", live=live, executor=InlineExecutor())
        assert all(v["status"] == "done" for v in rec["variants"]), rec["variants"]
        return sorted(runs, key=repr), live

    return {"sweep": sweep, "runs": d, "bench": bench, "recipe": recipe}


def stages_run(runs) -> set[str]:
    return {s for s, _ in runs}


def test_first_sweep_runs_everything_then_nothing(world):
    runs, _ = world["sweep"]()
    assert runs.count(("synth", "t3")) == 1 and runs.count(("synth", "generic")) == 1  # the probe shares `all`'s
    assert sorted(n for s, n in runs if s == "train") == [10, 10, 20, 20]
    assert ("eval", 5) in runs  # base + 4 adapters in one engine call
    again, _ = world["sweep"]()
    assert again == []
    assert all(r[f"cached_{s}"] is not False for r in plan_rows(world["recipe"], world["runs"])
               for s in ("synth", "train", "eval"))


EDITS = [  # (module whose code is edited, the stages that must rerun)
    ("t3.synth", {"synth", "train", "eval"}),
    ("ablate.synth.generic", {"synth", "train", "eval"}),
    ("ablate.train.loop", {"train", "eval"}),
    ("ablate.models.chat", {"train", "eval"}),
    ("ablate.eval.stage", {"eval"}),
    ("ablate.eval.benchmarks", {"eval"}),
    ("ablate.eval.scoring", {"eval"}),
    ("ablate.eval.video", {"eval"}),
    ("ablate.base.prompts", {"eval"}),
]


@pytest.mark.parametrize("module,expected", EDITS, ids=[e[0] for e in EDITS])
def test_editing_a_stages_code_reruns_that_stage_and_later_ones(world, monkeypatch, module, expected):
    world["sweep"]()
    real = st.code_identity  # a code edit, as ablate.identity sees it (its own test edits real files)
    monkeypatch.setattr(st, "code_identity", lambda *names: real(*names) + (
        "+edit" if any(module == n or module.startswith(n + ".") for n in names) else ""))
    rows = plan_rows(world["recipe"], world["runs"])  # plan sees it before anything runs
    for s in ("synth", "train", "eval"):
        todo = [r for r in rows if r[f"cached_{s}"] is False]
        assert bool(todo) == (s in expected), (s, rows)
    runs, _ = world["sweep"]()
    assert stages_run(runs) == expected
    if module == "ablate.synth.generic":  # the generic control's code: only its variants' synthesis and training
        assert ("synth", "t3") not in runs and sorted(n for s, n in runs if s == "train") == [10, 20]
    elif module == "t3.synth":  # T3's: the T3 mix (and the probe), not the generic control
        assert ("synth", "generic") not in runs and sorted(n for s, n in runs if s == "train") == [10, 20]
    elif "train" in expected:
        assert sorted(n for s, n in runs if s == "train") == [10, 10, 20, 20]


def test_one_byte_edit_of_an_external_benchmark_reruns_eval_only(world):
    world["sweep"]()
    f = world["bench"] / "attribute_val.jsonl"
    text = f.read_bytes()
    i = text.index(b"a")
    f.write_bytes(text[:i] + b"b" + text[i + 1:])  # same size, one byte different
    assert [r["cached_eval"] for r in plan_rows(world["recipe"], world["runs"])] == [False] * 5
    runs, _ = world["sweep"]()
    assert stages_run(runs) == {"eval"}
    assert world["sweep"]()[0] == []


def test_adapter_file_changed_under_a_finished_sweep_is_retrained(world):
    world["sweep"]()
    rec = json.loads((world["runs"] / "sweeps" / "contract" / "sweep.json").read_text())
    v = next(x for x in rec["variants"] if x["volume"] == 20 and x["mix"] == "all")
    weights = Path(v["adapter"]) / "adapter_model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(safetensors_bytes("tampered"))  # a whole file with other weights
    row = next(r for r in plan_rows(world["recipe"], world["runs"]) if r["id"] == v["id"])
    assert row["cached_synth"] and row["cached_train"] is False and row["cached_eval"] is False
    runs, live = world["sweep"]()
    assert runs == [("train", 20)]  # retrained; deterministic, so its evaluation (same weights) is reused
    assert any("adapter file changed since training; retraining it" in line for line in live.lines)
    assert weights.read_bytes() == original


def test_eval_key_hashes_the_adapter_files_not_the_manifest(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "adapter_model.safetensors").write_bytes(b"w1")
    (a / "adapter_config.json").write_text("{}")
    bench = tmp_path / "b.parquet"
    bench.write_bytes(b"x")
    job = st.EvalJob(base="b", base_hash="h", adapters={"v": str(a), "base": None}, train_keys={"v": "k"},
                     benchmarks=[{"name": "t3-probe", "path": str(bench)}])
    k1 = st.EVAL.key(job)
    (a / "adapter_config.json").write_text('{"target_modules": ["q", "k"], "r": 8}')
    k2 = st.EVAL.key(job)
    (a / "adapter_config.json").write_text('{"r": 8, "target_modules": ["k", "q"]}')  # PEFT's set order varies
    assert st.EVAL.key(job) == k2 != k1
    (a / "adapter_model.safetensors").write_bytes(b"w2")
    assert st.EVAL.key(job) != k2
    assert st.job_from_json(json.loads(json.dumps(job.to_json()))) == job  # jobs travel as JSON


def test_local_executor_runs_the_worker_and_reports_progress_and_failures(tmp_path):
    corpus = tmp_path / "c.jsonl"
    shutil.copy(DATA / "t3" / "captions.jsonl", corpus)
    ok = st.SynthJob(corpus=str(corpus), corpus_format="jsonl", caption_field="text", mix={"generic": 1.0}, n=5)
    bad = st.SynthJob(corpus=str(tmp_path / "missing.json"), mix={"order": 1.0}, n=5)
    ex, events = LocalExecutor(), []
    h1 = ex.submit(ok, tmp_path / "out1", tmp_path / "out1.log", progress=events.append)
    h2 = ex.submit(bad, tmp_path / "out2", tmp_path / "out2.log")
    o1, o2 = ex.wait([h1, h2])
    assert o1.ok and st.SYNTH.is_done(tmp_path / "out1") and o1.error == ""
    assert events and all(isinstance(e, st.Progress) for e in events) and events[-1].fraction == 1.0
    assert not o2.ok and "missing.json" in o2.error and o2.log.read_text()
    assert not (tmp_path / "out2").exists()


def test_run_summary_keeps_the_computing_runs_times_after_a_rerun(world):
    from ablate.sweep.report_summary import summary_section

    world["sweep"]()
    sweep_json = world["runs"] / "sweeps" / "contract" / "sweep.json"
    first = json.loads(sweep_json.read_text())
    v = next(x for x in first["variants"] if x["volume"] == 20 and x["mix"] == "all")
    assert v["timings"]["train"] is not None and v["computed"]["train"]  # the run that computed it, with its date
    lines = "\n".join(summary_section(first))
    assert "computed nothing" not in lines and "computed synth 2, train 4, eval 1 stage dir(s)" in lines
    again, _ = world["sweep"]()
    assert again == []
    second = json.loads(sweep_json.read_text())
    w = next(x for x in second["variants"] if x["id"] == v["id"])
    assert w["timings"] == v["timings"] and w["computed"] == v["computed"]  # the figures are kept
    assert {s: {k: {**r, "fresh": False} for k, r in keys.items()} for s, keys in first["stage_runs"].items()} \
        == second["stage_runs"]
    lines = "\n".join(summary_section(second))
    assert "computed nothing (every stage directory was already done)" in lines
    work = next(line for line in lines.splitlines() if line.startswith("- stage work"))
    assert work == next(line for line in "\n".join(summary_section(first)).splitlines() if line.startswith("- stage work"))
    assert f"train={v['timings']['train']:.1f}s ({v['computed']['train']})" in lines
