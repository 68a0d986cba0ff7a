"""Scenes, rendering and captions: captions are true to the pixels; vocabularies; determinism."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from fixtures_world import perceive

from ablate.world.captions import LIGHT_WORDS, POSITION_WORDS, SIZE_WORDS, caption, describe
from ablate.world.clips import KINDS, sample_clip, sample_event
from ablate.world.render import render
from ablate.world.scene import COLORS, LIGHTING, POSITIONS, SHAPES, SIZES, Obj, Scene, sample_scene


def test_vocabularies():
    assert len(SHAPES) >= 6 and len(COLORS) >= 8 and SIZES == ("small", "large") and LIGHTING == ("dim", "bright")
    assert len(POSITIONS) == 9 and POSITIONS[0] == "top left" and POSITIONS[4] == "center" and POSITIONS[8] == "bottom right"
    # every phrase maps back to one value
    phrases = [p for ps in POSITION_WORDS.values() for p in ps]
    assert len(phrases) == len(set(phrases))


def test_scene_roundtrip_and_determinism():
    for seed in range(50):
        s = sample_scene(random.Random(seed))
        assert Scene.from_dict(s.to_dict()) == s
        assert 1 <= len(s.objects) <= 3
        assert len({o.position for o in s.objects}) == len(s.objects)
        assert s == sample_scene(random.Random(seed))
    with pytest.raises(ValueError):
        Scene((Obj("circle", "red", "small", "center"), Obj("star", "blue", "large", "center")))


def test_dim_and_bright_clearly_differ():
    for light in LIGHTING:
        img = render(Scene((), light), 64)
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert render(Scene((), "bright")).mean() - render(Scene((), "dim")).mean() > 100


_POS_RE = re.compile("|".join(sorted((re.escape(p) for ps in POSITION_WORDS.values() for p in ps), key=len, reverse=True)))
_POS_OF = {p: pos for pos, ps in POSITION_WORDS.items() for p in ps}
_SIZE_OF = {w: s for s, ws in SIZE_WORDS.items() for w in ws}


def parse_caption(text: str) -> dict[str, dict]:
    """Object mentions of a caption, keyed by position: each position phrase closes one object phrase."""
    out, start = {}, 0
    for m in _POS_RE.finditer(text):
        seg = text[start:m.start()].lower()
        start = m.end()
        colors = [c for c in COLORS if re.search(rf"\b{c}\b", seg)]
        shapes = [s for s in SHAPES if re.search(rf"\b{s}\b", seg)]
        sizes = [_SIZE_OF[w] for w in re.findall(r"\b(" + "|".join(_SIZE_OF) + r")\b", seg)]
        assert len(colors) == len(shapes) == len(sizes) == 1, (text, seg)
        out[_POS_OF[m.group(0)]] = {"color": colors[0], "shape": shapes[0], "size": sizes[0]}
    return out


def _lighting_named(text: str) -> str:
    t = text.lower()
    dim = any(w in t for w in ("dim", "dark", "shadowy", "poorly lit"))
    bright = any(w in t for w in ("bright", "light ", "light.", "well-lit", "pale"))
    assert dim != bright, text
    return "dim" if dim else "bright"


def test_captions_true_to_pixels():
    for seed in range(60):
        rng = random.Random(seed)
        scene = sample_scene(rng)
        seen = perceive(render(scene, 64))
        text = caption(scene, rng)
        named = parse_caption(text)
        # every named object is there in the pixels with that colour, shape and size, and nothing else is
        assert set(named) == set(seen["objects"]), (text, seen)
        for pos, o in named.items():
            px = seen["objects"][pos]
            assert (o["color"], o["shape"], o["size"]) == (px["color"], px["shape"], px["size"]), (text, pos, px)
        assert _lighting_named(text) == seen["lighting"]


def test_captions_are_varied():
    s = Scene((Obj("circle", "red", "large", "top left"), Obj("star", "blue", "small", "center")), "dim")
    texts = {caption(s, random.Random(i)) for i in range(200)}
    assert len(texts) > 100
    openers = {t.split()[0] for t in texts}
    assert len(openers) >= 5


def test_describe_is_canonical():
    s = sample_scene(random.Random(3))
    assert describe(s) == describe(Scene.from_dict(s.to_dict()))
    assert describe(Scene((Obj("circle", "red", "large", "top left"),), "dim")) == "A large red circle at the top left, dimly lit."
    for light, words in LIGHT_WORDS.items():
        assert words[0] in describe(Scene((), light))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_clip_kind_changes_over_time(kind):
    frames = sample_clip(random.Random(7), 8, kind)
    assert len(frames) == 8
    imgs = [render(f, 64) for f in frames]
    # the event is visible: some later frame differs from the first in pixels
    assert any(np.abs(imgs[0].astype(int) - im.astype(int)).max() > 60 for im in imgs[1:])
    assert sample_event(random.Random(7), 8, kind).frames == tuple(frames)
