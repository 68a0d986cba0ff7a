"""Non-temporal questions over a list of slots, each a frame or a caption: what makes the two read alike.

    >>> import random
    >>> from ablate.base.slots import slot_sample
    >>> s = slot_sample(random.Random(0), size=8, n=4, frame_share=0.0)   # text only: all slots captions
    >>> s.images.shape[0], "Captions:" in s.user or "Frames:" in s.user
    (0, True)

T3 teaches temporal reasoning over *caption lists* ("Captions:\\n<c1>\\n<c2>..."); the video test asks
the same over *frame* lists. This module poses non-temporal tasks on such lists, whose slots are frames
(`<image>`), captions (the world's varied captions or its canonical descriptions) or a mixture, under
either header ("Frames:" or "Captions:"), in both option layouts (TempCompass "A. x" and T3 "(A) x",
answered with the full option line) and as yes/no and caption matching. The base's replay data
(ablate.base.replay) is its text-only part: every slot a caption.

Every question here is about *what* the slots show, never *when*: is X in any slot, how many slots
show X, which of these objects is shown / is not shown, the colour or shape of an object that looks
the same wherever it is shown, what slot k shows. No order, change, direction, speed, before/after,
beginning/middle/end, and no "which frame" (tests/test_base_guards.py checks the generated text
against the world bench's and T3's question templates).
"""

from __future__ import annotations

import random

import numpy as np

from ablate.base.data import LETTERS, TC_MC_CLOSE, TC_YN_CLOSE, Sample
from ablate.base.prompts import IMAGE_TOKEN, VIDEO_INTRO, slot_list_text

# option-closing lines, a wider set than stage 2's (ablate.base.data)
T3_CLOSES = ("Only give the best option:", "Answer with the option's letter from the given choices directly.",
             "Please directly give the best option:", "Choose the correct option:")
CAPTION_INTROS = (
    "Based on the following captions describing keyframes of a video, answer the next question.",
    "Here are captions of frames from a video. Use them to answer the question.",
    "Read the following frame captions of a video and answer the question.",
)
FRAME_INTROS = (
    VIDEO_INTRO,
    "Here are frames from a video. Use them to answer the question.",
    "Look at the following frames of a video and answer the question.",
)
_NUM = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")
# no "appear": the word belongs to temporal templates ("When does X appear?", "In what order do they appear?")
_PRESENT_Q = ("Which of these objects is shown in the video?", "Which of the following can be seen in the video?",
              "Which of these is shown in the video?")
_ABSENT_Q = ("Which of these objects is not shown in the video?", "Which of the following is never shown in the video?",
             "Which of these cannot be seen in the video?")
_COUNT_Q = ("In how many frames is {x} shown?", "How many frames show {x}?", "How many of the frames contain {x}?")
_EXISTS_Q = ("Is there {x} in any of the frames?", "Is {x} shown in the video?", "Can {x} be seen in the video?")


def obj_phrase(rng: random.Random, o, article: bool | None = None) -> str:
    """A referring phrase for an object in the styles of the bench ("the red star") and of T3 key phrases."""
    from ablate.world.captions import SIZE_WORDS, with_article

    form = rng.randrange(5)
    if form == 0:
        return f"the {o.color} {o.shape}"
    if form == 1:
        return f"a {o.color} {o.shape}" if o.color[0] not in "aeiou" else f"an {o.color} {o.shape}"
    size = rng.choice(SIZE_WORDS[o.size])
    if form == 2:
        return f"{with_article(size)} {o.color} {o.shape}"
    if form == 3:
        return f"{with_article(size)} {o.shape} colored {o.color}"
    return f"{with_article(o.color)} {o.shape}, {size}"


def _scenes(rng: random.Random, n: int):
    """n scenes: a world clip (one event, consecutive frames) or unrelated still scenes, as T3 videos are."""
    from ablate.world.clips import sample_clip
    from ablate.world.scene import sample_scene

    r = rng.random()
    if r < 0.5:
        return sample_clip(rng, n)
    if r < 0.75:
        return [sample_scene(rng) for _ in range(n)]
    base = [sample_scene(rng) for _ in range(rng.randint(1, max(1, n // 2)))]  # repeats: counts above one
    return [rng.choice(base) for _ in range(n)]


def _keys(scene) -> set[tuple[str, str]]:
    return {(o.color, o.shape) for o in scene.objects}


def _absent(rng: random.Random, present: set, k: int) -> list[tuple[str, str]]:
    from ablate.world.scene import COLOR_NAMES, SHAPES

    pool = [(c, s) for c in COLOR_NAMES for s in SHAPES if (c, s) not in present]
    return rng.sample(pool, k)


def _obj_of(scenes, key):
    for sc in scenes:
        for o in sc.objects:
            if (o.color, o.shape) == key:
                return o
    from ablate.world.scene import Obj

    return Obj(key[1], key[0], "small", "center")


def _name(rng, scenes, key) -> str:
    return obj_phrase(rng, _obj_of(scenes, key))


def _mc(rng, question: str, right: str, wrong: list[str], style: str | None = None) -> tuple[str, str]:
    """A four-option question in the TempCompass ("tc": "A. x") or T3 ("t3": "(A) x") layout; style None
    draws one of the two (after the shuffle) with equal odds."""
    opts = [right] + wrong[:3]
    rng.shuffle(opts)
    letter = LETTERS[opts.index(right)]
    if style is None:
        style = "tc" if rng.random() < 0.5 else "t3"
    if style == "tc":
        return question + "\n" + "\n".join(f"{LETTERS[i]}. {x}" for i, x in enumerate(opts)) + "\n" + TC_MC_CLOSE, f"{letter}. {right}"
    return (f"Question: {question}\n" + "\n".join(f"({LETTERS[i]}) {x}" for i, x in enumerate(opts)) + "\n"
            + rng.choice(T3_CLOSES)), f"({letter}) {right}"


def _yn(rng, question: str, yes: bool, style: str) -> tuple[str, str]:
    q = question + "\n" + TC_YN_CLOSE if style == "tc" else f"Question: {question}\n{TC_YN_CLOSE}"
    return q, "yes" if yes else "no"


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def slot_question(rng: random.Random, scenes) -> tuple[str, str, str]:
    """(question block, answer, task) about what the slots show; never about when."""
    from ablate.world.captions import describe

    style = rng.choice(("tc", "t3"))
    present = set().union(*(_keys(s) for s in scenes))
    n = len(scenes)
    kind = rng.choices(("present", "absent", "count", "exists", "statement", "caption_match", "attribute", "describe_k"),
                       weights=(3, 2, 2, 2, 2, 2, 2, 2))[0]
    if not present:
        kind = "describe_k"
    if kind == "absent" and len(present) < 3:
        kind = "present"
    if kind == "present":
        right = rng.choice(sorted(present))
        wrong = _absent(rng, present, 3)
        return (*_mc(rng, rng.choice(_PRESENT_Q), _name(rng, scenes, right), [_name(rng, scenes, w) for w in wrong], style), "slots_present")
    if kind == "absent":
        right = _absent(rng, present, 1)[0]
        wrong = rng.sample(sorted(present), 3)
        return (*_mc(rng, rng.choice(_ABSENT_Q), _name(rng, scenes, right), [_name(rng, scenes, w) for w in wrong], style), "slots_absent")
    if kind == "count":
        key = rng.choice(sorted(present)) if rng.random() < 0.85 else _absent(rng, present, 1)[0]
        c = sum(key in _keys(s) for s in scenes)
        wrong = rng.sample([_NUM[i] for i in range(0, n + 1) if i != c], min(3, n))
        q = rng.choice(_COUNT_Q).format(x=_name(rng, scenes, key))
        return (*_mc(rng, q, _NUM[c], wrong, style), "slots_count")
    if kind in ("exists", "statement"):
        yes = rng.random() < 0.5
        key = rng.choice(sorted(present)) if yes else _absent(rng, present, 1)[0]
        x = _name(rng, scenes, key)
        if kind == "exists":
            q = rng.choice(_EXISTS_Q).format(x=x)
        else:  # TempCompass's yes/no wording, about what the video shows
            q = f"Is the following statement about the video true? {_cap(x)} is shown in the video."
        return (*_yn(rng, q, yes, style), "slots_yes_no")
    if kind == "caption_match":
        right = rng.choice(sorted(present))
        wrong = _absent(rng, present, 1)[0]
        lines = [f"{_cap(_name(rng, scenes, k))} is shown in the video." for k in (right, wrong)]
        truth = lines[0]
        rng.shuffle(lines)
        opts = [f"Caption {LETTERS[i]}: {x}" for i, x in enumerate(lines)]
        q = "Which caption matches the video best?\n" + "\n".join(opts)
        q = q + "\n" + TC_MC_CLOSE if style == "tc" else f"Question: {q}\n{rng.choice(T3_CLOSES)}"
        return q, opts[lines.index(truth)], "slots_caption_match"
    if kind == "attribute":
        from ablate.world.scene import COLOR_NAMES, SHAPES

        # an object whose colour (or shape) is the same wherever its shape (or colour) is shown
        by_shape: dict[str, set] = {}
        by_color: dict[str, set] = {}
        for c, s in present:
            by_shape.setdefault(s, set()).add(c)
            by_color.setdefault(c, set()).add(s)
        shapes = [s for s, cs in by_shape.items() if len(cs) == 1 and len(by_shape) >= 1]
        colors = [c for c, ss in by_color.items() if len(ss) == 1]
        if shapes and (not colors or rng.random() < 0.5):
            s = rng.choice(sorted(shapes))
            c = next(iter(by_shape[s]))
            return (*_mc(rng, f"What color is the {s} in the video?", c, rng.sample([x for x in COLOR_NAMES if x != c], 3), style),
                    "slots_attribute")
        if colors:
            c = rng.choice(sorted(colors))
            s = next(iter(by_color[c]))
            return (*_mc(rng, f"What shape is the {c} object in the video?", s, rng.sample([x for x in SHAPES if x != s], 3), style),
                    "slots_attribute")
        kind = "describe_k"
    k = rng.randint(1, n)
    q = rng.choice(("Describe frame {k}.", "What is shown in frame {k}?", "Describe what frame {k} shows.")).format(k=k)
    return q, describe(scenes[k - 1]), "slots_describe_k"


def slot_sample(rng: random.Random, size: int, n: int | None = None, frame_share: float | None = None,
                max_frames: int = 8):
    """One sample: a slot list (frames, captions or both) and a non-temporal question about it.

    frame_share: the probability that a slot is a frame (None: all frames, all captions or a mixture,
    a third each). Text-only samples (frame_share=0) are what T3 cells replay.
    """
    from ablate.world.captions import caption, describe
    from ablate.world.render import render

    n = n or (max_frames if rng.random() < 0.5 else rng.randint(3, max_frames))
    scenes = _scenes(rng, n)
    if frame_share is None:
        frame_share = rng.choice((0.0, 1.0, 0.5))
    is_frame = [rng.random() < frame_share for _ in range(n)]
    slots, images = [], []
    for sc, fr in zip(scenes, is_frame):
        if fr:
            slots.append(IMAGE_TOKEN)
            images.append(render(sc, size))
        else:
            slots.append(caption(sc, rng).split(". ")[0].rstrip(".") + "." if rng.random() < 0.7 else describe(sc))
    header = rng.choice(("Captions:", "Frames:"))
    intro = rng.choice(CAPTION_INTROS if header == "Captions:" else FRAME_INTROS)
    q, answer, task = slot_question(rng, scenes)
    arr = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return Sample(slot_list_text(slots, q, intro=intro, header=header), answer, arr, task)
