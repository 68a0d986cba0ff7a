"""Each benchmark loader on its fixture copy of the real format; malformed files; path safety."""

from __future__ import annotations

import json
import os

import pytest

from ablate.eval.benchmarks import BenchSpec, load_items
from ablate.core import UserError
from ablate.eval.video import VideoError, load_frames, resolve_video


def _by_id(items):
    return {it.item_id: it for it in items}


def test_tempcompass(bench_data):
    items = load_items(BenchSpec("tempcompass", bench_data / "tempcompass"))
    by = _by_id(items)
    assert len(items) == 3 + 4 + 2
    mc = by["v001/multi-choice/direction/0"]
    assert mc.options == ("A. left", "B. right", "C. up", "D. down") and mc.answer == "B. right"
    assert mc.prompt.endswith("\nPlease directly give the best option:") and mc.sub_dim == "object motion"
    assert mc.video == "videos/v001.mp4" and mc.scorer == "tempcompass-mc" and mc.modality == "video"
    yn = by["v001/yes_no/direction/0"]
    assert yn.prompt.endswith("\nPlease answer yes or no:") and yn.options == () and yn.scorer == "yes_no"
    assert by["v002_reverse/multi-choice/order/0"].sub_dim == "order"  # meta_info: order has no type
    assert by["v001/caption_matching/attribute_change/0"].sub_dim == "size & shape"
    only = load_items(BenchSpec("tempcompass", bench_data / "tempcompass", {"tasks": ["yes_no"]}))
    assert {it.task for it in only} == {"yes_no"}
    with pytest.raises(UserError, match="unknown task"):
        load_items(BenchSpec("tempcompass", bench_data / "tempcompass", {"tasks": ["captioning"]}))


def test_tempcompass_malformed_file_names_it(bench_data):
    f = bench_data / "tempcompass" / "questions" / "yes_no.json"
    f.write_text('{"v001": {"speed": [}')
    with pytest.raises(UserError, match="yes_no.json:1"):
        load_items(BenchSpec("tempcompass", bench_data / "tempcompass"))
    f.write_text(json.dumps(["not", "a", "dict"]))
    with pytest.raises(UserError, match="yes_no.json"):
        load_items(BenchSpec("tempcompass", bench_data / "tempcompass"))


def test_world_video_uses_tempcompass_layout(bench_data):
    items = load_items(BenchSpec("world-video", bench_data / "tempcompass"))
    assert items and all(it.benchmark == "world-video" for it in items)


def test_videomme_full_and_temporal(bench_data):
    items = load_items(BenchSpec("videomme", bench_data / "videomme"))
    by = _by_id(items)
    assert len(items) == 4
    a = by["001-1"]
    assert a.options == ("A. one", "B. two", "C. three", "D. four") and a.answer == "A"
    assert a.aspect == "Temporal Perception" and a.sub_dim == "short" and a.video == "data/vidA.mp4"
    assert a.prompt.endswith("The best answer is:") and "D. four" in a.prompt
    assert by["002-1"].video == "data/vidB.MP4"  # upper-case extension found on disk
    temporal = load_items(BenchSpec("videomme", bench_data / "videomme", {"subset": "temporal"}))
    assert {it.aspect for it in temporal} == {"Temporal Perception", "Temporal Reasoning"}
    with pytest.raises(UserError, match="subset"):
        load_items(BenchSpec("videomme", bench_data / "videomme", {"subset": "long"}))


def test_videomme_missing_column(bench_data, tmp_path):
    import polars as pl

    f = bench_data / "videomme" / "videomme" / "test-00000-of-00001.parquet"
    pl.read_parquet(f).drop("answer").write_parquet(f)
    with pytest.raises(UserError, match="test-00000-of-00001.parquet: missing column"):
        load_items(BenchSpec("videomme", bench_data / "videomme"))


def test_mlvu_github_shape(bench_data):
    items = load_items(BenchSpec("mlvu", bench_data / "mlvu"))
    by = _by_id(items)
    assert set(by) == {"order/0", "needle/0", "needle/1"}  # 8_sub_scene (generation) skipped
    o = by["order/0"]
    assert o.answer == "B" and o.options[1] == "blue, red" and "(B) blue, red" in o.prompt
    assert o.video == "video/5_order/order_1.mp4" and o.aspect == "order"
    assert by["needle/0"].answer == "A" and by["needle/0"].aspect == "needle"  # findNeedle -> needle


def test_mlvu_hf_shape(bench_data):
    items = load_items(BenchSpec("mlvu", bench_data / "mlvu_hf"))
    by = _by_id(items)
    assert set(by) == {"order/order_0", "count/count_0"}  # summary skipped
    o = by["order/order_0"]
    assert o.answer == "B" and o.prompt.count("(A)") == 1 and o.video == "video/order_1.mp4"


def test_t3_text_field_fallbacks(bench_data):
    items = load_items(BenchSpec("t3-text", bench_data / "t3text"))
    by = _by_id(items)
    assert by["order_val/o1"].answer == "(B) the cat" and by["order_val/o1"].options == ("the dog", "the cat")
    alt = by["order_val/7"]  # id + prompt + label list
    assert alt.answer.split("\n") == ["(A)", "ball"] and alt.options == ("ball", "box")
    assert by["order_val/o3"].error and "answer" in by["order_val/o3"].error
    assert by["attribute_val/a1"].aspect == "attribute" and by["order_val/o1"].aspect == "order"
    bad = bench_data / "t3text" / "order_val.jsonl"
    bad.write_text('{"question": "q", "answer": "A"}\n{broken\n')
    with pytest.raises(UserError, match="order_val.jsonl:2"):
        load_items(BenchSpec("t3-text", bench_data / "t3text"))


def test_t3_probe(bench_data):
    items = load_items(BenchSpec("t3-probe", bench_data / "t3probe"))
    assert len(items) == 4 and items[0].answer == "A" and items[0].options == ("x0", "y0")
    assert items[0].prompt.startswith("Captions:") and items[1].aspect == "attribute" and items[1].sub_dim == "lighting"
    assert load_items(BenchSpec("t3-probe", bench_data / "t3probe", {"limit": 2}))[-1].item_id == "p1"


def test_world_text(tmp_path):
    import polars as pl

    pl.DataFrame([{"qid": "v1/multi-choice/order/0", "video_id": "v1", "task": "multi-choice", "aspect": "order",
                   "sub_dim": "order", "prompt": "Captions:\na\nQuestion: q\n(A) x\n(B) y", "options": ["x", "y"], "answer": "B"},
                  {"qid": "v1/yes_no/order/0", "video_id": "v1", "task": "yes_no", "aspect": "order", "sub_dim": "order",
                   "prompt": "Captions:\na\nQuestion: q?", "options": [], "answer": "no"}]).write_parquet(tmp_path / "text_twin.parquet")
    items = load_items(BenchSpec("world-text", tmp_path))
    assert [it.scorer for it in items] == ["t3", "yes_no"] and items[0].item_id == "v1/multi-choice/order/0"


def test_unknown_benchmark_and_missing_path(tmp_path):
    with pytest.raises(UserError, match="unknown benchmark"):
        BenchSpec("nope")
    with pytest.raises(UserError, match="not found"):
        load_items(BenchSpec("mlvu", tmp_path / "absent"))


def test_video_paths_stay_inside_root(bench_data, tmp_path):
    root = bench_data / "tempcompass"
    assert resolve_video(root, "videos/v001.mp4").name == "v001.mp4"
    for bad in ("videos/../../outside.mp4", "/etc/passwd", "", "videos/../videos/v001.mp4"):
        with pytest.raises(VideoError):
            resolve_video(root, bad)
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "videos" / "link.mp4")
    with pytest.raises(VideoError, match="outside"):
        resolve_video(root, "videos/link.mp4")
    with pytest.raises(VideoError, match="not found"):
        resolve_video(root, "videos/v404.mp4")


def test_frames_decoded_uniformly_and_cached(bench_data):
    p = resolve_video(bench_data / "tempcompass", "videos/v001.mp4")
    a = load_frames(p, frames=4, size=16)
    assert a.shape == (4, 16, 16, 3) and a.dtype.name == "uint8"
    assert (a[0] != a[-1]).any()  # the square moved: first and last sampled frames differ
    b = load_frames(p, frames=4, size=16)
    assert (a == b).all()
    with pytest.raises(VideoError, match="decode"):
        load_frames(bench_data / "videomme" / "data" / "vidC.mp4", frames=4, size=16)


def test_one_frame_sampling_rule():
    """Evaluation and the base's own checks sample frames with ablate.base.video.frame_indices."""
    from ablate.base.video import frame_indices

    assert frame_indices(8, 8) == list(range(8))  # the world's 8-frame videos: every frame
    assert frame_indices(100, 4) == [0, 33, 66, 99]  # first and last included (LLaVA / LongVA linspace)
    assert frame_indices(3, 5) == [0, 0, 1, 2, 2]
