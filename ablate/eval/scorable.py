"""Can a benchmark item be scored at all? An item that cannot becomes an error row, never a silent zero.

    from ablate.eval.scorable import unscorable
    unscorable("tempcompass-mc", ("A. up", "B. down"), "C. left")    # -> "answer 'C. left' is not among ..."

Applied to every loaded item (ablate.eval.benchmarks.load_items) before any engine starts: a multiple-choice
item with no options, or whose answer is not one of its options, or a yes/no item whose answer is
neither, would be scored "wrong" whatever the model says and pull the accuracy down unseen. As an
error row it is counted in `n_error` with its reason in `error`, and the report lists it.
"""

from __future__ import annotations

from ablate.eval import tempcompass_text as tct
from ablate.eval.scoring import LETTERS, LETTER_RE, PREFIX_RE, norm_text


def _tempcompass_gold(options: tuple[str, ...], answer: str) -> int | None:
    """The option the answer names, or None. A full answer line ("C. slower") must match its option
    in index and sentence; a bare index ("C") or a bare sentence ("slower") is read as the scorer reads it."""
    opts = tct.parse_options(options)
    a = answer.strip()
    exact = next((k for k, o in enumerate(opts) if tct.words(o.line) == tct.words(a)), None)
    if exact is not None:
        return exact
    line = tct.parse_options((a,))[0]
    if line.sent != line.line and line.sent:  # an index and a sentence: both must agree with one option
        return next((k for k, o in enumerate(opts) if o.key == line.key and o.words == line.words), None)
    return tct.gold_index(opts, a)


def _letter_of(text: str) -> str | None:
    m = LETTER_RE.match(text.strip()) or PREFIX_RE.match(text.strip())
    return next((g for g in m.groups() if g and len(g) == 1), None) if m else None


def unscorable(scorer: str, options, answer) -> str | None:
    """Why an item with these options and answer cannot be scored by `scorer`, or None if it can."""
    options = tuple(str(o) for o in (options or ()))
    if not isinstance(answer, str) or not answer.strip():
        return "no answer given"
    if scorer == "yes_no":
        return None if answer.strip().lower() in ("yes", "no") else f"yes/no answer {answer!r} is neither yes nor no"
    if scorer in ("tempcompass-mc", "tempcompass-cm", "videomme", "mlvu"):
        if len(options) < 2:
            return f"multiple-choice item with {len(options)} option(s); it needs at least 2"
        if len({norm_text(o) for o in options}) < len(options):
            return "multiple-choice item with duplicate options"
    if scorer in ("tempcompass-mc", "tempcompass-cm"):
        if _tempcompass_gold(options, answer) is None:
            return f"answer {answer!r} is not among the options {list(options)}"
        return None
    if scorer in ("videomme", "mlvu"):
        letter = answer.strip().strip("()")[:1].upper()
        if letter not in LETTERS[: len(options)]:
            return f"answer {answer!r} is not the letter of one of the {len(options)} options"
        return None
    if scorer == "t3":
        if not options:
            return None  # free-text answers (t3-text without lettered options): matched as text
        for a in (x for x in answer.split("\n") if x.strip()):
            letter = _letter_of(a)
            if letter is not None and LETTERS.index(letter) < len(options):
                continue
            if any(norm_text(a) == norm_text(o) for o in options):
                continue
            return f"answer {a!r} is not among the options {list(options)}"
        return None
    return None
