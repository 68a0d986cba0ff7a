"""A damaged runs dir: corrupt manifests, truncated Parquet, a deleted or cut adapter, a corrupt
generation cache, a corrupt sweep record. A rerun of `ablate sweep` recomputes exactly the damaged
stage (saying so) and ends with the same results; `ablate report` on a damaged record or predictions
file stops with exit status 2 naming the file. Nothing intact is recomputed or lost.

One small sweep (random micro LLaVA base, a 240-caption corpus, the t3-probe and a t3-text file, HF
engine) is run once per module; each case damages it, reruns, and checks. Slow: ~2 min on 2 cores.

    python -m pytest -q tests/hostile/test_hostile_runs.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from fixtures_t3 import world_captions, write_llava

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, eval_base):
    d = tmp_path_factory.mktemp("hostile-runs")
    corpus = write_llava(d / "captions.json", world_captions())
    bench = d / "order_val.jsonl"
    bench.write_text("".join(json.dumps({"qid": i, "question": f"Which first?\n(A) red {i}\n(B) blue {i}",
                                         "answer": "(A)" if i % 2 else "(B)"}) + "\n" for i in range(6)))
    recipe = d / "rd.toml"
    recipe.write_text(f"""
[recipe]
name = "rd"
[base]
model = "{eval_base.root}"
[data]
corpus = "{corpus}"
pool = 32
probe = 8
frames = 3
[mixes]
all = {{ order = 1, referring = 1 }}
[grid]
volume = [0, 16]
[train]
lora_rank = 4
max_steps = 2
batch_size = 8
[eval]
benchmarks = ["t3-probe", {{ name = "t3-text", path = "{bench}" }}]
engine = "hf"
max_tokens = 4
""")
    old = os.environ.get("ABLATE_CACHE")
    os.environ["ABLATE_CACHE"] = str(d / "cache")  # its own generation cache, which one case corrupts
    yield d
    if old is None:
        os.environ.pop("ABLATE_CACHE", None)
    else:
        os.environ["ABLATE_CACHE"] = old


class Sweep:
    def __init__(self, cli, d: Path):
        self.cli, self.d = cli, d
        self.runs, self.reports = d / "runs", d / "reports"

    def run(self, *extra):
        r = self.cli("sweep", self.d / "rd.toml", "--runs-dir", self.runs, "--reports-dir", self.reports, *extra)
        return r.ok()

    def record(self) -> dict:
        return json.loads((self.runs / "sweeps" / "rd" / "sweep.json").read_text())

    def variant(self, label="all/v16") -> dict:
        return next(v for v in self.record()["variants"] if v["label"] == label)

    def results(self) -> pl.DataFrame:
        return pl.read_parquet(self.reports / "rd" / "results.parquet")

    def stage(self, stage: str) -> Path:
        return self.runs / stage / self.variant()["stages"][stage]


@pytest.fixture
def sw(cli, sweep_dir):
    s = Sweep(cli, sweep_dir)
    if not (s.runs / "sweeps" / "rd" / "sweep.json").is_file():
        s.run()
        shutil.copy(s.reports / "rd" / "results.parquet", sweep_dir / "reference.parquet")
    return s


def same_results(s: Sweep) -> None:
    assert s.results().equals(pl.read_parquet(s.d / "reference.parquet"))
    assert all(v["status"] == "done" for v in s.record()["variants"])


def test_rerun_of_intact_runs_dir_computes_nothing(sw):
    sw.run()
    assert sw.record()["executed"] == {"synth": 0, "train": 0, "eval": 0}
    same_results(sw)


def test_corrupt_synth_manifest_is_recomputed(sw):
    (sw.stage("synth") / "manifest.json").write_text('{"content_hash": ')
    r = sw.run()
    assert "manifest.json: invalid JSON" in r.out and "recomputing" in r.out
    assert sw.record()["executed"] == {"synth": 1, "train": 0, "eval": 0}  # same data, so training is reused
    same_results(sw)


def test_truncated_synth_parquet_is_recomputed(sw):
    f = sw.stage("synth") / "train.parquet"
    f.write_bytes(f.read_bytes()[:64])
    r = sw.run()
    assert "train.parquet: not a complete Parquet file" in r.out
    assert sw.record()["executed"]["synth"] == 1 and sw.record()["executed"]["train"] == 0
    same_results(sw)


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_damaged_adapter_is_retrained(sw, damage):
    t = sw.stage("train")
    sha = sw.variant()["adapter_sha256"]
    if damage == "deleted":
        (t / "adapter_model.safetensors").unlink()
    else:
        f = t / "adapter_model.safetensors"
        f.write_bytes(f.read_bytes()[:1000])
    r = sw.run()
    assert ("recomputing" in r.out or "retraining" in r.out) and sw.record()["executed"]["train"] == 1
    assert sw.variant()["adapter_sha256"] == sha  # retrained deterministically, so the evaluation is reused
    same_results(sw)


def test_truncated_predictions(sw, cli):
    f = sw.stage("eval") / "predictions.parquet"
    f.write_bytes(f.read_bytes()[:200])
    cli("report", sw.runs, "--runs-dir", sw.runs, "--reports-dir", sw.d / "rebuilt").user_error(
        f"{f}: cannot read Parquet")
    r = sw.run()
    assert "predictions.parquet: not a complete Parquet file" in r.out
    assert sw.record()["executed"] == {"synth": 0, "train": 0, "eval": 1}  # replies come from the cache
    same_results(sw)


def test_corrupt_generation_cache(sw, sweep_dir):
    db = sweep_dir / "cache" / "eval" / "generations.sqlite"
    assert db.is_file()
    db.write_bytes(b"this is not a database" * 100)
    sw.run("--force", "eval")
    assert list(db.parent.glob("generations.sqlite.corrupt-*"))  # set aside, not deleted
    log = (sw.runs / "eval" / f"{sw.variant()['stages']['eval']}.log").read_text()
    assert "not a usable SQLite database" in log
    same_results(sw)


def test_corrupt_sweep_record(sw, cli):
    rec = sw.runs / "sweeps" / "rd" / "sweep.json"
    rec.write_text('{"name": "rd", "variants": [')
    cli("report", rec.parent, "--runs-dir", sw.runs, "--reports-dir", sw.d / "rebuilt").user_error(
        f"{rec}: corrupt sweep record")
    sw.run()  # rewrites it; nothing recomputed
    assert sw.record()["executed"] == {"synth": 0, "train": 0, "eval": 0}
    cli("report", rec.parent, "--runs-dir", sw.runs, "--reports-dir", sw.d / "rebuilt").ok()


def test_sweep_record_naming_a_path(sw, cli):
    rec = sw.runs / "sweeps" / "rd" / "sweep.json"
    good = rec.read_text()
    rec.write_text(json.dumps({**json.loads(good), "name": "../../../escape"}))
    cli("report", rec.parent, "--runs-dir", sw.runs, "--reports-dir", sw.d / "rebuilt").user_error(
        f"{rec}: name '../../../escape' starts with a dot")
    assert not (sw.d.parent / "escape").exists()
    rec.write_text(good)


def test_corrupt_variant_record_and_lock(sw, cli):
    vrec = sw.runs / "variants" / f"{sw.variant()['id']}.json"
    vrec.write_bytes(b"\xff\xfe garbage")
    (sw.runs / ".lock").write_text("[1, 2]")
    r = cli("plan", sw.d / "rd.toml", "--runs-dir", sw.runs).ok()
    assert "all/v16" in r.out
    sw.run()
    assert json.loads(vrec.read_text())["status"] == "done"


def test_stale_temp_dirs_are_removed(sw):
    for stage in ("synth", "train", "eval"):
        (sw.runs / stage / f".{'0' * 16}.tmp-abc123").mkdir()
    (sw.reports / "rd" / ".report.md.tmp-xyz").write_text("half")
    sw.run()
    assert not list(sw.runs.rglob(".*.tmp-*")) and not list(sw.reports.rglob(".*.tmp-*"))


def test_adapter_rewritten_in_place_is_noticed(sw):
    """Issue #13 item 2 (H1's stage contract): the adapter file is hashed at use. An adapter changed
    since training is retrained (its training job is still the same), so the predictions served are
    for the weights actually on disk, never the old ones by their recorded sha256."""
    from safetensors.numpy import load_file, save_file

    f = sw.stage("train") / "adapter_model.safetensors"
    tensors = load_file(str(f))
    save_file({k: v * 2 for k, v in tensors.items()}, str(f))
    r = sw.run()
    assert "retraining" in r.out and sw.record()["executed"]["train"] == 1
    same_results(sw)  # retrained deterministically: the same weights as before the edit


def test_benchmark_file_changed_in_place_is_evaluated_again(sw):
    """Issue #13 (H1's stage contract): an external benchmark file is identified by its bytes."""
    f = sw.d / "order_val.jsonl"
    st = f.stat()
    text = f.read_text()
    f.write_text(text.replace('"answer": "(B)"', '"answer": "(A)"', 1))  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    sw.run()
    preds = pl.read_parquet(sw.runs / "eval" / sw.variant()["stages"]["eval"] / "predictions.parquet")
    item = preds.filter((pl.col("benchmark") == "t3-text") & (pl.col("item_id") == "order_val/0"))
    assert set(item["answer"]) == {"(A)"}
