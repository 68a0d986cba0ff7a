"""Text-only option-binding drills: answer a multiple-choice question with the right option's letter.

    >>> import random
    >>> from ablate.base.binding import binding_sample
    >>> s = binding_sample(random.Random(0))
    >>> s.images.shape[0], s.answer[:1] in "(ABCD"
    (0, True)

Every benchmark and every T3 row asks for "(C) <option>": the letter comes first, so the model must find
which option holds the answer and emit *its* label. A tiny LM does not pick that up from mixed
instruction data: the first `tiny-t3` base answered its own held-out stage-2 questions at chance (25%)
and, fine-tuned on 1,250 x 32 short drills afterwards, stayed at chance; the same 4 x 128 LM trained
from scratch on the drills alone reached 63% at 2,000 steps, and 82% at 1,000 steps with the letter's
loss weighted 5x (see reports/transfer_experiments.md). So base configs can run a drills-only stage on
the fresh LM (`binding_steps`, the `lookup` drill), keep a `binding` share of drills in stages 1-2 and
weight the letter (`letter_weight`).

Three drills, none about time: `lookup` (which option says X: the option text is given in the
question), `attribute` (the colour / shape / size / place of an object named in one caption) and
`shown` (which of these objects is shown in a list of captions). Both option layouts (TempCompass
"A. x", T3 "(A) x"), options drawn from every phrasing so no answer is predictable from the question.
"""

from __future__ import annotations

import random

import numpy as np

from ablate.base.slots import LETTERS, _mc

KINDS = ("lookup", "attribute", "shown")


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "."


def _distinct_phrases(rng: random.Random, k: int) -> list[str]:
    from ablate.base.slots import obj_phrase
    from ablate.world.scene import sample_scene

    out: list[str] = []
    keys: set = set()
    while len(out) < k:
        for o in sample_scene(rng).objects:
            if (o.color, o.shape) not in keys and len(out) < k:  # phrases may drop the size: tell objects apart without it
                keys.add((o.color, o.shape))
                out.append(obj_phrase(rng, o))
    return out


def _lookup(rng: random.Random) -> tuple[str, str]:
    ph = _distinct_phrases(rng, 4)
    return _mc(rng, rng.choice(("Which option says {x}?", "Which option is {x}?", "Find {x} among the options."))
               .format(x=ph[0]), ph[0], ph[1:])


def _attribute(rng: random.Random) -> tuple[str, str] | None:
    from ablate.world.captions import caption
    from ablate.world.scene import COLOR_NAMES, POSITIONS, SHAPES, sample_scene

    sc = sample_scene(rng)
    o = rng.choice(sc.objects)
    same_shape = [x for x in sc.objects if x.shape == o.shape]
    same_color = [x for x in sc.objects if x.color == o.color]
    cap = _first_sentence(caption(sc, rng))
    what = rng.choice(("color", "shape", "size", "position"))
    if what == "color" and len(same_shape) == 1:
        q, right, pool = f"What color is the {o.shape}?", o.color, COLOR_NAMES
    elif what == "shape" and len(same_color) == 1:
        q, right, pool = f"What shape is the {o.color} object?", o.shape, SHAPES
    elif what == "size" and len(same_shape) == 1:
        q, right, pool = f"How big is the {o.shape}?", o.size, ("small", "large", "medium", "huge")
    elif what == "position" and len(same_shape) == 1:
        q, right, pool = f"Where is the {o.shape}?", o.position, POSITIONS
    else:
        return None
    return _mc(rng, f"Caption: {cap}\n{q}", right, rng.sample([x for x in pool if x != right], 3))


def _shown(rng: random.Random) -> tuple[str, str]:
    from ablate.base.slots import obj_phrase
    from ablate.world.captions import caption
    from ablate.world.scene import COLOR_NAMES, SHAPES, Obj, sample_scene

    scenes = [sample_scene(rng) for _ in range(rng.randint(1, 4))]
    present = sorted({(o.color, o.shape) for s in scenes for o in s.objects})
    absent = [(c, s) for c in COLOR_NAMES for s in SHAPES if (c, s) not in present]
    right, wrong = rng.choice(present), rng.sample(absent, 3)
    size = lambda: rng.choice(("small", "large"))  # noqa: E731
    name = lambda k: obj_phrase(rng, Obj(k[1], k[0], size(), "center"))  # noqa: E731
    caps = "\n".join(_first_sentence(caption(s, rng)) for s in scenes)
    q = rng.choice(("Which of these is shown?", "Which of these objects is mentioned in the captions?",
                    "Which of the following can be seen?"))
    real = next(o for s in scenes for o in s.objects if (o.color, o.shape) == right)
    return _mc(rng, f"Captions:\n{caps}\n{q}", obj_phrase(rng, real), [name(w) for w in wrong])


def binding_sample(rng: random.Random, kind: str | None = None):
    """One text-only drill (a `Sample` without images) of `kind` (drawn uniformly when None)."""
    from ablate.base.data import Sample

    while True:
        k = kind or rng.choice(KINDS)
        qa = _lookup(rng) if k == "lookup" else _attribute(rng) if k == "attribute" else _shown(rng)
        if qa is not None:
            return Sample(qa[0], qa[1], np.zeros((0, 1, 1, 3), np.uint8), f"binding_{k}")
