"""The four T3 task families. Each builder returns one item with the correct option first.

    >>> import random
    >>> from t3.pool import build_pools
    >>> from t3.families import FAMILIES
    >>> train, _ = build_pools([f"A {c} {s} on a table." for c in ("red", "blue", "green", "tan")
    ...                         for s in ("ball", "cup", "box")], seed=0, probe_fraction=0.001)
    >>> item = FAMILIES["order"].build(random.Random(0), train, 4, "phrase")
    >>> len(item.options), item.options[0] == ", ".join(item.keys)
    (4, True)

A builder is `build(rng, pool, frames, subtask) -> Item`: the frames (indices into `pool.text`, in
temporal order), the question, the options with the correct one at index 0 (the caller, t3.synth,
places it at the scheduled letter), and `keys`, the facts the answer was derived from (for
debugging; the tests re-derive every answer from the captions alone). Builders only use
`rng.random()`, directly (`int(r() * n)`, uniform in [0, n)) or via small helpers:
`random.randrange`/`sample`/`shuffle` cost several times more, and this is the hot path of a 50k
samples/s generator.

Families (subtasks):
- order: phrase (options "x, y, z"), index ("(2)(1)(3)"), sentence ("First x, then y, and finally z.")
- attribute: from_to ("from dim to bright"), direction ("it becomes brighter / remains unchanged /
  becomes dimmer"; ordinal attributes only). Frames are one caption before and its edit (t3.lexicon)
  after a random change point; with more frames (length scaling) the change is harder to locate.
- referring: segment (which object at the beginning/middle/end), anchor (right before/after X); one
  distractor is absent from the video.
- grounding: segment (when does X appear), frame (in which frame does X appear).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from operator import itemgetter
from typing import Callable, NamedTuple

from t3.util import UserError
from t3 import lexicon
from t3.pool import Pool

SEGMENT_TEXT = ("at the beginning", "in the middle", "at the end")
ABSENT = "it does not appear"
# all non-identity permutations of k items, as getters (order options are permutations): items ->
# a tuple of the items in that order; _IDENTITY[k] keeps the order
_PERMS = {k: [itemgetter(*p) for p in itertools.permutations(range(k)) if p != tuple(range(k))] for k in (3, 4)}
MAX_ORDER_ITEMS = 4
_IDENTITY = {k: itemgetter(*range(k)) for k in (3, 4)}
_FORM_LEN = [[len(f) for f in g.forms] for g in lexicon.GROUPS]


class Item(NamedTuple):  # a NamedTuple: a frozen dataclass's __init__ costs ~1 us, a real share here
    frames: list[int]  # indices into pool.text, in temporal order
    question: str
    options: list[str]  # correct first
    keys: tuple = ()


@dataclass(frozen=True)
class Family:
    name: str
    subtasks: tuple[str, ...]
    n_options: dict[str, int]
    build: Callable[[random.Random, Pool, int, str], Item]


def below(rng: random.Random, n: int) -> int:
    """Uniform int in [0, n): random.randrange is ~4x slower, and this is the hot path."""
    return int(rng.random() * n)


def pick_distinct(rng: random.Random, n: int, k: int) -> list[int]:
    """k distinct ints from range(n), in draw order (k <= n; rejection, fast when k << n)."""
    r = rng.random
    if 2 * k > n:
        pool = list(range(n))
        for i in range(k):
            j = i + int(r() * (n - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]
    out: list[int] = []
    while len(out) < k:
        v = int(r() * n)
        if v not in out:  # k is a few frames at most: a list beats a set here
            out.append(v)
    return out


def shuffle(rng: random.Random, xs: list) -> None:
    """In-place Fisher-Yates with rng.random (faster than random.shuffle for short lists)."""
    r = rng.random
    for i in range(len(xs) - 1, 0, -1):
        j = int(r() * (i + 1))
        xs[i], xs[j] = xs[j], xs[i]


def segment(t: int, frames: int) -> int:
    """Which third of the video frame t (0-based) is in: 0 beginning, 1 middle, 2 end."""
    return min(3 * t // frames, 2)


_BY_SEGMENT: dict[int, list[list[int]]] = {}


def frames_by_segment(frames: int) -> list[list[int]]:
    """The frames (0-based) of each third of the video, [beginning, middle, end]; cached per frame count."""
    got = _BY_SEGMENT.get(frames)
    if got is None:
        got = _BY_SEGMENT[frames] = [[t for t in range(frames) if segment(t, frames) == s] for s in range(3)]
    return got


def _distinct_frames(rng: random.Random, pool: Pool, k: int) -> tuple[list[int], list[str]]:
    """k caption indices with pairwise different key phrases: (caption indices, phrases).

    Captions are drawn uniformly and redrawn on a repeated phrase (cheap when phrases are many);
    when phrases are few, a phrase is drawn first and then one of its captions.
    """
    phrases, r = pool.phrases, rng.random
    if 4 * k <= len(phrases):
        phrase_text = pool.phrase_text
        n = len(phrase_text)
        for _ in range(16):
            caps = [int(r() * n) for _ in range(k)]
            phr = list(map(phrase_text.__getitem__, caps))
            if len(set(phr)) == k:  # distinct phrase ids <=> distinct phrase strings
                return caps, phr
    caps, phr = [], []
    by = pool.by_phrase
    for pid in pick_distinct(rng, len(by), k):
        idx = by[pid]
        caps.append(idx[int(r() * len(idx))] if len(idx) > 1 else idx[0])
        phr.append(phrases[pid])
    return caps, phr


# ---------------------------------------------------------------- order
_Q_ORDER = {
    "phrase": ("In what order do the following appear in the video?",
               "What is the correct order of the objects shown in the video?",
               "Which sequence matches the order in which these things appear?"),
    "index": ("Arrange the following in the order they appear in the video: {items}",
              "Put these in chronological order: {items}",
              "Order the following by when they are shown: {items}"),
    "sentence": ("How does the video unfold?", "Which description matches the sequence of events?",
                 "What happens in the video, in order?"),
}


_LABELS = [f"({i + 1})" for i in range(MAX_ORDER_ITEMS)]


def _sentence(ph: tuple[str, ...]) -> str:
    return "First " + ", then ".join(ph[:-1]) + f", and finally {ph[-1]}."


def build_order(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    r = rng.random  # int(r() * n): uniform in [0, n) (see `below`)
    caps, phr = _distinct_frames(rng, pool, frames)
    k = min(frames, MAX_ORDER_ITEMS)
    pos = sorted(pick_distinct(rng, frames, k)) if frames > k else list(range(frames))
    items = [phr[p] for p in pos] if frames > k else phr  # in temporal order
    allp = _PERMS[k]
    perms = [_IDENTITY[k]] + [allp[j] for j in pick_distinct(rng, len(allp), 3)]
    q = _Q_ORDER[subtask][int(r() * 3)]
    if subtask == "phrase":
        opts = [", ".join(p(items)) for p in perms]
    elif subtask == "sentence":
        opts = [_sentence(p(items)) for p in perms]
    else:
        shown = list(range(k))
        shuffle(rng, shown)  # shown[s] = temporal index of the item listed as (s+1)
        label = [0] * k
        for pos_, t in enumerate(shown):
            label[t] = _LABELS[pos_]
        q = q.format(items=" ".join([f"{_LABELS[s_]} {items[t]}" for s_, t in enumerate(shown)]))
        opts = ["".join(p(label)) for p in perms]
    return Item(caps, q, opts, tuple(items))


# ---------------------------------------------------------------- attribute change
_Q_ATTR = ("How does the {noun} change in the video?", "What happens to the {noun} over time?",
           "Which option best describes the change in {noun}?")
_Q_ATTR_OF = [tuple(q.format(noun=g.noun) for q in _Q_ATTR) for g in lexicon.GROUPS]  # per group, formatted


def _direction_options(grp: lexicon.Group) -> dict[int, tuple[str, ...]]:
    """want (1 up, 0 unchanged, -1 down) -> the direction options, correct first."""
    texts = {1: f"it becomes {grp.up}", 0: "it remains unchanged", -1: f"it becomes {grp.down}"}
    return {want: (texts[want],) + tuple(texts[w] for w in (1, 0, -1) if w != want) for want in (1, 0, -1)}


_DIRECTION_OPTS = [_direction_options(g) for g in lexicon.GROUPS]
# (group, form, value, new value) -> _from_to_options(...); a few hundred entries at most (the lexicon's)
_FROM_TO: dict[tuple[int, int, int, int], tuple] = {}


def _from_to_options(m: lexicon.Match, v: int) -> tuple[str, list[str], tuple]:
    """(correct option, all distractors, keys) of the change from m's value to v."""
    key = (m.group, m.form, m.value, v)
    got = _FROM_TO.get(key)
    if got is None:
        grp = lexicon.GROUPS[m.group]
        form = grp.forms[m.form]
        x, y = form[m.value], form[v]
        others = [w for w in form if w not in (x, y)]
        dis = [f"from {y} to {x}", f"it stays {x}", f"it stays {y}"]
        dis += [f"from {x} to {z}" for z in others] + [f"from {z} to {y}" for z in others]
        got = _FROM_TO[key] = (f"from {x} to {y}", dis, (grp.name, x, y, 1))
    return got


def _pick_edit(rng: random.Random, pool: Pool, rows: list, want: int | None = None):
    """(caption index, match, new value, edited caption's text index); the edit stays in the pool's split.

    want=None: any other value; +1 / -1: a higher / lower value of an ordinal attribute.
    """
    r, forms, edits = rng.random, _FORM_LEN, pool.edits
    # ~10% of edits of a probe caption land in the probe split: allow many (cached, cheap) tries
    for _ in range(2000):
        ci, ms = rows[int(r() * len(rows))]
        m = ms[int(r() * len(ms))] if len(ms) > 1 else ms[0]
        n_vals = forms[m.group][m.form]
        if want is None:
            v = int(r() * (n_vals - 1))
            v += v >= m.value
        elif want > 0:
            if m.value == n_vals - 1:
                continue
            v = m.value + 1 + int(r() * (n_vals - 1 - m.value))
        else:
            if m.value == 0:
                continue
            v = int(r() * m.value)
        key = (ci, m.start, v)
        got = edits.get(key)
        if got is None:  # edits are cached per pool: the same caption is edited many times
            new = lexicon.edit(pool.captions[ci], m, v)
            got = edits[key] = pool.intern(new) if pool.owns(new) else -1
        if got >= 0:
            return ci, m, v, got
    return None


def build_attribute(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    r = rng.random  # int(r() * n): uniform in [0, n) (see `below`)
    cut = 1 + int(r() * (frames - 1))  # first frame that shows the new value
    if subtask == "direction":
        want = (1, 0, -1)[int(r() * 3)]
        if want == 0:  # no change: the same caption in every frame
            ci, ms = pool.ordinal[int(r() * len(pool.ordinal))]
            m = ms[int(r() * len(ms))]
            cap = new = ci
            v = m.value
        else:
            got = _pick_edit(rng, pool, pool.ordinal, want) or _pick_edit(rng, pool, pool.ordinal, -want)
            if not got:
                raise UserError(f"the {pool.name} split has no ordinal attribute (lighting, size, ...) that can be "
                                "edited; drop `attribute` from the mix or use a larger corpus")
            cap, m, v, new = got
            want = 1 if v > m.value else -1
        opts = list(_DIRECTION_OPTS[m.group][want])
        keys = (lexicon.GROUPS[m.group].name, lexicon.plain(m, m.value), lexicon.plain(m, v), want)
    else:
        got = _pick_edit(rng, pool, pool.attr)
        if not got:
            raise UserError(f"the {pool.name} split has no attribute word that can be edited; drop `attribute` "
                            "from the mix or use a larger corpus")
        cap, m, v, new = got
        right, dis, keys = _from_to_options(m, v)
        opts = [right] + [dis[j] for j in pick_distinct(rng, len(dis), 3)]
    q = _Q_ATTR_OF[m.group][int(r() * 3)]
    return Item([cap] * cut + [new] * (frames - cut), q, opts, keys + (cut,))


# ---------------------------------------------------------------- temporal referring
_Q_REF_SEG = ("Which object appears {seg} of the video?", "What is shown {seg} of the video?",
              "{Seg} of the video, which of these can be seen?")
_Q_REF_ANCHOR = ("What appears right {rel} {anchor}?", "Which object is shown immediately {rel} {anchor}?",
                 "What comes directly {rel} {anchor} in the video?")


def build_referring(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    r = rng.random  # int(r() * n): uniform in [0, n) (see `below`)
    caps, phr = _distinct_frames(rng, pool, frames + 1)
    caps, absent = caps[:frames], phr[frames]
    phr = phr[:frames]
    if subtask == "segment":
        s = int(r() * 3)
        pick = [ts[int(r() * len(ts))] for ts in frames_by_segment(frames)]
        opts = [phr[pick[s]]] + [phr[pick[j]] for j in range(3) if j != s] + [absent]
        seg = SEGMENT_TEXT[s]
        q = _Q_REF_SEG[int(r() * 3)].format(seg=seg, Seg=seg[0].upper() + seg[1:])
        keys = (s,)
    else:
        a = 1 + int(r() * (frames - 2))
        after = r() < 0.5
        right, wrong = (a + 1, a - 1) if after else (a - 1, a + 1)
        opts = [phr[right], phr[wrong], phr[a], absent]
        q = _Q_REF_ANCHOR[int(r() * 3)].format(rel="after" if after else "before", anchor=phr[a])
        keys = (a, after)
    return Item(caps, q, opts, keys + (absent,))


# ---------------------------------------------------------------- temporal grounding
_Q_GROUND_SEG = ("When does {x} appear in the video?", "Where in the video is {x} shown?",
                 "At what point of the video can {x} be seen?")
_Q_GROUND_FRAME = ("In which frame does {x} appear?", "Which keyframe shows {x}?",
                   "{X} is described in which frame?")
# segment s -> the options, correct first
_GROUND_SEG_OPTS = [(SEGMENT_TEXT[s],) + tuple(SEGMENT_TEXT[j] for j in range(3) if j != s) + (ABSENT,)
                    for s in range(3)]


def build_grounding(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    r = rng.random  # int(r() * n): uniform in [0, n) (see `below`)
    caps, phr = _distinct_frames(rng, pool, frames)
    t = int(r() * frames)
    x = phr[t]
    fill = {"x": x, "X": x[0].upper() + x[1:]}
    if subtask == "segment":
        s = segment(t, frames)
        opts = list(_GROUND_SEG_OPTS[s])
        q = _Q_GROUND_SEG[int(r() * 3)].format(**fill)
    else:
        others = [u + (u >= t) for u in pick_distinct(rng, frames - 1, min(3, frames - 1))]
        opts = [f"frame {t + 1}"] + [f"frame {u + 1}" for u in others]
        opts += [ABSENT] * (4 - len(opts))
        q = _Q_GROUND_FRAME[int(r() * 3)].format(**fill)
    return Item(caps, q, opts, (t,))


FAMILIES: dict[str, Family] = {
    "order": Family("order", ("phrase", "index", "sentence"), {"phrase": 4, "index": 4, "sentence": 4}, build_order),
    "attribute": Family("attribute", ("from_to", "direction"), {"from_to": 4, "direction": 3}, build_attribute),
    "referring": Family("referring", ("segment", "anchor"), {"segment": 4, "anchor": 4}, build_referring),
    "grounding": Family("grounding", ("segment", "frame"), {"segment": 4, "frame": 4}, build_grounding),
}
