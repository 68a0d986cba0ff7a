"""Hostile benchmark directories through `ablate eval`, one or more cases per loader.

A malformed benchmark file stops the run before any engine starts (exit 2, the file named, with its
line where JSON has one). A bad item (video outside the root, missing, empty, truncated; an answer
that is not among its options, no options) becomes an error row with its reason, and the other items
are still answered. The base is the random micro LLaVA of tests/fixtures_eval.py (seconds to build);
a directory whose items are all error rows starts no engine at all.

    python -m pytest -q tests/hostile/test_hostile_benchmarks.py
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from fixtures_eval import write_video

MC = "What happens?\nA. it spins\nB. it grows\nC. it shrinks"


def evaluate(cli, base, bench: str, path, tmp_path, *extra):
    out = tmp_path / "eval-out"
    r = cli("eval", "--base", base.root, "--bench", f"{bench}={path}", "--out", out, "--engine", "hf",
            "--frames", "4", "--max-tokens", "4", *extra)
    return r, out


def errors(out: Path) -> dict[str, str | None]:
    df = pl.read_parquet(out / "predictions.parquet")
    assert set(df.filter(pl.col("error").is_not_null())["match_status"]) <= {"error"}
    return dict(zip(df["item_id"], df["error"]))


def tempcompass(root: Path, mc: dict | None = None, yes_no: dict | None = None, videos=()) -> Path:
    (root / "questions").mkdir(parents=True, exist_ok=True)
    if mc is not None:
        (root / "questions" / "multi-choice.json").write_text(json.dumps(mc))
    if yes_no is not None:
        (root / "questions" / "yes_no.json").write_text(json.dumps(yes_no))
    for vid in videos:
        write_video(root / "videos" / f"{vid}.mp4", frames=8)
    return root


def q(vid, question=MC, answer="B. it grows", aspect="action"):
    return {vid: {aspect: [{"question": question, "answer": answer}]}}


# ---- TempCompass (and the world bench, same loader) ------------------------------------------------

def test_tempcompass_bad_items_are_error_rows(cli, eval_base, tmp_path):
    root = tmp_path / "tc"
    outside = write_video(tmp_path / "outside.mp4")
    mc = {**q("../../outside"), **q("link"), **q("empty"), **q("cut"), **q("missing"),
          **q("not_an_option", answer="D. it flies"), **q("no_options", question="What happens?"),
          **{"bad_record": {"action": [{"question": 3}]}}}
    tempcompass(root, mc, yes_no=q("maybe", question="Is it red?", answer="maybe"), videos=["not_an_option", "no_options", "maybe"])
    (root / "videos" / "link.mp4").symlink_to(outside)
    (root / "videos" / "empty.mp4").write_bytes(b"")
    good = (root / "videos" / "not_an_option.mp4").read_bytes()
    (root / "videos" / "cut.mp4").write_bytes(good[: len(good) // 2])
    r, out = evaluate(cli, eval_base, "tempcompass", root, tmp_path)
    r.ok()
    e = errors(out)
    assert "contains '..'" in e["../../outside/multi-choice/action/0"]
    assert "resolves outside the benchmark root" in e["link/multi-choice/action/0"]
    assert "cannot decode video empty.mp4" in e["empty/multi-choice/action/0"]
    assert "cannot decode video cut.mp4" in e["cut/multi-choice/action/0"]
    assert "video 'videos/missing.mp4' not found" in e["missing/multi-choice/action/0"]
    assert "cannot be scored: answer 'D. it flies' is not among the options" in e["not_an_option/multi-choice/action/0"]
    assert "cannot be scored: multiple-choice item with 0 option(s)" in e["no_options/multi-choice/action/0"]
    assert "needs string `question` and `answer`" in e["bad_record/multi-choice/action/0"]
    assert "cannot be scored: yes/no answer 'maybe' is neither yes nor no" in e["maybe/yes_no/action/0"]
    assert str(root) in e["not_an_option/multi-choice/action/0"]  # the reason names the benchmark file's root
    scores = pl.read_parquet(out / "scores.parquet").filter(aspect="all", sub_dim="all")
    assert scores["n_error"].to_list() == [scores["n"][0]] == [9]


def test_one_frame_video_is_answered_beside_an_error_row(cli, eval_base, tmp_path):
    root = tempcompass(tmp_path / "tc", {**q("one"), **q("not_an_option", answer="Z. nothing")})
    write_video(root / "videos" / "one.mp4", frames=1)
    write_video(root / "videos" / "not_an_option.mp4")
    r, out = evaluate(cli, eval_base, "tempcompass", root, tmp_path)
    r.ok()
    df = pl.read_parquet(out / "predictions.parquet")
    one = df.filter(pl.col("item_id") == "one/multi-choice/action/0").row(0, named=True)
    assert one["error"] is None and one["reply"] is not None and one["match_status"] in ("matched", "unmatched")
    assert "not among the options" in df.filter(pl.col("item_id") == "not_an_option/multi-choice/action/0")["error"][0]


def test_world_video_answer_not_among_options(cli, eval_base, tmp_path):
    root = tempcompass(tmp_path / "world" / "bench", q("w1", answer="C. it stays"), videos=["w1"])
    r, out = evaluate(cli, eval_base, "world-video", tmp_path / "world", tmp_path)
    r.ok()
    assert "not among the options" in errors(out)["w1/multi-choice/action/0"]


def test_tempcompass_without_question_files(cli, eval_base, tmp_path):
    (tmp_path / "tc" / "videos").mkdir(parents=True)
    evaluate(cli, eval_base, "tempcompass", tmp_path / "tc", tmp_path)[0].user_error(
        f"{tmp_path / 'tc'}: no questions/")


def test_tempcompass_malformed_json(cli, eval_base, tmp_path):
    root = tempcompass(tmp_path / "tc")
    (root / "questions" / "multi-choice.json").write_text('{"v1": {"action": [\n  {"question": "x", \n')
    r, out = evaluate(cli, eval_base, "tempcompass", root, tmp_path)
    r.user_error(f"{root / 'questions' / 'multi-choice.json'}:3:", "invalid JSON")
    assert not out.exists()


def test_tempcompass_questions_of_wrong_shape(cli, eval_base, tmp_path):
    root = tempcompass(tmp_path / "tc")
    (root / "questions" / "multi-choice.json").write_text('[{"question": "x", "answer": "y"}]')
    evaluate(cli, eval_base, "tempcompass", root, tmp_path)[0].user_error(
        "multi-choice.json: expected an object {video_id: {aspect: [questions]}}")


def test_tempcompass_malformed_meta_info(cli, eval_base, tmp_path):
    root = tempcompass(tmp_path / "tc", q("v1"), videos=["v1"])
    (root / "meta_info.json").write_bytes(b"\x00\x01 not json")
    evaluate(cli, eval_base, "tempcompass", root, tmp_path)[0].user_error(f"{root / 'meta_info.json'}")


def test_benchmark_path_missing(cli, eval_base, tmp_path):
    evaluate(cli, eval_base, "tempcompass", tmp_path / "nope", tmp_path)[0].user_error(
        "nope: benchmark tempcompass not found")


# ---- Video-MME -----------------------------------------------------------------------------------

def videomme(root: Path, rows: list[dict]) -> Path:
    (root / "videomme").mkdir(parents=True, exist_ok=True)
    full = [{"videoID": "vidA", "question_id": f"q{i}", "task_type": "Temporal Reasoning", "duration": "short",
             "question": "What comes first?", "options": ["A. a", "B. b", "C. c", "D. d"], "answer": "B", **r}
            for i, r in enumerate(rows)]
    pl.DataFrame(full, schema_overrides={"options": pl.List(pl.String)}).write_parquet(
        root / "videomme" / "test-00000-of-00001.parquet")
    write_video(root / "data" / "vidA.mp4")
    return root


def test_videomme_bad_items_are_error_rows(cli, eval_base, tmp_path):
    root = videomme(tmp_path / "vm", [{"answer": "E"}, {"options": []}, {"videoID": "../../escape"},
                                      {"options": ["A. a", "A. a", "C. c", "D. d"]}])
    r, out = evaluate(cli, eval_base, "videomme", root, tmp_path)
    r.ok()
    e = errors(out)
    assert "answer 'E' is not the letter of one of the 4 options" in e["q0"]
    assert "multiple-choice item with 0 option(s)" in e["q1"]
    assert "contains '..'" in e["q2"]
    assert "duplicate options" in e["q3"]


def test_videomme_truncated_parquet(cli, eval_base, tmp_path):
    root = videomme(tmp_path / "vm", [{}])
    f = root / "videomme" / "test-00000-of-00001.parquet"
    f.write_bytes(f.read_bytes()[:100])
    evaluate(cli, eval_base, "videomme", root, tmp_path)[0].user_error(f"{f}: cannot read Parquet")


def test_videomme_missing_column(cli, eval_base, tmp_path):
    (tmp_path / "vm" / "videomme").mkdir(parents=True)
    f = tmp_path / "vm" / "videomme" / "test.parquet"
    pl.DataFrame({"videoID": ["x"], "question": ["q"]}).write_parquet(f)
    evaluate(cli, eval_base, "videomme", tmp_path / "vm", tmp_path)[0].user_error(f"{f}: missing column(s)", "answer")


def test_videomme_no_parquet(cli, eval_base, tmp_path):
    (tmp_path / "vm").mkdir()
    evaluate(cli, eval_base, "videomme", tmp_path / "vm", tmp_path)[0].user_error("no videomme/*.parquet")


# ---- MLVU (GitHub JSON and HF Parquet shapes) -----------------------------------------------------

def test_mlvu_bad_items_are_error_rows(cli, eval_base, tmp_path):
    root = tmp_path / "mlvu"
    (root / "json").mkdir(parents=True)
    rec = {"video": "order_1.mp4", "duration": 10.0, "question": "Order?", "candidates": ["a", "b", "c", "d"],
           "question_type": "order"}
    (root / "json" / "5_order.json").write_text(json.dumps([
        {**rec, "answer": "e"}, {**rec, "candidates": [], "answer": "a"}, {**rec, "video": "/etc/passwd", "answer": "a"}]))
    pl.DataFrame({"video_name": ["order_1.mp4"], "question": ["Order? (A) a (B) b"], "candidates": [["a", "b"]],
                  "answer": ["F"], "task_type": ["order"], "question_id": ["h1"]}).write_parquet(root / "dev.parquet")
    write_video(root / "video" / "order_1.mp4")
    r, out = evaluate(cli, eval_base, "mlvu", root, tmp_path)
    r.ok()
    e = errors(out)
    assert "needs video, question, candidates and an answer among them" in e["order/0"]
    assert "needs video, question, candidates and an answer among them" in e["order/1"]
    assert "is absolute or empty" in e["order/2"]
    assert "answer 'F' is not the letter of one of the 2 options" in e["order/h1"]


def test_mlvu_malformed_json(cli, eval_base, tmp_path):
    (tmp_path / "mlvu" / "json").mkdir(parents=True)
    f = tmp_path / "mlvu" / "json" / "2_needle.json"
    f.write_text('[{"video": "x.mp4",')
    evaluate(cli, eval_base, "mlvu", tmp_path / "mlvu", tmp_path)[0].user_error(f"{f}:1:", "invalid JSON")


def test_mlvu_empty_dir(cli, eval_base, tmp_path):
    (tmp_path / "mlvu").mkdir()
    evaluate(cli, eval_base, "mlvu", tmp_path / "mlvu", tmp_path)[0].user_error("no MLVU json")


# ---- text benchmarks: t3-text, t3-probe, world-text -----------------------------------------------

def test_t3_text_answer_not_among_options_and_malformed_line(cli, eval_base, tmp_path):
    f = tmp_path / "order_val.jsonl"
    f.write_text(json.dumps({"qid": 1, "question": "Order?\n(A) x, y\n(B) y, x", "answer": "(C)"}) + "\n")
    r, out = evaluate(cli, eval_base, "t3-text", f, tmp_path)
    r.ok()
    assert "cannot be scored: answer '(C)' is not among the options" in errors(out)["order_val/1"]
    f.write_text(f.read_text() + '{"qid": 2, "question": \n')
    evaluate(cli, eval_base, "t3-text", f, tmp_path)[0].user_error(f"{f}:2: invalid JSON")


@pytest.mark.parametrize("damage", ["truncated", "zero-byte"])
def test_t3_probe_damaged_parquet(cli, eval_base, tmp_path, damage):
    from fixtures_eval import DATA

    f = tmp_path / "probe.parquet"
    data = (DATA / "t3probe" / "probe.parquet").read_bytes()
    f.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    evaluate(cli, eval_base, "t3-probe", f, tmp_path)[0].user_error(f"{f}: cannot read Parquet")


def test_world_text_missing_column(cli, eval_base, tmp_path):
    f = tmp_path / "text_twin.parquet"
    pl.DataFrame({"qid": ["a"], "prompt": ["p"]}).write_parquet(f)
    evaluate(cli, eval_base, "world-text", f, tmp_path)[0].user_error(f"{f}: missing column(s)")
