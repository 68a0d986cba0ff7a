"""The report recomputes every number from per-item predictions (no inference needed).

    .venv/bin/pytest tests/test_sweep_report.py -q
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ablate.eval.scoring import wilson
from ablate.sweep.report import build_report
from ablate.sweep.report_stats import paired_deltas, results_table, variants_frame

ASPECTS = ["order", "attribute_change", "direction"]


def _preds(rng, acc: dict[str, float], bench: str, modality: str, n: int = 60) -> list[dict]:
    rows = []
    for vid, p in acc.items():
        for i in range(n):
            rows.append({"variant": vid, "adapter_sha256": None if vid == "b" else f"sha-{vid}", "benchmark": bench,
                         "item_id": f"{bench}/{i}", "modality": modality, "task": "multi-choice",
                         "aspect": ASPECTS[i % 3], "sub_dim": "x", "reply": "A", "parsed": "A",
                         "match_status": "matched", "correct": bool(rng.random() < p), "prompt_tokens": 10,
                         "gen_tokens": 2, "latency_s": 0.01, "error": None})
    return rows


@pytest.fixture()
def sweep():
    rng = np.random.default_rng(1)
    text = {"b": 0.3, "v1": 0.5, "v2": 0.6, "v3": 0.8}
    video = {"b": 0.35, "v1": 0.4, "v2": 0.5, "v3": 0.6}
    pred = pl.DataFrame(_preds(rng, text, "t3-probe", "text") + _preds(rng, video, "world-video", "video"))
    record = {"name": "unit", "recipe_path": "recipes/unit.toml", "description": "unit test sweep",
              "variants": [
                  {"id": "b", "label": "base", "mix": None, "volume": 0, "status": "done"},
                  {"id": "v1", "label": "all/v250", "mix": "all", "volume": 250, "status": "done"},
                  {"id": "v2", "label": "all/v500", "mix": "all", "volume": 500, "status": "done"},
                  {"id": "v3", "label": "all/v1000", "mix": "all", "volume": 1000, "status": "done"},
                  {"id": "bad", "label": "all/v2000", "mix": "all", "volume": 2000, "status": "failed",
                   "failed_stage": "train", "error": "boom", "log": "runs/train/x.log"}]}
    return record, pred


def test_accuracy_and_ci_recomputed(sweep):
    record, pred = sweep
    res = results_table(pred, variants_frame(record))
    for (vid, bench), g in pred.group_by(["variant", "benchmark"]):
        row = res.filter((pl.col("variant") == vid) & (pl.col("benchmark") == bench) & (pl.col("aspect") == "all"))
        k, n = int(g["correct"].sum()), g.height
        assert row["n"][0] == n and row["n_correct"][0] == k
        assert row["accuracy"][0] == pytest.approx(k / n)
        assert (row["ci_low"][0], row["ci_high"][0]) == pytest.approx(wilson(k, n))
    # per aspect
    sub = pred.filter((pl.col("variant") == "v2") & (pl.col("benchmark") == "world-video") & (pl.col("aspect") == "order"))
    row = res.filter((pl.col("variant") == "v2") & (pl.col("benchmark") == "world-video") & (pl.col("aspect") == "order"))
    assert row["accuracy"][0] == pytest.approx(sub["correct"].mean())


def test_paired_delta_matches_items(sweep):
    _, pred = sweep
    d = paired_deltas(pred, "b")
    row = d.filter((pl.col("variant") == "v3") & (pl.col("benchmark") == "t3-probe") & (pl.col("aspect") == "all")).to_dicts()[0]
    a = pred.filter((pl.col("variant") == "v3") & (pl.col("benchmark") == "t3-probe")).sort("item_id")["correct"].cast(int).to_numpy()
    b = pred.filter((pl.col("variant") == "b") & (pl.col("benchmark") == "t3-probe")).sort("item_id")["correct"].cast(int).to_numpy()
    assert row["delta"] == pytest.approx((a - b).mean())
    assert row["delta_ci_low"] < row["delta"] < row["delta_ci_high"]
    # a CI from a paired bootstrap is narrower than the unpaired normal interval would be far off: sanity
    assert row["delta_ci_high"] - row["delta_ci_low"] < 0.5
    # deterministic
    assert paired_deltas(pred, "b").equals(d)


def test_wilson_known_value():
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)


def test_build_report_sections_and_files(sweep, tmp_path):
    record, pred = sweep
    path = build_report(record, pred, tmp_path)
    md = path.read_text()
    for section in ["## Run summary", "## Scaling grid", "## Task-mix table", "## Text vs video correlation",
                    "## Per-benchmark breakdown", "**Failures**"]:
        assert section in md
    assert "runs/train/x.log" in md and "boom" in md
    res = pl.read_parquet(tmp_path / "results.parquet")
    assert set(res["benchmark"]) == {"t3-probe", "world-video"}
    assert (tmp_path / "results.csv").exists()
    assert (tmp_path / "scaling_world-video.png").stat().st_size > 1000
    assert (tmp_path / "corr_t3-probe_vs_world-video.png").stat().st_size > 1000
    # correlation number in the report equals scipy's on the recomputed accuracies
    from scipy import stats

    o = res.filter(pl.col("aspect") == "all").sort("variant")
    x = o.filter(pl.col("benchmark") == "t3-probe")["accuracy"].to_numpy()
    y = o.filter(pl.col("benchmark") == "world-video")["accuracy"].to_numpy()
    r = stats.pearsonr(x, y)[0]
    assert f"{r:.2f} (p=" in md
    # a base accuracy in the scaling table is the recomputed one
    base_acc = pred.filter((pl.col("variant") == "b") & (pl.col("benchmark") == "world-video"))["correct"].mean()
    assert f"| all | {100 * base_acc:.1f} |" in md


def test_item_level_transfer_from_text_twin():
    from ablate.sweep.report_stats import item_transfer

    rows = []
    # 4 items per variant: text right on items 0, 1; video right on 0 and 2
    for i, (tc, vc) in enumerate([(True, True), (True, False), (False, True), (False, False)]):
        for bench, c in (("world-text", tc), ("world-video", vc)):
            rows.append({"variant": "v", "benchmark": bench, "item_id": f"w{i}/multi-choice/order/0", "aspect": "order",
                         "correct": c})
    tr = item_transfer(pl.DataFrame(rows))
    r = tr.filter(pl.col("aspect") == "all").to_dicts()[0]
    assert (r["n"], r["n_text_right"]) == (4, 2)
    assert r["p_video_given_text_right"] == 0.5 and r["p_video_given_text_wrong"] == 0.5 and r["agreement"] == 0.5


def test_report_has_transfer_and_format_sections(sweep, tmp_path):
    record, pred = sweep
    twin = pred.filter(pl.col("benchmark") == "world-video").with_columns(pl.lit("world-text").alias("benchmark"),
                                                                         pl.lit("text").alias("modality"))
    md = build_report(record, pl.concat([pred, twin]), tmp_path).read_text()
    assert "## Item-level transfer" in md and "video right when text right %" in md
    assert "## Reply formats on world-video" in md


def _verdict_case(text: dict, video: dict, n: int = 200):
    from ablate.sweep.report_sections import chance_levels, verdict

    rng = np.random.default_rng(3)
    rows = _preds(rng, text, "t3-probe", "text", n) + _preds(rng, video, "world-video", "video", n)
    pred = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.lit(["a", "b", "c", "d"]).alias("options"))
    record = {"name": "unit", "variants": [{"id": v, "label": "base" if v == "b" else f"all/{v}", "mix": None if v == "b" else "all",
                                           "volume": 0 if v == "b" else 100 * (i + 1), "status": "done"}
                                          for i, v in enumerate(text)]}
    res = results_table(pred, variants_frame(record))
    return verdict(res, chance_levels(pred))


def test_outcome_reading_tells_the_three_cases_apart():
    rows, reading = _verdict_case({"b": 0.25, "v1": 0.7}, {"b": 0.25, "v1": 0.6})
    assert {r[0]: r[-1] for r in rows} == {"`t3-probe`": "gain", "`world-video`": "gain"}
    assert reading.startswith("Video accuracy rose on world-video")
    rows, reading = _verdict_case({"b": 0.25, "v1": 0.7}, {"b": 0.25, "v1": 0.25})
    assert {r[0]: r[-1] for r in rows}["`world-video`"] == "no measurable change"
    assert "no text-to-video transfer was measured" in reading
    # a base that answers out of format (5%) and a trained model guessing in format (25%): only "to chance"
    rows, reading = _verdict_case({"b": 0.05, "v1": 0.25}, {"b": 0.25, "v1": 0.24})
    assert {r[0]: r[-1] for r in rows}["`t3-probe`"] == "to chance"
    assert "taught nothing measurable" in reading and "rose only to chance" in reading
    assert [r[3] for r in rows] == ["25.0", "25.0"]  # chance column: 1 / 4 options
