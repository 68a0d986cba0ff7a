"""The evaluation stage end to end on the HF backend (fast): outputs, error rows, cache, rescore, CLI."""

from __future__ import annotations

import argparse

import polars as pl
import pytest

from ablate.eval.benchmarks import BenchSpec
from ablate.eval.cli import add_cli
from ablate.eval.outputs import PRED_COLUMNS, rescore_dir
from ablate.eval.stage import evaluate
from fixtures_eval import build_lora


def _specs(bench_data):
    return [BenchSpec("t3-probe", bench_data / "t3probe"), BenchSpec("tempcompass", bench_data / "tempcompass"),
            BenchSpec("videomme", bench_data / "videomme"), BenchSpec("mlvu", bench_data / "mlvu")]


def test_evaluate_outputs_errors_cache_and_rescore(eval_base, eval_adapters, bench_data, tmp_path, monkeypatch):
    adapters = {"base": None, **eval_adapters}
    out = evaluate(eval_base, adapters, _specs(bench_data), tmp_path / "run1", engine="hf", frames=4, max_tokens=6,
                   show_progress=False)
    preds = pl.read_parquet(out / "predictions.parquet")
    scores = pl.read_parquet(out / "scores.parquet")
    assert preds.columns[: len(PRED_COLUMNS)] == PRED_COLUMNS
    n_items = 4 + 9 + 4 + 3
    assert preds.height == 3 * n_items
    errors = preds.filter(pl.col("error").is_not_null()).filter(pl.col("variant") == "base")
    bad = dict(zip(errors["item_id"], errors["error"]))
    assert set(bad) == {"../outside/yes_no/speed/0", "v404/yes_no/speed/0", "003-1", "004-1", "needle/1"}
    assert "'..'" in bad["../outside/yes_no/speed/0"] and "decode" in bad["003-1"] and "not found" in bad["004-1"]
    assert (errors["match_status"] == "error").all() and not errors["correct"].any()
    ok = preds.filter(pl.col("error").is_null())
    assert ok["reply"].is_not_null().all() and (ok["gen_tokens"] > 0).all() and not ok["cached"].any()
    vid = ok.filter(pl.col("modality") == "video")["prompt_tokens"]
    assert (vid > 4 * 16).all()  # 4 frames x 16 visual tokens + the question
    # variants really differ: an adapter changes at least one reply
    by = {v: ok.filter(pl.col("variant") == v).sort("item_id")["reply"].to_list() for v in adapters}
    assert by["v0"] != by["base"]
    top = scores.filter((pl.col("aspect") == "all") & (pl.col("sub_dim") == "all") & (pl.col("variant") == "base"))
    tc = top.filter(pl.col("benchmark") == "tempcompass").row(0, named=True)
    assert tc["n"] == 9 and tc["n_error"] == 2
    assert scores.filter(pl.col("benchmark") == "mlvu")["aspect"].to_list().count("m-avg") == 3

    # rerun: every item from the cache, no engine started
    import ablate.eval.engines as engines

    monkeypatch.setattr(engines, "load_engine", lambda *a, **k: pytest.fail("engine started on a full cache hit"))
    out2 = evaluate(eval_base, adapters, _specs(bench_data), tmp_path / "run2", engine="hf", frames=4, max_tokens=6,
                    show_progress=False)
    p2 = pl.read_parquet(out2 / "predictions.parquet")
    assert p2.filter(pl.col("error").is_null())["cached"].all()
    assert p2.select("variant", "item_id", "reply").equals(preds.select("variant", "item_id", "reply"))
    monkeypatch.undo()

    # retraining v1 in place (same path, new weights) invalidates v1 only; other sampling params miss too
    build_lora(eval_base.lm_dir, eval_adapters["v1"], seed=99)
    out3 = evaluate(eval_base, adapters, _specs(bench_data)[:1], tmp_path / "run3", engine="hf", frames=4, max_tokens=6,
                    show_progress=False)
    p3 = pl.read_parquet(out3 / "predictions.parquet")
    cached = dict(p3.group_by("variant").agg(pl.col("cached").all()).iter_rows())
    assert cached == {"base": True, "v0": True, "v1": False}

    # rescore reproduces the scores from predictions alone
    before = pl.read_parquet(out / "scores.parquet")
    (out / "scores.parquet").unlink()
    rescore_dir(out)
    assert pl.read_parquet(out / "scores.parquet").equals(before)


def test_frames_change_the_key_and_video_features_are_shared(eval_base, eval_adapters, bench_data, tmp_path):
    from ablate.core import cache_root

    spec = [BenchSpec("tempcompass", bench_data / "tempcompass", {"tasks": ["multi-choice"]}),
            BenchSpec("t3-probe", bench_data / "t3probe")]
    calls = []
    evaluate(eval_base, {"v0": eval_adapters["v0"]}, spec, tmp_path / "a", engine="hf", frames=2, max_tokens=4,
             show_progress=False, progress_cb=lambda *a: calls.append(a))
    assert calls[-1][1:3] == (3 + 4, 3 + 4) and {c[0] for c in calls} == {"tempcompass", "t3-probe"}
    feats = list((cache_root() / "eval" / "features" / eval_base.hash).glob("*-2-*.pt"))
    assert len(feats) == 2  # one per video, not per (video, adapter) or per question
    p = pl.read_parquet(evaluate(eval_base, {"v0": eval_adapters["v0"]}, spec, tmp_path / "b", engine="hf",
                                 frames=3, max_tokens=4, show_progress=False) / "predictions.parquet")
    assert not p.filter(pl.col("modality") == "video")["cached"].any()  # frames are in the video items' key
    assert p.filter(pl.col("modality") == "text")["cached"].all()  # ... and not in the text items' key


def test_cli_eval_and_rescore(eval_base, eval_adapters, bench_data, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    out = tmp_path / "cli"
    args = parser.parse_args(["eval", "--base", str(eval_base.root), "--adapter", f"v0={eval_adapters['v0']}",
                              "--with-base", "--bench", f"t3-text={bench_data / 't3text'}", "--engine", "hf",
                              "--max-tokens", "4", "--out", str(out)])
    assert args.func(args) == 0
    preds = pl.read_parquet(out / "predictions.parquet")
    assert set(preds["variant"]) == {"base", "v0"}
    args = parser.parse_args(["rescore", str(out)])
    assert args.func(args) == 0
    assert "t3-text" in capsys.readouterr().out
    from ablate.core import UserError

    with pytest.raises(UserError, match="predictions.parquet"):
        rescore_dir(tmp_path)


def test_a_small_evaluation_is_generated_in_quarters_so_progress_shows():
    """720 requests (under one CHUNK) go to the engine in four calls, each followed by a progress report;
    a large one keeps CHUNK-sized calls."""
    from types import SimpleNamespace

    from ablate.eval.stage import CHUNK, generate_chunks

    class Engine:
        requests, seconds, calls = 0, 0.0, []

        def cached(self, keys):
            return {}

        def generate(self, keys, reqs):
            self.calls.append(len(reqs))
            self.requests += len(reqs)
            self.seconds += 1.0
            return {k: {"text": "A"} for k in keys}

    class Builder:
        def request(self, p, lane, sampling, memo):
            return object(), 0

    for n, calls in ((720, [180] * 4), (10, [10]), (5000, [CHUNK] * 4 + [5000 - 4 * CHUNK])):
        item = SimpleNamespace(item_id="i", modality="text", prompt="p")
        work = [("v", SimpleNamespace(error=None, item=item, vhash=None, ids=(i,)), f"k{i}") for i in range(n)]
        advances = []
        tally = SimpleNamespace(advance=lambda done, hits, rate=None: advances.append(done))
        eng = Engine()
        eng.calls = []
        replies, hits = generate_chunks(work, Builder(), eng, {"v": None}, None, tally)
        assert eng.calls == calls and len(replies) == n and not hits
        assert advances[1:] == calls  # one report after each engine call (the first: cached items)
