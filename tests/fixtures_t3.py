"""Session fixtures for the T3 synthesis tests: small caption corpora written in real formats.

    def test_x(t3_world_corpus): ...   # a LLaVA-pretrain JSON of world-style + generic captions

`t3_world_corpus` mixes captions shaped like the embedded world's ("The image shows a large red circle
in the top left corner of a dimly lit room.") with generic photo captions, so every family and every
attribute group of interest has material. Fixture files in the real formats live in tests/data/t3/.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

T3_DATA = Path(__file__).parent / "data" / "t3"
SIZES = ("small", "large")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle", "star")
POSITIONS = ("top left corner", "top right corner", "bottom left corner", "bottom right corner", "center")
LIGHTING = ("dimly lit", "brightly lit")
GENERIC = (
    "A wet dog shaking off water on a sunny beach.",
    "An empty bus stop on a snowy morning.",
    "A tight knot tied in an old rope.",
    "The kitchen door is open and the room is bright.",
    "A cold cup of coffee on a messy desk.",
    "Children playing in a crowded park in the afternoon.",
    "A loose shirt hanging on a clothesline.",
    "A full moon over a foggy harbour at night.",
)


def world_captions(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    caps = [f"The image shows a {s} {c} {sh} in the {p} of a {l} room."
            for s, c, sh, p, l in itertools.product(SIZES, COLOURS, SHAPES, POSITIONS, LIGHTING)]
    rng.shuffle(caps)
    return caps


def write_llava(path: Path, captions: list[str]) -> Path:
    recs = [{"id": f"{i:09d}", "image": f"{i:09d}.png",
             "conversations": [{"from": "human", "value": "<image>\nDescribe the image."},
                               {"from": "gpt", "value": c}]} for i, c in enumerate(captions)]
    path.write_text(json.dumps(recs, indent=1))
    return path


@pytest.fixture(scope="session")
def t3_world_corpus(tmp_path_factory) -> Path:
    """~970 unique captions (world-style and generic) in LLaVA pretrain JSON."""
    caps = world_captions() + [f"{g[:-1]} number {i}." for i in range(3) for g in GENERIC]
    return write_llava(tmp_path_factory.mktemp("t3corpus") / "captions.json", caps)
