"""TempCompass reply text: normalisation, lead phrases and refusals, and the options of a question.

    from ablate.eval.tempcompass_text import drop_lead, parse_options, strip_markdown, words
    words("**C. Cooking!**")                       # ('c', 'cooking')
    drop_lead(strip_markdown("**Answer:** C"))     # 'C'
    parse_options(("A. eating", "Caption B: x"))  # (Opt('A. eating', 'a', 'eating', ...), Opt(..., 'b', 'x', ...))

The matchers of ablate.eval.tempcompass_rules (and the t3 rules of ablate.eval.scoring) read replies
and options through these functions only, so "the same up to case, punctuation and markdown" has
one meaning everywhere; tokens(), negated() and sentence_ids() say where an option mentioned inside
a reply stands (negated or not, in which sentence), stem() folds inflections ("zoomed" / "zooming"),
CHOICE finds an explicit choice anywhere.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

INDEX_WORDS = r"(?:caption|sentence|option|choice|answer)"


class Opt(NamedTuple):
    line: str
    key: str  # "a", "b", "1" (lowercase)
    sent: str
    words: tuple[str, ...]  # normalized words of the sentence


# ---- text normalisation ------------------------------------------------------------------------

@functools.lru_cache(maxsize=1 << 16)  # option lines recur in every reply of a question
def words(s: str) -> tuple[str, ...]:
    """Lowercase words (punctuation dropped, "n't" -> " not", curly quotes straightened)."""
    s = s.replace("\u2019", "'").replace("\u2018", "'")
    s = re.sub(r"n't\b", " not", s.lower())
    return tuple(re.findall(r"[a-z0-9]+", s))


def strip_markdown(s: str) -> str:
    """Drop emphasis, code marks, headings, bullets and block quotes; keep the words and line breaks."""
    s = s.replace("\u2019", "'").replace("`", "")
    s = re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", s)
    s = re.sub(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-\u2022][ \t]+)", "", s)
    s = re.sub(r"(?m)^[ \t]*[\"'\u201c\u201d]+|[\"'\u201c\u201d]+[ \t]*$", "", s)  # quotes around a line
    return s.strip()


_LEAD = [re.compile(p, re.I) for p in (
    r"^(?:based on|according to|from|in|after (?:watching|analy[sz]ing|reviewing|viewing)|upon (?:watching|viewing))"
    r"\s+(?:the|this|my)\s+(?:[\w-]+\s+){0,3}?(?:video|footage|clip|frames?|images?|content|analysis|observation|"
    r"information|description|question|options?)s?\b[^,:.\n]{0,40}?[,:]\s*",
    r"^(?:so|therefore|thus|hence|overall|in conclusion|in summary|final answer)\s*[,:]?\s*",
    r"^(?:i think|i believe|i would say|i'd say|i guess|in my opinion|my answer is|my choice is|"
    r"i (?:would )?(?:choose|select|pick|go with))\b\s*:?\s*",
    r"^(?:the\s+)?(?:(?:best|correct|right|final|most\s+\w+)\s+)?(?:matching\s+|fitting\s+)?"
    r"(?:answer|option|choice|caption|sentence|description|match)"
    r"(?:\s+(?:that|which)\s+(?:best\s+|most\s+accurately\s+)?(?:matches|describes|fits|corresponds\s+to)"
    r"\s+(?:the|this)\s+(?:video|clip|footage)(?:\s+(?:better|best|most\s+accurately))?)?"
    r"(?:\s+(?:for|to)\s+(?:the|this)\s+(?:video|question|clip))?"
    r"\s*(?:is|would be|:)\s*:?\s*",
)]
# an explicit choice anywhere in a reply ("..., so the best option is B. slow motion", "the correct answer
# would be C", "I would choose Caption A"); what follows it names the option
CHOICE = re.compile(
    r"(?:\b(?:the|my|our)\s+(?:(?:best|correct|right|final|most\s+\w+)\s+)?|\b(?:best|correct|right|final)\s+)"
    r"(?:matching\s+|fitting\s+)?(?:answer|option|choice|caption|sentence|description)"
    r"(?:\s+(?:to|for)\s+(?:the|this)\s+(?:video|question|clip))?"
    r"\s+(?:is|would\s+be|should\s+be|will\s+be|seems\s+to\s+be|appears\s+to\s+be)\b\s*:?\s*(?:that\s+)?"
    r"|\b(?:answer|option|choice)\s*:\s*"
    r"|\bi\s+(?:would\s+|will\s+)?(?:choose|select|pick|go\s+with)\b\s*:?\s*", re.I)
LEAD_YN = re.compile(r"^(?:the\s+)?(?:statement|sentence|caption|description|claim)\s+(?:is|seems)\s+", re.I)

_REFUSAL = re.compile(
    r"^(?:i\s+(?:cannot|can\s*not|am unable|am not able|do not know|am not sure|could not|'m sorry|'m not sure)|"
    r"(?:it|this)\s+(?:is|'s)\s+(?:impossible|not possible|unclear|difficult|hard)|it's\s+(?:impossible|unclear|not possible)|"
    r"there\s+is\s+no|none\s+of|neither|sorry|unable to|cannot be determined|not enough|insufficient)\b", re.I)


def drop_lead(s: str) -> str:
    """Remove lead phrases from the start, repeatedly ("Based on the video, the answer is: ...")."""
    for _ in range(4):
        before = s
        for p in _LEAD:
            s = p.sub("", s, count=1).lstrip()
        if s == before:
            break
    return s


def is_refusal(s: str) -> bool:
    return bool(_REFUSAL.match(s.strip()))


# ---- options -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1 << 14)
def parse_options(options: tuple[str, ...]) -> tuple[Opt, ...]:
    """'C. cooking' / 'Caption B: x' / 'Option 1: x' / '(A) x' -> Opt; a bare text gets its position letter."""
    out = []
    for k, line in enumerate(options):
        line = line.strip()
        m = re.match(rf"^{INDEX_WORDS}\s*\(?([A-Za-z]|\d{{1,2}})\)?\s*:\s*(.*)$", line, re.I) \
            or re.match(r"^\(?([A-Za-z]|\d{1,2})[.:)]\)?\s+(.*)$", line) or re.match(r"^\(([A-Za-z]|\d{1,2})\)\s*(.*)$", line)
        key, sent = (m.group(1).lower(), m.group(2).strip()) if m else ("abcdefghij"[k] if k < 10 else str(k), line)
        out.append(Opt(line, key, sent, words(sent)))
    return tuple(out)


def gold_index(opts: tuple[Opt, ...], answer: str) -> int | None:
    """Which option the answer names: the full line, the sentence, or an index ("C", "Caption B")."""
    a = answer.strip()
    for k, o in enumerate(opts):
        if words(o.line) == words(a):
            return k
    k = next((k for k, o in enumerate(opts) if o.words and o.words == words(a)), None)
    if k is not None:  # before the index: "A man is ..." is a sentence, not the letter A
        return k
    m = re.match(rf"^(?:{INDEX_WORDS}\s*)?\(?([A-Za-z]|\d{{1,2}})\)?[.:)]?(?:\s|$)", a, re.I)
    if m:
        k = next((k for k, o in enumerate(opts) if o.key == m.group(1).lower()), None)
        return k
    return None


# ---- tokens, negation, sentences: how the fallbacks read an option mentioned inside a reply ------

NEG_BEFORE = {"not", "no", "never", "neither", "nor", "without", "unlike"}  # "not X", "unlike X"
NEG_BEFORE2 = {("rather", "than"), ("instead", "of"), ("other", "than"), ("as", "opposed")}  # "rather than X"
COPULA = {"is", "are", "was", "would", "be", "seems", "appears", "to", "definitely", "clearly"}
WRONG = {"incorrect", "wrong", "false", "inaccurate", "unlikely", "not"}  # "X is incorrect", "X is not ..."
BREAKS = set(".,;:!?\n")  # negation never crosses a clause break
ARTICLES = {"a", "an", "the"}  # ignored when an option's words are looked for in a reply


def tokens(s: str) -> list[str]:
    """words() plus the punctuation that ends a clause (.,;:!? or a line break): negation never crosses one."""
    s = s.replace("\u2019", "'").replace("\u2018", "'")
    s = re.sub(r"n't\b", " not", s.lower())
    return re.findall(r"[a-z0-9]+|[.,;:!?\n]", s)


def negated(tok: list[str], i: int, n: int, lookback: int = 4) -> bool:
    """Is the option at word tokens tok[i:i+n] negated ("not X", "X rather than", "X is incorrect")?"""
    before: list[str] = []
    j = i - 1
    while j >= 0 and len(before) < lookback and tok[j] not in BREAKS:
        before.insert(0, tok[j])
        j -= 1
    if NEG_BEFORE & set(before) or any(tuple(before[x:x + 2]) in NEG_BEFORE2 for x in range(len(before) - 1)):
        return True
    after: list[str] = []
    j = i + n
    while j < len(tok) and len(after) < 4 and tok[j] not in BREAKS:
        after.append(tok[j])
        j += 1
    j = 0
    while j < len(after) and after[j] in COPULA:
        j += 1
    return j < len(after) and (after[j] in WRONG - {"not"} or (after[j] == "not" and j > 0))


def content_words(ws) -> tuple[str, ...]:
    return tuple(w for w in ws if w not in ARTICLES)


_VOWEL = re.compile(r"[aeiou]|(?<=.)y")


@functools.lru_cache(maxsize=1 << 16)
def stem(w: str) -> str:
    """A light stemmer for matching an option's words inside a reply: one inflectional suffix off (-ing,
    -ed, -s, -es, -ies/-ied, -ly), a doubled final consonant undone, a final "e" dropped; words of three
    letters or fewer, and words with digits, stay. Only ever compared with another stem:
    stem("zooming") == stem("zoomed") == stem("zoom") == "zoom"; "fighting" / "fight" -> "fight";
    "running" -> "run"; "dancing" / "dance" -> "danc"; "horizontally" -> "horizontal"; "passes" -> "pass";
    "speed", "left", "towards" -> "speed", "left", "toward"."""
    if len(w) <= 3 or not w.isalpha():
        return w
    s, verb = w, False
    if w.endswith(("ies", "ied")) and len(w) > 4:
        s = w[:-3] + "y"
    elif w.endswith("ing") and _VOWEL.search(w[:-3]):
        s, verb = w[:-3], True
    elif w.endswith("ed") and not w.endswith("eed") and _VOWEL.search(w[:-2]):
        s, verb = w[:-2], True
    elif w.endswith("es") and w[:-2].endswith(("s", "x", "z", "ch", "sh")):
        s = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        s = w[:-1]
    elif w.endswith("ly") and len(w) > 5:
        s = w[:-2]
    if verb and len(s) > 3 and s[-1] == s[-2] and s[-1] not in "aeiouylsz":
        s = s[:-1]  # "running" -> "run", "stopped" -> "stop"; "rolling", "passing", "buzzing" keep theirs
    if len(s) > 3 and s.endswith("e"):
        s = s[:-1]  # "dance" / "dancing" -> "danc"
    return s


def stems(ws) -> tuple[str, ...]:
    return tuple(stem(w) for w in ws)


def stem_forms(forms: list[tuple[str, ...]]) -> list[tuple[str, ...]] | None:
    """Options' words stemmed, or None where that makes two options alike ("dance" / "dancing")."""
    out = [stems(f) for f in forms]
    kept = [f for f in out if f]
    return out if len(set(kept)) == len(kept) else None


@functools.lru_cache(maxsize=1 << 14)
def affix_free(opts: tuple[Opt, ...]) -> tuple[list[tuple[str, ...]], int]:
    """Option sentences without the words all of them share at the start and at the end ("She is
    dancing" / "She is walking" -> "dancing" / "walking"); [] when that leaves two alike or one empty."""
    ws = [content_words(o.words) for o in opts]
    if len(ws) < 2 or not all(ws):
        return [], 0
    pre = 0
    while all(len(w) > pre for w in ws) and len({w[pre] for w in ws}) == 1:
        pre += 1
    suf = 0
    while all(len(w) > pre + suf for w in ws) and len({w[-1 - suf] for w in ws}) == 1:
        suf += 1
    if not pre and not suf:
        return [], 0
    cut = [w[pre:len(w) - suf] for w in ws]
    return (cut, pre) if all(cut) and len(set(cut)) == len(cut) else ([], 0)


def sentence_ids(tok: list[str]) -> list[int]:
    """Sentence number of each token: a sentence ends at a line break, "!", "?", ";" or a "." not inside a number."""
    out, n = [], 0
    for i, t in enumerate(tok):
        out.append(n)
        digits = 0 < i < len(tok) - 1 and tok[i - 1][-1:].isdigit() and tok[i + 1][:1].isdigit()
        if t in "\n!?;" or (t == "." and not digits):
            n += 1
    return out
