"""Rule-based scorers (no LLM judge) and score tables computed from predictions alone.

    from ablate.eval.scoring import score, score_reply, rescore, rescore_predictions
    parsed, status, correct = score_reply("tempcompass-mc", "(B) slower", ("A. faster", "B. slower"), "B. slower")
    score("tempcompass-mc", "**B. slower**", ("A. faster", "B. slower"), "B. slower").rule   # 'fallback:markdown'
    scores = rescore(pl.read_parquet("runs/eval/x/predictions.parquet"), mode="official")

Scorers (each returns the rule that matched, the `match_rule` column of predictions.parquet):
- tempcompass-mc / tempcompass-cm / yes_no: ablate.eval.tempcompass_rules: the official TempCompass rules
  ("official:exact", "official:letter", "official:prefix", "official:sentence", "official:index"), then,
  unless mode="official", judge-free fallbacks ("fallback:normalized", "fallback:start",
  "fallback:markdown", "fallback:lead-phrase", "fallback:contained", "fallback:true-false") and, for
  replies still unmatched, "fallback:explicit" (an explicit choice anywhere) and "fallback:first-stated"
  (the option the reply states first); docs/scoring.md.
- videomme: official `extract_characters_regex`: drop answer phrases; a reply over 10 words with no
  A-D letter is "unanswered"; else the first A-D letter anywhere ("official:regex").
- mlvu: the letter before the first ")" (or a bare letter) ("official:letter").
- t3: a letter ("(C)", "C", "C.", "C)") or the option text itself, case-insensitive ("t3:exact",
  "t3:letter", "t3:option"); unless mode="official", the same after markdown / a lead phrase. For
  t3-text the answer may hold several accepted strings separated by newlines.
match_status: matched | unmatched (counted wrong) | unanswered (Video-MME; wrong in the strict
convention, left out in the official one) | error (no reply: the item or video failed).
Scoring modes: "ablate" (default) and "official" (the benchmarks' own rules only, unmatched = wrong,
as TempCompass's scripts with --disable_llm). Each scorer has a version; predictions record it and the
mode, and `rescore` / `rescore_predictions` always recompute with the current ones.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from ablate.eval import tempcompass_rules as tc
from ablate.eval import tempcompass_text as tct
from t3.layout import LETTERS  # option letters, defined once (T3 writes them, scorers read them)

SCORERS_VERSION = {"tempcompass-mc": 4, "tempcompass-cm": 4, "yes_no": 2, "videomme": 2, "mlvu": 2, "t3": 2}
SCORING_MODES = ("ablate", "official")  # official: the benchmarks' own rules only, unmatched = wrong
LETTER_RE = re.compile(r"^\(?([A-J])\)?[.:)]?$")
PREFIX_RE = re.compile(r"^\(?([A-J])[.:)]\)?\s+(.+)$|^\(([A-J])\)\s*(.+)$")


class Scored(NamedTuple):
    parsed: str | None
    status: str  # matched | unmatched | unanswered | error
    correct: bool
    rule: str  # match_rule: "official:exact", "fallback:markdown", ..., "unmatched", "error"


def norm_text(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip()).rstrip(".").strip().lower()


def _from_match(m: tc.Match) -> Scored:
    return Scored(m.parsed, "matched" if m.parsed is not None else "unmatched", m.correct, m.rule)


def _videomme(reply: str, answer: str) -> Scored:
    s = reply.strip()
    for p in _VMME_PREFIXES:
        s = s.replace(p, "")
    if len(s.split()) > 10 and not re.search("[ABCD]", s):
        return Scored(None, "unanswered", False, "unmatched")
    m = re.search("[ABCD]", s)
    if m is None:
        return Scored(None, "unanswered", False, "unmatched")
    return Scored(m.group(0), "matched", m.group(0) == answer.strip()[:1], "official:regex")


_VMME_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
                  "The correct option is", "Best answer:", "Best option:", "Answer:", "Option:")


def _mlvu(reply: str, answer: str) -> Scored:
    s = reply.strip()
    head = s.split(")")[0].strip().lstrip("(").strip() if ")" in s else s.rstrip(".").strip()
    if len(head) == 1 and head.upper() in LETTERS:
        return Scored(head.upper(), "matched", head.upper() == answer.strip()[:1].upper(), "official:letter")
    return Scored(None, "unmatched", False, "unmatched")


def _t3_rules(r: str, options: tuple[str, ...], accepted: list[str], gold_letters: set[str]) -> tuple[str, bool, str] | None:
    """T3's own rules on a stripped reply: an accepted string, a letter on the first line, an option's text."""
    if any(norm_text(r) == norm_text(a) for a in accepted):
        return r, True, "t3:exact"
    first = r.split("\n")[0].strip()
    m = LETTER_RE.match(first) or PREFIX_RE.match(first)  # not a bare first word: "A red circle" is no letter
    if m:
        letter = next(g for g in m.groups() if g and len(g) == 1)
        if not options or LETTERS.index(letter) < len(options):
            return letter, letter in gold_letters, "t3:letter"
    for k, o in enumerate(options):
        if norm_text(first) == norm_text(o):
            return LETTERS[k], LETTERS[k] in gold_letters, "t3:option"
    return None


def _t3(reply: str, options: tuple[str, ...], answer: str, official: bool) -> Scored:
    accepted = [a for a in answer.split("\n") if a.strip()]
    gold_letters = set()
    for a in accepted:
        m = LETTER_RE.match(a.strip()) or PREFIX_RE.match(a.strip())
        if m:
            gold_letters.add(next(g for g in m.groups() if g and len(g) == 1))
        elif a.strip() and options:
            gold_letters.update(LETTERS[k] for k, o in enumerate(options) if norm_text(o) == norm_text(a))
    r = reply.strip()
    got = _t3_rules(r, options, accepted, gold_letters)
    if got is None and not official:  # the reply shapes real models add around T3's own forms
        t1 = tct.strip_markdown(r)
        t2 = tct.drop_lead(t1)
        for text, rule in ((t1, "fallback:markdown"), (t2, "fallback:lead-phrase")):
            if text != r and not tct.is_refusal(text) and (hit := _t3_rules(text, options, accepted, gold_letters)):
                got = (hit[0], hit[1], rule)
                break
    if got is None:
        return Scored(None, "unmatched", False, "unmatched")
    return Scored(got[0], "matched", got[1], got[2])


def score(scorer: str, reply: str | None, options: tuple[str, ...] | list[str], answer: str,
          mode: str = "ablate") -> Scored:
    """Scored(parsed, status, correct, rule) for one reply; reply None means the item errored.

    mode "official": the benchmarks' own rules only (TempCompass as its scripts with --disable_llm);
    "ablate": those first, then the judge-free fallbacks of ablate.eval.tempcompass_rules.
    """
    if mode not in SCORING_MODES:
        raise KeyError(f"unknown scoring mode {mode!r}; choose from {list(SCORING_MODES)}")
    if reply is None:
        return Scored(None, "error", False, "error")
    options = tuple(options or ())
    official = mode == "official"
    if scorer == "tempcompass-mc":
        return _from_match(tc.match_choice(reply, options, answer, "multi-choice", official))
    if scorer == "tempcompass-cm":
        return _from_match(tc.match_choice(reply, options, answer, "caption_matching", official))
    if scorer == "yes_no":
        return _from_match(tc.match_yes_no(reply, answer, official))
    if scorer == "videomme":
        return _videomme(reply, answer)
    if scorer == "mlvu":
        return _mlvu(reply, answer)
    if scorer == "t3":
        return _t3(reply, options, answer, official)
    raise KeyError(f"unknown scorer {scorer!r}")


def score_reply(scorer: str, reply: str | None, options: tuple[str, ...] | list[str], answer: str,
                mode: str = "ablate") -> tuple[str | None, str, bool]:
    """(parsed answer, match_status, correct) for one reply (see `score` for the rule that matched)."""
    return score(scorer, reply, options, answer, mode)[:3]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval for k successes out of n (sane at 0 % and 100 %, unlike the normal one)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


SCORE_COLUMNS = ["variant", "benchmark", "aspect", "sub_dim", "n", "n_correct", "accuracy", "ci_low", "ci_high",
                 "n_unmatched", "n_unanswered", "n_error", "accuracy_answered"]


def _row(variant, bench, aspect, sub_dim, correct: list[bool], status: list[str]) -> dict:
    n, k = len(correct), sum(correct)
    lo, hi = wilson(k, n)
    unans = sum(s == "unanswered" for s in status)
    return {"variant": variant, "benchmark": bench, "aspect": aspect, "sub_dim": sub_dim, "n": n, "n_correct": k,
            "accuracy": k / n if n else float("nan"), "ci_low": lo, "ci_high": hi,
            "n_unmatched": sum(s == "unmatched" for s in status), "n_unanswered": unans,
            "n_error": sum(s == "error" for s in status),
            "accuracy_answered": k / (n - unans) if n - unans else float("nan")}


def scores_from_rows(rows: list[dict]) -> list[dict]:
    """Score rows for prediction dicts (variant, benchmark, task, aspect, sub_dim, correct, match_status).

    Per (variant, benchmark): ("all","all"); per task when there are several ("task:<t>","all");
    per aspect (aspect,"all"); per aspect x sub-dimension; for mlvu also ("m-avg","all"), the macro
    mean over tasks with a normal-approximation CI. Errors count as wrong (and in n_error).
    """
    from collections import defaultdict

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["variant"], r["benchmark"])].append(r)
    out = []
    for (variant, bench), rs in sorted(groups.items()):
        def add(aspect, sub, sel):
            out.append(_row(variant, bench, aspect, sub, [bool(x["correct"]) for x in sel], [x["match_status"] for x in sel]))

        add("all", "all", rs)
        tasks = sorted({r["task"] for r in rs})
        if len(tasks) > 1:
            for t in tasks:
                add(f"task:{t}", "all", [r for r in rs if r["task"] == t])
        for a in sorted({r["aspect"] for r in rs} - {"all"}):
            sel = [r for r in rs if r["aspect"] == a]
            add(a, "all", sel)
            subs = sorted({r["sub_dim"] for r in sel} - {"all"})
            for s in subs:
                add(a, s, [r for r in sel if r["sub_dim"] == s])
        if bench == "mlvu":
            per = [(sum(bool(r["correct"]) for r in rs if r["task"] == t), sum(r["task"] == t for r in rs)) for t in tasks]
            accs = [k / n for k, n in per if n]
            if accs:
                m = sum(accs) / len(accs)
                se = math.sqrt(sum((k / n) * (1 - k / n) / n for k, n in per if n)) / len(accs)
                row = _row(variant, bench, "m-avg", "all", [bool(r["correct"]) for r in rs], [r["match_status"] for r in rs])
                row.update(accuracy=m, ci_low=max(0.0, m - 1.96 * se), ci_high=min(1.0, m + 1.96 * se))
                out.append(row)
    return out


def rescore_predictions(predictions, mode: str | None = "ablate"):
    """The predictions DataFrame with parsed / match_status / correct / match_rule / scorer_version /
    scoring recomputed from the stored replies (no inference). mode None: each row's own `scoring`
    ("ablate" where the column is missing or empty)."""
    import polars as pl

    out = {c: [] for c in ("parsed", "match_status", "correct", "match_rule", "scorer_version", "scoring")}
    cols = ["reply", "options", "answer", "scorer", "error"] + (["scoring"] if "scoring" in predictions.columns else [])
    for r in predictions.select(cols).iter_rows(named=True):
        reply = None if r.get("error") else r["reply"]
        m = mode or r.get("scoring") or "ablate"
        s = score(r["scorer"], reply, tuple(r["options"] or ()), r["answer"], m)
        for c, v in zip(("parsed", "match_status", "correct", "match_rule"), s[:2] + (s.correct, s.rule)):
            out[c].append(v)
        out["scorer_version"].append(SCORERS_VERSION[r["scorer"]])
        out["scoring"].append(m)
    types = {"parsed": pl.String, "match_status": pl.String, "correct": pl.Boolean, "match_rule": pl.String,
             "scorer_version": pl.Int64, "scoring": pl.String}
    return predictions.with_columns(*(pl.Series(c, v, dtype=types[c]) for c, v in out.items()))


def rescore(predictions, mode: str = "ablate"):
    """Scores DataFrame from a predictions DataFrame, re-parsing every reply with the current scorers."""
    import polars as pl

    rows = []
    for r in predictions.iter_rows(named=True):
        reply = None if r.get("error") else r["reply"]
        parsed, status, correct = score_reply(r["scorer"], reply, tuple(r["options"] or ()), r["answer"], mode)
        rows.append({**r, "parsed": parsed, "match_status": status, "correct": correct})
    return pl.DataFrame(scores_from_rows(rows), schema=scores_schema())


def scores_schema():
    import polars as pl

    return {"variant": pl.String, "benchmark": pl.String, "aspect": pl.String, "sub_dim": pl.String, "n": pl.Int64,
            "n_correct": pl.Int64, "accuracy": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
            "n_unmatched": pl.Int64, "n_unanswered": pl.Int64, "n_error": pl.Int64, "accuracy_answered": pl.Float64}
