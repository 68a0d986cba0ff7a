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
`rng.random()`, via small helpers: `random.randrange`/`sample`/`shuffle` cost several times more,
and this is the hot path of a 50k samples/s generator.

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
from typing import Callable, NamedTuple

from ablate.core import UserError
from t3 import lexicon
from t3.pool import Pool

SEGMENT_TEXT = ("at the beginning", "in the middle", "at the end")
ABSENT = "it does not appear"
# all non-identity permutations of k items, precomputed (order options are permutations)
_PERMS = {k: [p for p in itertools.permutations(range(k)) if p != tuple(range(k))] for k in (3, 4)}
MAX_ORDER_ITEMS = 4
_IDENTITY = {k: tuple(range(k)) for k in (3, 4)}
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
    if 2 * k > n:
        pool = list(range(n))
        for i in range(k):
            j = i + int(rng.random() * (n - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]
    seen: set[int] = set()
    out = []
    r = rng.random
    while len(out) < k:
        v = int(r() * n)
        if v not in seen:
            seen.add(v)
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


def _distinct_frames(rng: random.Random, pool: Pool, k: int) -> tuple[list[int], list[str]]:
    """k caption indices with pairwise different key phrases: (caption indices, phrases).

    Captions are drawn uniformly and redrawn on a repeated phrase (cheap when phrases are many);
    when phrases are few, a phrase is drawn first and then one of its captions.
    """
    phrase_of, phrases, r = pool.phrase_of, pool.phrases, rng.random
    n = len(phrase_of)
    if 4 * k <= len(phrases):
        for _ in range(16):
            caps = [int(r() * n) for _ in range(k)]
            pids = list(map(phrase_of.__getitem__, caps))
            if len(set(pids)) == k:
                return caps, list(map(phrases.__getitem__, pids))
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


def _sentence(ph: list[str]) -> str:
    return "First " + ", then ".join(ph[:-1]) + f", and finally {ph[-1]}."


def build_order(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    caps, phr = _distinct_frames(rng, pool, frames)
    k = min(frames, MAX_ORDER_ITEMS)
    pos = sorted(pick_distinct(rng, frames, k)) if frames > k else list(range(frames))
    items = [phr[p] for p in pos] if frames > k else phr  # in temporal order
    allp = _PERMS[k]
    perms = [_IDENTITY[k]] + [allp[j] for j in pick_distinct(rng, len(allp), 3)]
    q = _Q_ORDER[subtask][below(rng, 3)]
    if subtask == "phrase":
        opts = [", ".join([items[j] for j in p]) for p in perms]
    elif subtask == "sentence":
        opts = [_sentence([items[j] for j in p]) for p in perms]
    else:
        shown = list(range(k))
        shuffle(rng, shown)  # shown[s] = temporal index of the item listed as (s+1)
        label = [0] * k
        for pos_, t in enumerate(shown):
            label[t] = _LABELS[pos_]
        q = q.format(items=" ".join([f"{_LABELS[s_]} {items[t]}" for s_, t in enumerate(shown)]))
        opts = ["".join([label[j] for j in p]) for p in perms]
    return Item(caps, q, opts, tuple(items))


# ---------------------------------------------------------------- attribute change
_Q_ATTR = ("How does the {noun} change in the video?", "What happens to the {noun} over time?",
           "Which option best describes the change in {noun}?")


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
    cut = 1 + below(rng, frames - 1)  # first frame that shows the new value
    if subtask == "direction":
        want = (1, 0, -1)[below(rng, 3)]
        if want == 0:  # no change: the same caption in every frame
            ci, ms = pool.ordinal[below(rng, len(pool.ordinal))]
            m = ms[below(rng, len(ms))]
            cap = new = ci
            v = m.value
        else:
            got = _pick_edit(rng, pool, pool.ordinal, want) or _pick_edit(rng, pool, pool.ordinal, -want)
            if not got:
                raise UserError(f"the {pool.name} split has no ordinal attribute (lighting, size, ...) that can be "
                                "edited; drop `attribute` from the mix or use a larger corpus")
            cap, m, v, new = got
            want = 1 if v > m.value else -1
        grp = lexicon.GROUPS[m.group]
        texts = {1: f"it becomes {grp.up}", 0: "it remains unchanged", -1: f"it becomes {grp.down}"}
        opts = [texts[want]] + [texts[w] for w in (1, 0, -1) if w != want]
        keys = (grp.name, lexicon.plain(m, m.value), lexicon.plain(m, v), want)
    else:
        got = _pick_edit(rng, pool, pool.attr)
        if not got:
            raise UserError(f"the {pool.name} split has no attribute word that can be edited; drop `attribute` "
                            "from the mix or use a larger corpus")
        cap, m, v, new = got
        grp = lexicon.GROUPS[m.group]
        form = grp.forms[m.form]
        x, y = form[m.value], form[v]
        others = [w for w in form if w not in (x, y)]
        dis = [f"from {y} to {x}", f"it stays {x}", f"it stays {y}"]
        dis += [f"from {x} to {z}" for z in others] + [f"from {z} to {y}" for z in others]
        opts = [f"from {x} to {y}"] + [dis[j] for j in pick_distinct(rng, len(dis), 3)]
        keys = (grp.name, x, y, 1)
    q = _Q_ATTR[below(rng, 3)].format(noun=grp.noun)
    return Item([cap] * cut + [new] * (frames - cut), q, opts, keys + (cut,))


# ---------------------------------------------------------------- temporal referring
_Q_REF_SEG = ("Which object appears {seg} of the video?", "What is shown {seg} of the video?",
              "{Seg} of the video, which of these can be seen?")
_Q_REF_ANCHOR = ("What appears right {rel} {anchor}?", "Which object is shown immediately {rel} {anchor}?",
                 "What comes directly {rel} {anchor} in the video?")


def build_referring(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    caps, phr = _distinct_frames(rng, pool, frames + 1)
    caps, absent = caps[:frames], phr[frames]
    phr = phr[:frames]
    if subtask == "segment":
        s = below(rng, 3)
        by_seg: list[list[int]] = [[], [], []]
        for t in range(frames):
            by_seg[segment(t, frames)].append(t)
        pick = [by_seg[j][below(rng, len(by_seg[j]))] for j in range(3)]
        opts = [phr[pick[s]]] + [phr[pick[j]] for j in range(3) if j != s] + [absent]
        seg = SEGMENT_TEXT[s]
        q = _Q_REF_SEG[below(rng, 3)].format(seg=seg, Seg=seg[0].upper() + seg[1:])
        keys = (s,)
    else:
        a = 1 + below(rng, frames - 2)
        after = rng.random() < 0.5
        right, wrong = (a + 1, a - 1) if after else (a - 1, a + 1)
        opts = [phr[right], phr[wrong], phr[a], absent]
        q = _Q_REF_ANCHOR[below(rng, 3)].format(rel="after" if after else "before", anchor=phr[a])
        keys = (a, after)
    return Item(caps, q, opts, keys + (absent,))


# ---------------------------------------------------------------- temporal grounding
_Q_GROUND_SEG = ("When does {x} appear in the video?", "Where in the video is {x} shown?",
                 "At what point of the video can {x} be seen?")
_Q_GROUND_FRAME = ("In which frame does {x} appear?", "Which keyframe shows {x}?",
                   "{X} is described in which frame?")


def build_grounding(rng: random.Random, pool: Pool, frames: int, subtask: str) -> Item:
    caps, phr = _distinct_frames(rng, pool, frames)
    t = below(rng, frames)
    x = phr[t]
    fill = {"x": x, "X": x[0].upper() + x[1:]}
    if subtask == "segment":
        s = segment(t, frames)
        opts = [SEGMENT_TEXT[s]] + [SEGMENT_TEXT[j] for j in range(3) if j != s] + [ABSENT]
        q = _Q_GROUND_SEG[below(rng, 3)].format(**fill)
    else:
        others = [u + (u >= t) for u in pick_distinct(rng, frames - 1, min(3, frames - 1))]
        opts = [f"frame {t + 1}"] + [f"frame {u + 1}" for u in others]
        opts += [ABSENT] * (4 - len(opts))
        q = _Q_GROUND_FRAME[below(rng, 3)].format(**fill)
    return Item(caps, q, opts, (t,))


FAMILIES: dict[str, Family] = {
    "order": Family("order", ("phrase", "index", "sentence"), {"phrase": 4, "index": 4, "sentence": 4}, build_order),
    "attribute": Family("attribute", ("from_to", "direction"), {"from_to": 4, "direction": 3}, build_attribute),
    "referring": Family("referring", ("segment", "anchor"), {"segment": 4, "anchor": 4}, build_referring),
    "grounding": Family("grounding", ("segment", "frame"), {"segment": 4, "frame": 4}, build_grounding),
}
