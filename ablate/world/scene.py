"""Scenes of the embedded world: a few coloured shapes on a 3x3 grid under dim or bright light.

    >>> import random
    >>> from ablate.world.scene import sample_scene, Scene
    >>> s = sample_scene(random.Random(0))
    >>> Scene.from_dict(s.to_dict()) == s
    True

A scene is pure data (frozen dataclasses, JSON round-trip via to_dict/from_dict). Rendering lives in
`render.py`, language in `captions.py`, time in `clips.py`. The vocabularies below are the only words
captions and questions use for attributes, so a test can map any caption back onto pixels.

Continuous fields exist for motion and actions: `dx`/`dy` shift an object inside its cell (in cell
units, -0.5..0.5), `angle` rotates it (degrees, counter-clockwise), `scale` multiplies its size's
radius (growing / shrinking). Static captioned images keep them at their defaults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")

# Hue-separated, saturated colours: they survive 4:2:0 chroma subsampling of a 64 px mp4.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (245, 225, 20),
    "green": (30, 170, 40),
    "cyan": (0, 200, 220),
    "blue": (30, 60, 235),
    "purple": (140, 40, 200),
    "pink": (255, 110, 200),
}
COLOR_NAMES = tuple(COLORS)

SIZES = ("small", "large")
# Object radius as a fraction of a grid cell's side.
SIZE_RADIUS = {"small": 0.25, "large": 0.44}

# Row-major 3x3 grid: index = 3 * row + col.
POSITIONS = (
    "top left", "top middle", "top right",
    "middle left", "center", "middle right",
    "bottom left", "bottom middle", "bottom right",
)

LIGHTING = ("dim", "bright")
BACKGROUNDS = {"dim": (28, 28, 38), "bright": (200, 200, 192)}


def cell_of(position: str) -> tuple[int, int]:
    """(row, col) of a named grid position."""
    i = POSITIONS.index(position)
    return divmod(i, 3)


def position_at(row: int, col: int) -> str:
    """The named grid position at (row, col); rows/cols are 0..2."""
    if not (0 <= row < 3 and 0 <= col < 3):
        raise ValueError(f"cell ({row}, {col}) is off the 3x3 grid")
    return POSITIONS[3 * row + col]


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    size: str
    position: str
    angle: float = 0.0  # degrees counter-clockwise; spinning
    dx: float = 0.0  # shift inside the cell, cell units (+ = right); smooth motion, bouncing
    dy: float = 0.0  # shift inside the cell, cell units (+ = down)
    scale: float = 1.0  # multiplies SIZE_RADIUS[size]; gradual growing / shrinking

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}")
        if self.color not in COLORS:
            raise ValueError(f"unknown color {self.color!r}")
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"unknown position {self.position!r}")

    @property
    def name(self) -> str:
        """Short referring expression without size/position: "red circle"."""
        return f"{self.color} {self.shape}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"shape": self.shape, "color": self.color, "size": self.size, "position": self.position}
        for k, default in (("angle", 0.0), ("dx", 0.0), ("dy", 0.0), ("scale", 1.0)):
            v = getattr(self, k)
            if v != default:
                d[k] = round(float(v), 4)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Obj":
        return cls(**d)

    def with_(self, **kw) -> "Obj":
        return replace(self, **kw)


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...] = field(default_factory=tuple)
    lighting: str = "bright"

    def __post_init__(self):
        if self.lighting not in LIGHTING:
            raise ValueError(f"unknown lighting {self.lighting!r}")
        object.__setattr__(self, "objects", tuple(self.objects))
        cells = [o.position for o in self.objects]
        if len(set(cells)) != len(cells):
            raise ValueError(f"two objects share a cell: {cells}")

    def to_dict(self) -> dict[str, Any]:
        return {"lighting": self.lighting, "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Scene":
        return cls(objects=tuple(Obj.from_dict(o) for o in d["objects"]), lighting=d["lighting"])

    def with_(self, **kw) -> "Scene":
        return replace(self, **kw)


def sample_obj(rng: random.Random, position: str, avoid: set[tuple[str, str]] = frozenset()) -> Obj:
    """A random object at `position` whose (color, shape) is not in `avoid` (keeps references unique)."""
    while True:
        color, shape = rng.choice(COLOR_NAMES), rng.choice(SHAPES)
        if (color, shape) not in avoid:
            return Obj(shape=shape, color=color, size=rng.choice(SIZES), position=position)


def sample_scene(rng: random.Random, n_objects: int | None = None, lighting: str | None = None) -> Scene:
    """A random scene of 1-3 objects (or `n_objects`) in distinct cells with distinct colour+shape."""
    n = n_objects if n_objects is not None else rng.choice((1, 2, 2, 3, 3))
    cells = rng.sample(POSITIONS, n)
    objs: list[Obj] = []
    for pos in cells:
        objs.append(sample_obj(rng, pos, {(o.color, o.shape) for o in objs}))
    return Scene(objects=tuple(objs), lighting=lighting or rng.choice(LIGHTING))
