"""Caption pools: one split of the corpus, pre-parsed once so that each sample costs microseconds.

    >>> from t3.pool import build_pools
    >>> train, probe = build_pools([f"A {c} ball on a table." for c in ("red", "blue", "green")] * 1, seed=0)
    >>> train.phrases[:1]                                                    # doctest: +SKIP
    ['A red ball']

The corpus is split by caption (a salted crc32 of the caption text), so a caption is in the train pool
or the probe pool, never both, whatever n is. Edited captions (attribute change) are only accepted
when they hash into the same split as their source (`Pool.owns`), which keeps the two splits disjoint
even after editing.

Per caption we precompute a short *key phrase* (the subject noun phrase: "a large red circle" from
"The image shows a large red circle in the top left corner ..."), used as the option text of the
order / referring / grounding families, and the attribute words the lexicons find.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from t3 import lexicon

_LIGHT = r"(?:dark|dim|light|bright|dimly lit|brightly lit|poorly lit|well-lit|shadowy)"
_LEAD = re.compile(
    r"^(?:shown here (?:is|are)|we see|there (?:is|are)|in this " + _LIGHT + r" (?:image|picture|photo), there (?:is|are)"
    r"|this (?:picture|image|photo) contains [\w ]+?:|an? " + _LIGHT + r" (?:room|scene|setting|space|frame) with)\s+"
    r"|^(?:(?:in |on )?(?:the|this|an?) )?(?:close-up |closeup |black and white |aerial |old )?"
    r"(?:image|photo|photograph|picture|scene|frame|painting|illustration|drawing|view|shot|screenshot|"
    r"render|rendering|poster|video)s? (?:(?:that |which )?(?:shows|depicts|features|displays|captures|"
    r"presents|contains|showcases|is of|shows off)|of|showing|depicting|featuring|with)\s+",
    re.IGNORECASE,
)
_CUT = re.compile(
    r"[,.;:!?()]|\s(?:in|on|at|with|near|next|under|over|behind|by|from|for|is|are|was|were|that|which|who|"
    r"while|against|inside|beside|during|through|into|as|sitting|standing|holding|being|has|have|stands|"
    r"sits|lies|lying|placed|set|surrounded|and)\s",
    re.IGNORECASE,
)
MAX_PHRASE_WORDS = 6
_ARTICLES = {"A", "An", "The", "Two", "Three", "Several", "Some", "Many", "This", "That", "Close"}


def key_phrase(caption: str) -> str:
    """The caption's subject noun phrase, at most 6 words, first letter lowercased."""
    text = _LEAD.sub("", caption, count=1)
    m = _CUT.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    words = text.split()[:MAX_PHRASE_WORDS] or caption.split()[:MAX_PHRASE_WORDS]
    phrase = " ".join(words).strip(" ,.;:!?")
    first, _, rest = phrase.partition(" ")
    # "A red ball" -> "a red ball", keeping proper names ("New York skyline") as they are
    if first in _ARTICLES or (first[:1].isupper() and first[1:].islower() and not rest[:1].isupper()):
        phrase = first.lower() + (" " + rest if rest else "")
    return phrase or caption


def split_of(caption: str, salt: bytes, probe_permille: int) -> bool:
    """True if the caption belongs to the probe split."""
    return zlib.crc32(salt + caption.encode("utf-8")) % 1000 < probe_permille


@dataclass
class Pool:
    """One split: captions, their key phrases grouped by phrase, and the attribute-bearing captions."""

    name: str
    captions: list[str]
    phrases: list[str]  # distinct key phrases
    by_phrase: list[list[int]]  # phrase id -> caption indices
    phrase_of: list[int]  # caption index -> phrase id
    attr: list[tuple[int, tuple[lexicon.Match, ...]]]  # (caption index, matches) for captions with any
    ordinal: list[tuple[int, tuple[lexicon.Match, ...]]]  # same, keeping only ordinal-group matches
    salt: bytes
    probe_permille: int
    text: list[str] = field(default_factory=list)  # captions, then edited captions (see intern)
    phrase_text: list[str] = field(default_factory=list)  # caption index -> its phrase, phrases[phrase_of[i]]
    _edits: dict[str, int] = field(default_factory=dict)
    edits: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (caption, match start, value) -> text index or -1

    def __post_init__(self):
        self.text = list(self.captions)
        self.phrase_text = [self.phrases[p] for p in self.phrase_of]

    def intern(self, caption: str) -> int:
        """Index of an edited caption in `text` (added on first use)."""
        i = self._edits.get(caption)
        if i is None:
            i = self._edits[caption] = len(self.text)
            self.text.append(caption)
        return i

    def owns(self, caption: str) -> bool:
        """Whether an (edited) caption belongs to this split."""
        return split_of(caption, self.salt, self.probe_permille) == (self.name == "probe")


def _make_pool(name: str, captions: list[str], salt: bytes, permille: int) -> Pool:
    phrase_ids: dict[str, int] = {}
    phrases: list[str] = []  # as first seen
    by_phrase: list[list[int]] = []
    phrase_of: list[int] = []
    for i, c in enumerate(captions):
        p = key_phrase(c)
        pid = phrase_ids.setdefault(p.lower(), len(by_phrase))
        if pid == len(by_phrase):
            by_phrase.append([])
            phrases.append(p)
        by_phrase[pid].append(i)
        phrase_of.append(pid)
    attr, ordinal = [], []
    for ci, c in enumerate(captions):
        ms = tuple(lexicon.find_attributes(c))
        if ms:
            attr.append((ci, ms))
            om = tuple(m for m in ms if lexicon.GROUPS[m.group].ordinal)
            if om:
                ordinal.append((ci, om))
    return Pool(name, captions, phrases, by_phrase, phrase_of, attr, ordinal, salt, permille)


def build_pools(captions: list[str], seed: int, probe_fraction: float = 0.1) -> tuple[Pool, Pool]:
    """Split captions into (train, probe) pools by a seeded hash of the caption text."""
    salt = f"t3-split-{seed}:".encode()
    permille = max(1, min(999, round(probe_fraction * 1000)))
    train, probe = [], []
    for c in captions:
        (probe if split_of(c, salt, permille) else train).append(c)
    return _make_pool("train", train, salt, permille), _make_pool("probe", probe, salt, permille)
