"""TempCompass reply matching: the official rules first, then judge-free fallbacks.

    from ablate.eval.tempcompass_rules import match_choice, match_yes_no
    opts = ("A. eating", "B. sleeping", "C. cooking")
    match_choice("**C. cooking**\\n\\nThe footage shows a stove.", opts, "C. cooking", "multi-choice")
    # -> Match(parsed='C. cooking', rule='fallback:markdown', correct=True)
    match_yes_no("**No.** The ball moves left.", "no")   # Match('no', 'fallback:markdown', True)

The official scripts (llyx97/TempCompass eval_*.py) apply a few string rules and send every reply they
cannot match to an LLM judge. `official=True` applies those rules only, as the scripts do with
--disable_llm (unmatched = wrong). Otherwise the fallbacks below do the judge's share; each one must
be unambiguous, because a wrong guess is worse than an unmatched reply:
- fallback:normalized  an official rule matches once the reply is stripped (the scripts do not strip), or
                       the whole reply is an option line, sentence or index up to case, punctuation,
                       brackets and whitespace ("(B)", "b", "right.", "Caption b", "B" in caption matching);
- fallback:start       an index at the start of a longer reply ("(B) slower, since ...", "Option 1 is
                       correct"), or the option sentence itself followed by punctuation;
- fallback:markdown    the same after dropping emphasis, code marks, headings, bullets, quotes;
- fallback:lead-phrase the same after dropping lead phrases ("The best option is", "Answer:", "Based on
                       the provided video, the best matching caption is:" ...);
- fallback:contained   exactly one option sentence occurs in the reply, not negated ("not", "rather
                       than", "unlike", "... is incorrect"), and not merely inside a longer option that
                       also occurs (unless an explicit choice names another option: that one decides);
                       words compared by their stems ("a fight" states "fighting"; tempcompass_text.stem),
                       word for word where stems make two options alike;
Then the judge's share, for replies the above leave unmatched or find several options in:
- fallback:explicit    an explicit choice anywhere ("..., so the best option is B. slow motion", "the
                       correct answer would be C", "I would choose Caption A"), not negated ("I don't
                       think the answer is B"); two explicit choices of different options are ambiguous;
- fallback:first-stated the option stated in the first sentence that states any (as contained:
                       word-bounded, articles ignored, not negated, "left" not inside "from left to
                       right"); ambiguous when that sentence states two, or when a later sentence turns
                       to another ("However, ...", "Later ...", "Actually ...");
- yes/no: fallback:markdown / fallback:lead-phrase for a leading yes/no word, fallback:true-false for a
  leading "True"/"False" ("The statement is false.").
Options quoted back (two or more option lines) are skipped: only what follows them can answer.
Never matched: refusals ("It is impossible to tell"), two options at once ("A or B", "(A) and (B)",
"dribbling ... and then shooting" for "dribbling basketball" / "shooting basketball"), an index whose
text is another option's sentence ("Caption A: <B's sentence>"), an index naming no option ("(E) ...").
docs/scoring.md has the whole order and a measurement against the official judge.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ablate.eval.tempcompass_text import (ARTICLES, BREAKS, CHOICE, COPULA, INDEX_WORDS, LEAD_YN, NEG_BEFORE, WRONG,
                                          Opt, affix_free, content_words, drop_lead, gold_index, is_refusal, negated,
                                          parse_options, sentence_ids, stem_forms, stems, strip_markdown, tokens,
                                          words)

OFFICIAL_LETTERS = ("A", "B", "C", "D")  # the official multi-choice rules know these four only


class Match(NamedTuple):
    parsed: str | None
    rule: str  # "official:..." | "fallback:..." | "unmatched"
    correct: bool


UNMATCHED = Match(None, "unmatched", False)


# ---- the official rules ------------------------------------------------------------------------

def official_multi_choice(r: str, options: tuple[str, ...], answer: str) -> Match | None:
    """eval_multi-choice.py: reply == answer; a bare A-D; an "X." or "X)" prefix (its letter, whatever
    follows). As the script: the reply as it is (no strip), case-sensitive."""
    def letter_match(letter: str, rule: str) -> Match:
        k = "ABCD".index(letter)
        return Match(options[k] if k < len(options) else letter, rule, letter == answer[:1])

    if r == answer:
        return Match(answer, "official:exact", True)
    if r in OFFICIAL_LETTERS:
        return letter_match(r, "official:letter")
    if any(r.startswith(x + d) for x in OFFICIAL_LETTERS for d in ".)"):
        return letter_match(r[0], "official:prefix")
    return None


def official_caption_matching(r: str, options: tuple[str, ...], answer: str) -> Match | None:
    """eval_caption_matching.py's eval_rule: the option line, its sentence (also after a ") "), or its index.

    As the script: the reply as it is (no strip), case-sensitive; the last rule that fits wins."""
    lines = list(options)
    pred = rule = None
    for k, o in enumerate(lines):
        if o == r:
            pred, rule = (k, o), "official:exact"
    for k, o in enumerate(lines):
        sent = o.split(": ")[1] if ": " in o else None
        if sent is not None and (sent == r or (") " in r and sent == r.split(") ")[1])):
            pred, rule = (k, sent), "official:sentence"
    for k, o in enumerate(lines):
        ind = o.split(": ")[0]
        if ind == r or ind == r.replace(".", ""):
            pred, rule = (k, ind), "official:index"
    if pred is None:
        return None
    got = pred[1]
    ok = got == answer or got == answer.split(":")[0] or (": " in answer and got == answer.split(": ")[1])
    return Match(lines[pred[0]], rule, ok)


def official_yes_no(r: str, answer: str) -> Match | None:
    """eval_yes_no.py: the lowercase reply starts with "yes" or "no" ("Not sure" counts as no there too)."""
    low = r.lower()
    got = "yes" if low.startswith("yes") else "no" if low.startswith("no") else None
    return None if got is None else Match(got, "official:prefix", got == answer.strip().lower())


# ---- fallbacks ---------------------------------------------------------------------------------

_KEY = r"([A-Za-z]|\d{1,2})"
_HEAD_WORD = re.compile(rf"^\s*{INDEX_WORDS}\s*\(?{_KEY}\)?(?!\w)", re.I)
_HEAD_PAREN = re.compile(rf"^\s*[\(\[]{_KEY}[\)\]]")
_HEAD_BARE = re.compile(rf"^\s*{_KEY}(?:[.:),](?!\w)|(?=[ \t]*(?:\n|$))|(?=\s+is\s+(?:the\s+)?(?:correct|best|right|answer|most)\b))")
_ORDINAL = re.compile(r"^\s*(?:the\s+)?(first|second|third|fourth)\s+(?:caption|sentence|option|choice|one|description)\b", re.I)
_CONJ = re.compile(r"^[\s,;/&]*(?:(?:or|and|vs\.?|versus)\b)?[\s,;/&]*", re.I)


class _Ambiguous(Exception):
    """Two options fit: the reply stays unmatched."""


class _Several(_Ambiguous):
    """Several option sentences occur: an explicit choice or the first one stated may still decide."""


def _head(text: str, opts: tuple[Opt, ...], strict: bool = False) -> tuple[int, str] | None:
    """(option index, rest of the text) for an index at the start of text, or None."""
    m = _HEAD_WORD.match(text) or _HEAD_PAREN.match(text) or _HEAD_BARE.match(text)
    if m is None:
        m2 = _ORDINAL.match(text)
        if m2 is None:
            return None
        k = ("first", "second", "third", "fourth").index(m2.group(1).lower())
        return (k, text[m2.end():]) if k < len(opts) else None
    key = m.group(1)
    if m.re is _HEAD_BARE and key.islower() and not re.match(r"^\s*[a-z](?:[.:)]\s*|\s*)(?:\n|$)", text):
        return None  # "a) ..." at most; a lowercase "a ..." is the article
    k = next((k for k, o in enumerate(opts) if o.key == key.lower()), None)
    if k is None and strict:
        raise _Ambiguous  # "(E) sleeping" with four options: an index that names none
    return None if k is None else (k, text[m.end():])


def _starts_with_words(text_words: tuple[str, ...], w: tuple[str, ...]) -> bool:
    return bool(w) and tuple(text_words[:len(w)]) == w


def _check_rest(k: int, rest: str, opts: tuple[Opt, ...]) -> None:
    """Raise _Ambiguous when the text after option k's index names another option."""
    line = rest.split("\n", 1)[0]
    h = _head(_CONJ.sub("", line, count=1), opts)
    if h is not None and h[0] != k:
        raise _Ambiguous  # "A or B", "(A) and (B)", "A, B", "Caption A / Caption B"
    w = words(line)
    j = 0
    while j < len(w) and w[j] in COPULA | {"does", "do", "did"}:
        j += 1
    if j < len(w) and w[j] in WRONG | {"never", "unlikely", "neither"}:
        raise _Ambiguous  # "Caption A is incorrect ...", "Option 1 does not match"
    if not w or _starts_with_words(w, opts[k].words):
        return
    others = [j for j, o in enumerate(opts) if j != k and _starts_with_words(w, o.words)]
    if others and not any(len(opts[j].words) < len(opts[k].words) and opts[k].words[:len(opts[j].words)] == opts[j].words
                          for j in others):
        raise _Ambiguous  # "Caption A: <the sentence of caption B>"


def _whole(text: str, opts: tuple[Opt, ...]) -> int | None:
    """The whole text is one option's line, sentence or index, up to case, punctuation and brackets."""
    w = words(text)
    if not w:
        return None
    hits = {k for k, o in enumerate(opts) if w == words(o.line) or (o.words and w == o.words)}
    bare = re.sub(rf"^{INDEX_WORDS}\s*", "", re.sub(r"[\s.:)(\[\]]+", " ", text).strip(), flags=re.I).strip().lower()
    hits |= {k for k, o in enumerate(opts) if bare == o.key}
    if len(hits) > 1:
        raise _Ambiguous
    return hits.pop() if hits else None


def _at_start(text: str, opts: tuple[Opt, ...]) -> int | None:
    """An index at the start (checked against what follows), or an option sentence then punctuation."""
    h = _head(text, opts, strict=True)
    if h is not None:
        _check_rest(h[0], h[1], opts)
        return h[0]
    first = text.split("\n", 1)[0]
    best = None
    for k, o in enumerate(opts):
        if not o.words:
            continue
        pat = r"^\W*" + r"\W+".join(re.escape(x) for x in o.words) + r"(?P<after>[^\w\s]|\s*$)"
        if re.match(pat, re.sub(r"n't\b", " not", first.replace("\u2019", "'").lower())):
            if best is None or len(o.words) > len(opts[best].words):
                best = k
    if best is not None and _alive(text, opts) - {best}:
        raise _Several  # "X. Later, Y." with X and Y both options
    return best


def _alive(text: str, opts: tuple[Opt, ...], forms: list[tuple[str, ...]] | None = None, lookback: int = 4) -> set[int]:
    """Options whose sentence occurs in text (word-aligned, articles ignored, not negated, not inside a
    longer option's occurrence); `forms` replaces the option sentences (see affix_free)."""
    return {k for _, k in _mentions(text, opts, forms, lookback)[1]}


def _mentions(text: str, opts: tuple[Opt, ...], forms: list[tuple[str, ...]] | None = None,
              lookback: int = 4) -> tuple[list[str], list[tuple[int, int]]]:
    """(tokens without articles, [(token index where the occurrence starts, option)]) for _alive's occurrences."""
    tok = [t for t in tokens(text) if t not in ARTICLES]
    pos = [i for i, t in enumerate(tok) if t not in BREAKS]  # word index -> token index
    ws = [tok[i] for i in pos]
    forms = forms if forms is not None else [content_words(o.words) for o in opts]
    stemmed = stem_forms(forms)
    if stemmed is not None:  # "a fight" states "fighting", "zoomed in" states "zooming in"
        forms, ws = stemmed, list(stems(ws))
    spans: dict[int, list[tuple[int, int]]] = {}
    for k, w in enumerate(forms):
        n = len(w)
        if n:
            spans[k] = [(i, i + n) for i in range(len(ws) - n + 1) if tuple(ws[i:i + n]) == w]
    found = []
    for k, sp in spans.items():
        for a, b in sp:
            if any(j != k and c <= a and b <= d and d - c > b - a for j, sj in spans.items() for c, d in sj):
                continue  # "left" inside "from left to right"
            if negated(tok, pos[a], pos[b - 1] - pos[a] + 1, lookback):
                continue
            found.append((pos[a], k))
    return tok, sorted(found)


def _contained(text: str, opts: tuple[Opt, ...]) -> int | None:
    """Exactly one option sentence occurs in text, by _alive."""
    alive = _alive(text, opts)
    forms, pre = affix_free(opts)  # what tells the options apart: "dancing" in "She is dancing"
    cut = _alive(text, opts, forms, 4 + pre) if forms else set()
    if alive and cut - alive:
        raise _Several  # "dribbling a basketball and then shooting it": another option's key words too
    alive = alive or cut  # "The woman is seen dancing and singing" for "She is dancing and singing"
    if len(alive) > 1:
        raise _Several
    return alive.pop() if alive else None


# ---- the judge's share: an explicit choice anywhere, else the option stated first ------------------

_NOT_CHOSEN = NEG_BEFORE | {"whether", "if", "unless", "doubt"}  # "I don't think the answer is C"
_BARE_CAPITAL = re.compile(r"^\(?([A-Z])\)?(?=\s*(?:$|[-\u2013\u2014(]|(?:because|since|as|which|for)\b))")
_TURN = {"however", "but", "actually", "instead", "rather", "wait", "later", "then", "afterwards", "finally"}


def _chosen(rest: str, opts: tuple[Opt, ...]) -> int | None:
    """The option named right after an explicit-choice phrase: an index ("C", "(C)", "C. slow motion",
    "Caption B"), an option's text at the start, or exactly one option stated in that sentence."""
    line = rest.split("\n", 1)[0].strip()
    h = _head(line, opts)
    if h is not None:
        try:
            _check_rest(h[0], h[1], opts)
        except _Ambiguous:
            return None  # "A or C", "C, not A", "Caption A: <B's sentence>": no single choice here
        return h[0]
    w = content_words(words(line))
    forms = [content_words(o.words) for o in opts]
    stemmed = stem_forms(forms)
    if stemmed is not None:  # "I would choose zoomed in"
        forms, w = stemmed, stems(w)
    starts = [k for k, f in enumerate(forms) if f and w[:len(f)] == f]
    if starts:
        return max(starts, key=lambda k: len(opts[k].words))  # "left" never beats "left to right"
    m = _BARE_CAPITAL.match(line)
    if m:
        return next((k for k, o in enumerate(opts) if o.key == m.group(1).lower()), None)
    sentence = re.split(r"[.!?](?:\s|$)", line, maxsplit=1)[0]
    alive = _alive(sentence, opts)
    return alive.pop() if len(alive) == 1 else None


def _explicit(text: str, opts: tuple[Opt, ...]) -> int | None:
    """The option every explicit choice in text names ("..., so the best option is B"), or None; two
    explicit choices of different options are ambiguous."""
    chosen = set()
    for m in CHOICE.finditer(text):
        before = []  # the words before the phrase in its clause
        for t in reversed(tokens(text[:m.start()])):
            if t in BREAKS or len(before) == 4:
                break
            before.append(t)
        if _NOT_CHOSEN & set(before):
            continue
        k = _chosen(text[m.end():], opts)
        if k is not None:
            chosen.add(k)
    if len(chosen) > 1:
        raise _Ambiguous
    return chosen.pop() if chosen else None


def _first_stated(text: str, opts: tuple[Opt, ...]) -> int | None:
    """The option stated in the first sentence that states any (by _alive's occurrences, also the words that
    tell the options apart), or None; ambiguous when that sentence states two, or when a later sentence
    turns to another option ("However, ...", "Later ...")."""
    tok, found = _mentions(text, opts)
    forms, pre = affix_free(opts)
    if forms:
        found += _mentions(text, opts, forms, 4 + pre)[1]
    if not found:
        return None
    sent = sentence_ids(tok)
    first = min(sent[i] for i, _ in found)
    ks = {k for i, k in found if sent[i] == first}
    if len(ks) > 1:
        raise _Ambiguous  # "eating and then cooking", "slow motion or normal speed"
    k = ks.pop()
    opening = {}
    for i, t in enumerate(tok):
        if t not in BREAKS:
            opening.setdefault(sent[i], t)
    if any(j != k and sent[i] > first and opening.get(sent[i]) in _TURN for i, j in found):
        raise _Ambiguous  # an option named, then another argued for
    return k


def _after_listing(text: str, opts: tuple[Opt, ...]) -> str | None:
    """Text after the last of two or more option lines (a quoted question), or None if none are listed."""
    lines = text.split("\n")
    listed = [i for i, line in enumerate(lines) if _option_line(line, opts)]
    if len({_option_line(lines[i], opts) for i in listed}) < 2:
        return None
    return "\n".join(lines[listed[-1] + 1:]).strip()


def _option_line(line: str, opts: tuple[Opt, ...]) -> int | None:
    """1 + the option a line spells out in full ("A. left", "(B) right", "Caption A: ..."), else None."""
    h = _head(line, opts)
    if h is not None and words(h[1]) == opts[h[0]].words:
        return h[0] + 1
    return next((k + 1 for k, o in enumerate(opts) if o.words and words(line) == words(o.line)), None)


def fallback_choice(reply: str, opts: tuple[Opt, ...]) -> tuple[int, str] | None:
    """(option index, rule) by the judge-free fallbacks, or None (unmatched)."""
    t0 = reply.strip()
    rest = _after_listing(strip_markdown(t0), opts)
    if rest is not None:  # the options quoted back: only what follows them can answer ("...\nAnswer: C")
        t0 = rest
    t1 = strip_markdown(t0)
    t2 = drop_lead(t1)
    stages = [(t1, "fallback:markdown" if t1 != t0 else "fallback:normalized")]
    if t2 != t1:
        stages.append((t2, "fallback:lead-phrase"))
    try:
        if not t0 or is_refusal(t0) or is_refusal(t2):
            return None
        try:
            for text, rule in stages:
                k = _whole(text, opts)
                if k is not None:
                    return k, rule
                k = _at_start(text, opts)
                if k is not None:
                    return k, "fallback:start" if rule == "fallback:normalized" else rule
            k = _contained(t1, opts)
            if k is not None and _explicit(t1, opts) in (None, k):  # "X ... so the answer is Y": Y decides
                return k, "fallback:contained"
        except _Several:
            pass  # several option sentences occur: an explicit choice or the first stated decides
        k = _explicit(t1, opts)
        if k is not None:
            return k, "fallback:explicit"
        k = _first_stated(t1, opts)
        return (k, "fallback:first-stated") if k is not None else None
    except _Ambiguous:
        return None


def match_choice(reply: str, options: tuple[str, ...], answer: str, task: str, official: bool = False) -> Match:
    """Multi-choice ("multi-choice") or caption matching ("caption_matching") reply -> Match."""
    raw = reply.replace("</s>", "")  # what the official scripts compare: no strip
    if not options:
        return UNMATCHED
    rule = official_multi_choice if task == "multi-choice" else official_caption_matching
    m = rule(raw, options, answer)
    if m is not None or official:
        return m or UNMATCHED
    r = raw.strip()
    m = rule(r, tuple(o.strip() for o in options), answer.strip())
    if m is not None:  # "Option 1: ... " with a trailing space went to the judge
        return m._replace(rule="fallback:normalized")
    opts = parse_options(options)
    got = fallback_choice(r, opts)
    if got is None:
        return UNMATCHED
    k, rule_name = got
    return Match(options[k], rule_name, k == gold_index(opts, answer))


def match_yes_no(reply: str, answer: str, official: bool = False) -> Match:
    """Yes/no reply -> Match (official prefix rule, then a leading yes/no/true/false after markdown or a lead phrase)."""
    raw = reply.replace("</s>", "")
    m = official_yes_no(raw, answer)
    if m is not None or official:
        return m or UNMATCHED
    r = raw.strip()
    gold = answer.strip().lower()
    y = re.match(r"^(yes|no)\b", r, re.I)
    if y:  # " Yes" with a leading space went to the judge
        return Match(y.group(1).lower(), "fallback:normalized", y.group(1).lower() == gold)
    t1 = re.sub(r"^[^\w]+", "", strip_markdown(r))
    t2 = re.sub(r"^[^\w]+", "", drop_lead(t1))
    t3 = LEAD_YN.sub("", t2, count=1)
    for text, rule in ((t1, "fallback:markdown"), (t2, "fallback:lead-phrase")):
        y = re.match(r"^(yes|no)\b", text, re.I)
        if y:
            got = y.group(1).lower()
            return Match(got, rule, got == gold)
    y = re.match(r"^(true|false)\b", t3, re.I)
    if y and not is_refusal(t2):
        got = "yes" if y.group(1).lower() == "true" else "no"
        return Match(got, "fallback:true-false", got == gold)
    return UNMATCHED
