"""Rule-based scorers (no LLM judge) and score tables computed from predictions alone.

    from ablate.eval.scoring import score_reply, rescore
    parsed, status, correct = score_reply("tempcompass-mc", "(B) slower", ("A. faster", "B. slower"), "B. slower")
    scores = rescore(pl.read_parquet("runs/eval/x/predictions.parquet"))

Scorers mirror the official rules:
- tempcompass-mc: the reply (stripped) equals an option line, an option's sentence (also after a
  "(X) " / "X. " prefix), or an option's letter ("B", "B.", "(B)", "B)"); compared with the answer line.
- tempcompass-cm: caption matching, the same with "Caption A: ..." style lines (index before ": ").
- yes_no: lowercase reply starts with "yes" or "no".
- videomme: official `extract_characters_regex`: drop answer phrases; a reply over 10 words with no
  A-D letter is "unanswered"; else the first A-D letter anywhere.
- mlvu: the letter before the first ")" (or a bare letter).
- t3: a letter ("(C)", "C", "C.", "C)") or the option text itself, case-insensitive. For t3-text the
  answer may hold several accepted strings separated by newlines.
match_status: matched | unmatched (counted wrong) | unanswered (Video-MME; wrong in the strict
convention, left out in the official one) | error (no reply: the item or video failed).
Each scorer has a version; predictions record it and `rescore` always recomputes with the current one.
"""

from __future__ import annotations

import math
import re

SCORERS_VERSION = {"tempcompass-mc": 1, "tempcompass-cm": 1, "yes_no": 1, "videomme": 1, "mlvu": 1, "t3": 1}
LETTERS = "ABCDEFGHIJ"
_LETTER = re.compile(r"^\(?([A-J])\)?[.:)]?$")
_PREFIX = re.compile(r"^\(?([A-J])[.:)]\)?\s+(.+)$|^\(([A-J])\)\s*(.+)$")


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip()).rstrip(".").strip().lower()


def _split_option(line: str) -> tuple[str, str]:
    """'C. slower' / 'Caption B: x' / '(A) x' -> (index, sentence)."""
    line = line.strip()
    if ": " in line:
        ind, sent = line.split(": ", 1)
        return ind.strip(), sent.strip()
    m = re.match(r"^\(?([A-J0-9])[.)]\)?\s*(.*)$", line)
    if m:
        return m.group(1), m.group(2).strip()
    return "", line


def _index_key(ind: str) -> str:
    """'Caption A' -> 'a', 'Option 1' -> '1', 'B' -> 'b', '(C)' -> 'c'."""
    return ind.strip().strip("()").split()[-1].lower() if ind.strip() else ""


def _tempcompass(reply: str, options: tuple[str, ...], answer: str) -> tuple[str | None, str, bool]:
    r = reply.strip()
    if not options:
        return None, "unmatched", False
    pairs = [_split_option(o) for o in options]
    pred = None
    for k, o in enumerate(options):  # exact line
        if _norm(r) == _norm(o):
            pred = k
    if pred is None:
        m = _PREFIX.match(r)
        body = (m.group(2) or m.group(4)) if m else None
        for k, (_, sent) in enumerate(pairs):
            if _norm(r) == _norm(sent) or (body is not None and _norm(body) == _norm(sent)):
                pred = k
    if pred is None:  # the whole reply is an index: "B", "B.", "(B)", "Caption B", "1" (never a first word)
        c = re.sub(r"^(caption|sentence|option)\s*", "", r.rstrip(".:)").strip("(").lower())
        for k, (ind, _) in enumerate(pairs):
            if c and c == _index_key(ind):
                pred = k
    if pred is None:
        return None, "unmatched", False
    gold = next((k for k, o in enumerate(options) if _norm(o) == _norm(answer)), None)
    if gold is None:  # answer given as a bare index / sentence
        gold = next((k for k, (ind, sent) in enumerate(pairs)
                     if _index_key(ind) == _index_key(_split_option(answer)[0] or answer) or _norm(sent) == _norm(answer)), None)
    return options[pred], "matched", pred == gold


def _yes_no(reply: str, answer: str) -> tuple[str | None, str, bool]:
    r = reply.strip().lower()
    parsed = "yes" if r.startswith("yes") else "no" if r.startswith("no") else None
    if parsed is None:
        return None, "unmatched", False
    return parsed, "matched", parsed == answer.strip().lower()


_VMME_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
                  "The correct option is", "Best answer:", "Best option:", "Answer:", "Option:")


def _videomme(reply: str, answer: str) -> tuple[str | None, str, bool]:
    s = reply.strip()
    for p in _VMME_PREFIXES:
        s = s.replace(p, "")
    if len(s.split()) > 10 and not re.search("[ABCD]", s):
        return None, "unanswered", False
    m = re.search("[ABCD]", s)
    if m is None:
        return None, "unanswered", False
    return m.group(0), "matched", m.group(0) == answer.strip()[:1]


def _mlvu(reply: str, answer: str) -> tuple[str | None, str, bool]:
    s = reply.strip()
    head = s.split(")")[0].strip().lstrip("(").strip() if ")" in s else s.rstrip(".").strip()
    if len(head) == 1 and head.upper() in LETTERS:
        return head.upper(), "matched", head.upper() == answer.strip()[:1].upper()
    return None, "unmatched", False


def _t3(reply: str, options: tuple[str, ...], answer: str) -> tuple[str | None, str, bool]:
    accepted = [a for a in answer.split("\n") if a.strip()]
    r = reply.strip()
    gold_letters = set()
    for a in accepted:
        m = _LETTER.match(a.strip()) or _PREFIX.match(a.strip())
        if m:
            gold_letters.add(next(g for g in m.groups() if g and len(g) == 1))
        elif a.strip() and options:
            gold_letters.update(LETTERS[k] for k, o in enumerate(options) if _norm(o) == _norm(a))
    if any(_norm(r) == _norm(a) for a in accepted):
        return r, "matched", True
    first = r.split("\n")[0].strip()
    m = _LETTER.match(first) or _PREFIX.match(first)  # not a bare first word: "A red circle" is no letter
    if m:
        letter = next(g for g in m.groups() if g and len(g) == 1)
        if not options or LETTERS.index(letter) < len(options):
            return letter, "matched", letter in gold_letters
    for k, o in enumerate(options):
        if _norm(first) == _norm(o):
            return LETTERS[k], "matched", LETTERS[k] in gold_letters
    return None, "unmatched", False


def score_reply(scorer: str, reply: str | None, options: tuple[str, ...] | list[str], answer: str) -> tuple[str | None, str, bool]:
    """(parsed answer, match_status, correct) for one reply; reply None means the item errored."""
    if reply is None:
        return None, "error", False
    options = tuple(options or ())
    if scorer in ("tempcompass-mc", "tempcompass-cm"):
        return _tempcompass(reply, options, answer)
    if scorer == "yes_no":
        return _yes_no(reply, answer)
    if scorer == "videomme":
        return _videomme(reply, answer)
    if scorer == "mlvu":
        return _mlvu(reply, answer)
    if scorer == "t3":
        return _t3(reply, options, answer)
    raise KeyError(f"unknown scorer {scorer!r}")


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


def rescore(predictions):
    """Scores DataFrame from a predictions DataFrame, re-parsing every reply with the current scorers."""
    import polars as pl

    rows = []
    for r in predictions.iter_rows(named=True):
        reply = None if r.get("error") else r["reply"]
        parsed, status, correct = score_reply(r["scorer"], reply, tuple(r["options"] or ()), r["answer"])
        rows.append({**r, "parsed": parsed, "match_status": status, "correct": correct})
    return pl.DataFrame(scores_from_rows(rows), schema=_SCHEMA())


def _SCHEMA():
    import polars as pl

    return {"variant": pl.String, "benchmark": pl.String, "aspect": pl.String, "sub_dim": pl.String, "n": pl.Int64,
            "n_correct": pl.Int64, "accuracy": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
            "n_unmatched": pl.Int64, "n_unanswered": pl.Int64, "n_error": pl.Int64, "accuracy_answered": pl.Float64}
