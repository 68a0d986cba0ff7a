"""English for scenes: varied recaption-style captions and one canonical description.

    >>> import random
    >>> from ablate.world.scene import POSITIONS, Obj, Scene
    >>> s = Scene((Obj("circle", "red", "large", "top left"),), "dim")
    >>> describe(s)
    'A large red circle at the top left, dimly lit.'
    >>> len({caption(s, random.Random(i)) for i in range(50)}) > 20
    True

`caption` is what the base model pretrains on and what T3 synthesizes from, so it varies openers,
word order, synonyms and sentence splits (a model must not be able to learn one template). Every
variant is true by construction: it only uses the words in SIZE_WORDS / POSITION_WORDS / LIGHT_WORDS,
which map back to exactly one attribute value. The first sentence always names every object (T3
keeps only a caption's first sentence).

`describe` is deterministic and short: the frame captions of the bench's text twin and the
answer to "describe frame k".
"""

from __future__ import annotations

import random

from ablate.world.scene import POSITIONS, Obj, Scene

SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
POSITION_WORDS = {
    "top left": ("in the top left corner", "at the top left", "in the upper left corner"),
    "top middle": ("at the top middle", "at the top center", "in the upper middle"),
    "top right": ("in the top right corner", "at the top right", "in the upper right corner"),
    "middle left": ("on the middle left", "at the left side", "on the left edge"),
    "center": ("in the center", "in the middle", "at the center"),
    "middle right": ("on the middle right", "at the right side", "on the right edge"),
    "bottom left": ("in the bottom left corner", "at the bottom left", "in the lower left corner"),
    "bottom middle": ("at the bottom middle", "at the bottom center", "in the lower middle"),
    "bottom right": ("in the bottom right corner", "at the bottom right", "in the lower right corner"),
}
LIGHT_WORDS = {
    "dim": ("dimly lit", "dark", "poorly lit", "shadowy", "dim"),
    "bright": ("brightly lit", "bright", "well-lit", "light"),
}
_BACKDROP = {
    "dim": ("a dark background", "a dim backdrop", "a dark gray background", "a shadowy background"),
    "bright": ("a light background", "a bright backdrop", "a light gray background", "a well-lit background"),
}
_SETTING = ("scene", "room", "space", "setting", "frame")
_NUM = {1: "one", 2: "two", 3: "three"}
POSITION_ORDER = {p: i for i, p in enumerate(POSITIONS)}


def with_article(word: str) -> str:
    """The word with its indefinite article: "a star", "an orange"."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _obj_phrase(o: Obj, rng: random.Random) -> str:
    size, pos = rng.choice(SIZE_WORDS[o.size]), rng.choice(POSITION_WORDS[o.position])
    form = rng.randrange(4)
    if form == 0:
        return f"{with_article(size)} {o.color} {o.shape} {pos}"
    if form == 1:
        return f"{with_article(o.color)} {o.shape}, {size}, {pos}"
    if form == 2:
        return f"{with_article(size)} {o.shape} colored {o.color} {pos}"
    return f"{with_article(size)} {o.color} {o.shape} placed {pos}"


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    last = " and " if rng.random() < 0.7 else ", and " if len(parts) > 2 else " and "
    return ", ".join(parts[:-1]) + last + parts[-1]


def caption(scene: Scene, rng: random.Random, grid_order: bool = False) -> str:
    """A varied, true, recaption-style English caption of the scene.

    Objects come in random order, or in grid (reading) order with `grid_order`: the tiny base's
    caption pretraining uses that, so its captions scan the image instead of tracking what it named.
    """
    objs = list(scene.objects)
    if grid_order:
        objs.sort(key=lambda o: POSITION_ORDER[o.position])
    else:
        rng.shuffle(objs)
    phrases = _join([_obj_phrase(o, rng) for o in objs], rng)
    light = rng.choice(LIGHT_WORDS[scene.lighting])
    backdrop = rng.choice(_BACKDROP[scene.lighting])
    setting = rng.choice(_SETTING)
    n = len(objs)
    if n == 0:
        return rng.choice((f"The image shows an empty, {light} {setting}.", f"An empty {setting} with {backdrop}."))
    count = f"{_NUM[n]} object{'s' if n > 1 else ''}"
    form = rng.randrange(8)
    if form == 0:
        text = f"The image shows {phrases} in {with_article(light)} {setting}."
    elif form == 1:
        text = f"{phrases[0].upper()}{phrases[1:]} against {backdrop}."
    elif form == 2:
        text = f"In this {light} image, there {'is' if n == 1 else 'are'} {phrases}."
    elif form == 3:
        text = f"This picture contains {count}: {phrases}. The {setting} is {light}."
    elif form == 4:
        text = f"We see {phrases} on {backdrop}."
    elif form == 5:
        text = f"A {light} {setting} with {phrases}."
    elif form == 6:
        text = f"The picture depicts {phrases}. The background is {rng.choice(('dark', 'dim')) if scene.lighting == 'dim' else rng.choice(('bright', 'light'))}."
    else:
        text = f"Shown here {'is' if n == 1 else 'are'} {phrases}, set against {backdrop}."
    if rng.random() < 0.25:
        text += f" In total there {'is' if n == 1 else 'are'} {count} in the {setting}."
    return text


def _pose(o: Obj) -> str:
    """Words for the continuous fields, so a frame description carries motion and actions."""
    bits = []
    if abs(o.angle % 360) > 1e-6:
        bits.append(f"turned {round(o.angle % 360)} degrees")
    if o.dy < -0.12:
        bits.append("raised up")
    elif o.dy > 0.12:
        bits.append("lowered")
    if o.dx < -0.12:
        bits.append("shifted left")
    elif o.dx > 0.12:
        bits.append("shifted right")
    if abs(o.scale - 1.0) > 0.05:
        bits.append(f"at {round(o.scale * 100)}% size")
    return (" (" + ", ".join(bits) + ")") if bits else ""


def describe_obj(o: Obj) -> str:
    return f"{with_article(o.size)} {o.color} {o.shape} at the {o.position}{_pose(o)}"


def describe(scene: Scene) -> str:
    """One canonical short description (deterministic; objects in grid order)."""
    light = "dimly lit" if scene.lighting == "dim" else "brightly lit"
    if not scene.objects:
        return f"An empty scene, {light}."
    objs = sorted(scene.objects, key=lambda o: POSITION_ORDER[o.position])
    parts = [describe_obj(o) for o in objs]
    body = parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + ("; and " if len(parts) > 2 else " and ") + parts[-1]
    return f"{body[0].upper()}{body[1:]}, {light}."

