"""Scorers on tricky replies, score tables (CI, M-Avg, both Video-MME conventions) and rescore."""

from __future__ import annotations

import math

import polars as pl
import pytest

from ablate.eval.scoring import rescore, score_reply, scores_from_rows, wilson

MC = ("A. left", "B. right", "C. up", "D. down")


@pytest.mark.parametrize("reply,correct,status", [
    ("B", True, "matched"), ("B.", True, "matched"), ("(B)", True, "matched"), ("B)", True, "matched"),
    ("B. right", True, "matched"), ("  B. right\n", True, "matched"), ("right", True, "matched"),
    ("(B) right", True, "matched"), ("A", False, "matched"), ("A. left", False, "matched"),
    ("I think it moves to the right", True, "matched"), ("", False, "unmatched"), ("E", False, "unmatched"),
    ("B is the answer", True, "matched"),  # judge-free fallbacks (tests/test_eval_scoring_tempcompass.py)
])
def test_tempcompass_multi_choice(reply, correct, status):
    parsed, st, ok = score_reply("tempcompass-mc", reply, MC, "B. right")
    assert (ok, st) == (correct, status)


@pytest.mark.parametrize("reply", ["I think it moves to the right", "B is the answer", "right", "(B) right"])
def test_tempcompass_multi_choice_official_mode(reply):
    # the official rules: reply == answer, a bare letter, an "X." / "X)" prefix; the rest goes to a judge
    assert score_reply("tempcompass-mc", reply, MC, "B. right", mode="official") == (None, "unmatched", False)


def test_tempcompass_caption_matching():
    opts = ("Caption A: The square appears then vanishes.", "Caption B: The square vanishes then appears.")
    ans = opts[1]
    assert score_reply("tempcompass-cm", "Caption B", opts, ans)[2]
    assert score_reply("tempcompass-cm", "B", opts, ans)[2]
    assert score_reply("tempcompass-cm", "The square vanishes then appears.", opts, ans)[2]
    assert score_reply("tempcompass-cm", opts[1], opts, ans)[2]
    assert not score_reply("tempcompass-cm", "Caption A", opts, ans)[2]
    assert score_reply("tempcompass-cm", "neither", opts, ans)[1] == "unmatched"
    nums = ("Option 1: the square grows", "Option 2: the square shrinks")
    assert score_reply("tempcompass-cm", "Option 1", nums, nums[0])[2]
    assert score_reply("tempcompass-cm", "1", nums, nums[0])[2]
    assert not score_reply("tempcompass-cm", "2", nums, nums[0])[2]


@pytest.mark.parametrize("reply,answer,correct,status", [
    ("yes", "yes", True, "matched"), ("Yes, it does.", "yes", True, "matched"), ("NO", "no", True, "matched"),
    ("no.", "yes", False, "matched"), ("Maybe yes", "yes", False, "unmatched"), ("", "no", False, "unmatched"),
])
def test_yes_no(reply, answer, correct, status):
    assert score_reply("yes_no", reply, (), answer)[1:] == (status, correct)


@pytest.mark.parametrize("reply,parsed,status", [
    ("A", "A", "matched"), ("The best answer is C.", "C", "matched"), ("Answer: (D)", "D", "matched"),
    ("b", None, "unanswered"),  # the official regex is case-sensitive
    ("i am not sure which one of these options would be the right one here", None, "unanswered"),
    ("A cat walks", "A", "matched"),  # the official rule takes the first capital A-D anywhere
])
def test_videomme(reply, parsed, status):
    p, st, _ = score_reply("videomme", reply, (), "A")
    assert (p, st) == (parsed, status)


@pytest.mark.parametrize("reply,parsed,correct", [
    ("(B) blue, red", "B", True), ("B) blue", "B", True), ("B", "B", True), ("b.", "B", True),
    ("(A) red, blue", "A", False), ("blue, red", None, False), ("The answer is (B)", None, False),
])
def test_mlvu(reply, parsed, correct):
    p, _, ok = score_reply("mlvu", reply, ("red, blue", "blue, red"), "B")
    assert (p, ok) == (parsed, correct)


@pytest.mark.parametrize("reply,answer,correct,status", [
    ("(C) from loose to tight", "C", True, "matched"), ("C", "C", True, "matched"), ("C.", "C", True, "matched"),
    ("from loose to tight", "C", True, "matched"), ("From loose to tight.", "C", True, "matched"),
    ("(A) x", "C", False, "matched"), ("(F) nothing", "C", False, "unmatched"), ("tight", "C", False, "unmatched"),
    ("A red circle", "A", False, "unmatched"),  # a sentence starting with "A" is not the letter A
    # t3-text: the answer may be a full option line or a list of accepted strings (newline-joined)
    ("(C) from loose to tight", "(C) from loose to tight", True, "matched"),
    ("ball", "(A)\nball", True, "matched"), ("(A)", "(A)\nball", True, "matched"), ("(B) box", "(A)\nball", False, "matched"),
])
def test_t3(reply, answer, correct, status):
    opts = ("x", "y", "from loose to tight", "z") if "ball" not in answer else ("ball", "box")
    assert score_reply("t3", reply, opts, answer)[1:] == (status, correct)


def test_error_reply_is_an_error_row():
    assert score_reply("t3", None, ("a",), "A") == (None, "error", False)


def test_wilson_bounds():
    lo, hi = wilson(0, 10)
    assert lo == 0 and 0.2 < hi < 0.35
    lo, hi = wilson(50, 100)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-9
    assert all(math.isnan(x) for x in wilson(0, 0))


def _pred(variant, bench, task, aspect, sub, reply, answer, scorer="mlvu", options=("a", "b"), error=None):
    return {"variant": variant, "benchmark": bench, "task": task, "aspect": aspect, "sub_dim": sub, "reply": reply,
            "answer": answer, "options": list(options), "scorer": scorer, "error": error,
            "parsed": None, "match_status": None, "correct": None}


def test_rescore_mlvu_macro_average_and_errors():
    rows = [_pred("v", "mlvu", "order", "order", "all", "(A)", "A"), _pred("v", "mlvu", "order", "order", "all", "(A)", "B"),
            _pred("v", "mlvu", "count", "count", "all", "(B)", "B"),
            _pred("v", "mlvu", "count", "count", "all", None, "B", error="video missing")]
    df = rescore(pl.DataFrame(rows))
    overall = df.filter((pl.col("aspect") == "all") & (pl.col("sub_dim") == "all")).row(0, named=True)
    assert (overall["n"], overall["n_correct"], overall["n_error"]) == (4, 2, 1)
    mavg = df.filter(pl.col("aspect") == "m-avg").row(0, named=True)
    assert mavg["accuracy"] == pytest.approx((0.5 + 0.5) / 2)
    assert df.filter(pl.col("aspect") == "task:count")["accuracy"][0] == 0.5
    assert set(df.columns) >= {"variant", "benchmark", "aspect", "sub_dim", "n", "n_correct", "accuracy", "ci_low", "ci_high"}


def test_videomme_both_conventions():
    rows = [_pred("v", "videomme", "videomme", "Temporal Reasoning", "short", r, "A", scorer="videomme")
            for r in ("A", "B", "this reply has many words but no option letter in it at all really")]
    s = scores_from_rows([{**r, **dict(zip(("parsed", "match_status", "correct"),
                                            score_reply("videomme", r["reply"], (), "A")))} for r in rows])
    top = next(x for x in s if x["aspect"] == "all")
    assert top["accuracy"] == pytest.approx(1 / 3)  # unanswered counts as wrong
    assert top["accuracy_answered"] == pytest.approx(1 / 2)  # official: unanswered left out
    assert top["n_unanswered"] == 1
