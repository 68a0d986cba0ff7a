"""Questions about a clip's event: the facts each TempCompass format and the text twin are built from.

    >>> import random
    >>> from ablate.world.clips import sample_event, reverse
    >>> clip = sample_event(random.Random(0), 8, "move")
    >>> f, r = facts(clip), facts(reverse(clip))
    >>> f.stem == r.stem and f.options == r.options and f.answer != r.answer
    True

`facts(clip)` gives, for the clip's orientation (forward or reversed):
- one multiple-choice stem with a canonical list of 4 options and the correct option text;
- two statements of which exactly one is true (yes/no and caption matching use them).
Stems, options and statements come from the canonical (forward) event only, so a video and its
reversal are asked the very same things; for order-sensitive kinds (FLIPS) the answers swap.
"""

from __future__ import annotations

from dataclasses import dataclass

from ablate.world.clips import KINDS, OPPOSITE, Clip

# Kinds whose answer changes when the video is played backwards.
FLIPS = frozenset(KINDS) - {"spin", "bounce", "speed_abs", "speed_rel"}

_DIR = {"left": "to the left", "right": "to the right", "up": "upward", "down": "downward"}
_ACTIONS = {"spin": "spinning", "bounce": "bouncing up and down", "grow": "growing larger", "shrink": "shrinking"}
_SWAP_WHEN = {"beginning": "end", "end": "beginning", "middle": "middle"}


@dataclass(frozen=True)
class Facts:
    aspect: str
    sub_dim: str
    stem: str
    options: tuple[str, ...]  # canonical order; the bench shuffles per question
    answer: str  # one of options
    statements: tuple[str, str]
    truth: tuple[bool, bool]  # exactly one True


def _pick(rev: bool, fwd, bwd):
    return bwd if rev else fwd


def facts(clip: Clip) -> Facts:
    """Stem, options, answer and statements for this clip (see module docstring)."""
    ev, kind = clip.event, clip.kind
    rev = bool(ev["reversed"])
    aspect, sub = KINDS[kind]
    flip = (not rev, rev)
    if kind == "move":
        t, d = ev["target"], ev["direction"]
        opts = tuple(_DIR[x] for x in ("left", "right", "up", "down"))
        ans = _DIR[_pick(rev, d, OPPOSITE[d])]
        st = (f"The {t} moves {_DIR[d]}.", f"The {t} moves {_DIR[OPPOSITE[d]]}.")
        return Facts(aspect, sub, f"In which direction does the {t} move?", opts, ans, st, flip)
    if kind == "pan":
        d = ev["camera"]
        opts = tuple(f"the camera pans {x}" for x in ("left", "right", "up", "down"))
        ans = f"the camera pans {_pick(rev, d, OPPOSITE[d])}"
        st = (f"The camera pans {d}.", f"The camera pans {OPPOSITE[d]}.")
        return Facts(aspect, sub, "How does the camera move in this video?", opts, ans, st, flip)
    if kind == "speed_abs":
        t = ev["target"]
        opts = ("slowly", "quickly", "it does not move", "it moves back and forth")
        ans = "quickly" if ev["fast"] else "slowly"
        st = (f"The {t} moves quickly.", f"The {t} moves slowly.")
        return Facts(aspect, sub, f"How fast does the {t} move?", opts, ans, st, (ev["fast"], not ev["fast"]))
    if kind == "speed_rel":
        a, b = ev["fast"], ev["slow"]
        opts = (f"the {a}", f"the {b}", "they move at the same speed", "neither of them moves")
        st = (f"The {a} moves faster than the {b}.", f"The {b} moves faster than the {a}.")
        return Facts(aspect, sub, "Which object moves faster?", opts, f"the {a}", st, (True, False))
    if kind in ("spin", "bounce", "grow"):
        t = ev["target"]
        opts = tuple(_ACTIONS[x] for x in ("spin", "bounce", "grow", "shrink"))
        if kind == "grow":
            ans = _ACTIONS[_pick(rev, "grow", "shrink")]
            st, truth = (f"The {t} is growing larger.", f"The {t} is shrinking."), flip
        else:
            other = "bounce" if kind == "spin" else "spin"
            ans = _ACTIONS[kind]
            st, truth = (f"The {t} is {_ACTIONS[kind]}.", f"The {t} is {_ACTIONS[other]}."), (True, False)
        return Facts(aspect, sub, f"What is the {t} doing?", opts, ans, st, truth)
    if kind == "sequence":
        objs = ev["objects"]

        def order(ix):
            return ", then ".join(f"the {objs[i]}" for i in ix)

        fwd, bwd = [0, 1, 2], [2, 1, 0]
        opts = tuple(order(ix) for ix in [fwd, bwd, *ev["alt_orders"]])
        st = tuple(f"First the {objs[i]} appears, then the {objs[j]}, and finally the {objs[k]}." for i, j, k in (fwd, bwd))
        return Facts(aspect, sub, "In what order do the objects appear?", opts, opts[1 if rev else 0], st, flip)
    if kind == "refer":
        objs, w = ev["objects"], ev["when"]
        first, last = objs[0], objs[2]
        fwd_ans = first if w == "beginning" else last
        bwd_ans = last if w == "beginning" else first
        opts = tuple(f"the {o}" for o in (*objs, ev["distractor"]))
        st = (f"At the {w} of the video, the {fwd_ans} is shown.", f"At the {w} of the video, the {bwd_ans} is shown.")
        return Facts(aspect, w, f"Which object is shown at the {w} of the video?", opts,
                     f"the {_pick(rev, fwd_ans, bwd_ans)}", st, flip)
    if kind == "ground":
        objs, w = ev["objects"], ev["when"]
        t = objs[0] if w == "beginning" else objs[2]
        at = {"beginning": "at the beginning", "middle": "in the middle", "end": "at the end"}
        opts = (at["beginning"], at["middle"], at["end"], "it never appears")
        actual = _pick(rev, w, _SWAP_WHEN[w])
        st = (f"The {t} appears {at[w]} of the video.", f"The {t} appears {at[_SWAP_WHEN[w]]} of the video.")
        return Facts(aspect, actual, f"When does the {t} appear in the video?", opts, at[actual], st, flip)
    if kind == "color_change":
        t, a, b, c = ev["target"], ev["from"], ev["to"], ev["alt"]
        opts = (f"from {a} to {b}", f"from {b} to {a}", f"from {a} to {c}", f"from {c} to {b}")
        st = (f"The {t} changes color from {a} to {b}.", f"The {t} changes color from {b} to {a}.")
        return Facts(aspect, sub, f"How does the color of the {t} change?", opts, opts[1 if rev else 0], st, flip)
    if kind == "light_change":
        a, b = ev["from"], ev["to"]
        opts = (f"it goes from {a} to {b}", f"it goes from {b} to {a}", f"it stays {a}", f"it stays {b}")
        st = (f"The lighting goes from {a} to {b}.", f"The lighting goes from {b} to {a}.")
        return Facts(aspect, sub, "How does the lighting change during the video?", opts, opts[1 if rev else 0], st, flip)
    if kind == "size_change":
        t, a, b = ev["target"], ev["from"], ev["to"]
        opts = (f"it changes from {a} to {b}", f"it changes from {b} to {a}", f"it stays {a}", f"it stays {b}")
        st = (f"The {t} changes from {a} to {b}.", f"The {t} changes from {b} to {a}.")
        return Facts(aspect, sub, f"How does the size of the {t} change?", opts, opts[1 if rev else 0], st, flip)
    if kind == "shape_change":
        t, a, b, c = ev["target"], ev["from"], ev["to"], ev["alt"]
        opts = (f"from a {a} to a {b}", f"from a {b} to a {a}", f"from a {a} to a {c}", f"from a {c} to a {b}")
        st = (f"The {t} object changes from a {a} to a {b}.", f"The {t} object changes from a {b} to a {a}.")
        return Facts(aspect, sub, f"How does the shape of the {t} object change?", opts, opts[1 if rev else 0], st, flip)
    if kind == "combined_change":
        t, a, b = ev["target"], ev["from"], ev["to"]
        g, s = ("bigger", "smaller") if ev["grows"] else ("smaller", "bigger")
        opts = (f"it turns from {a} to {b} and gets {g}", f"it turns from {b} to {a} and gets {s}",
                f"it turns from {a} to {b} and gets {s}", f"it turns from {b} to {a} and gets {g}")
        st = (f"The {t} turns from {a} to {b} and gets {g}.", f"The {t} turns from {b} to {a} and gets {s}.")
        return Facts(aspect, sub, f"What happens to the {t}?", opts, opts[1 if rev else 0], st, flip)
    raise ValueError(f"no questions for clip kind {kind!r}")
