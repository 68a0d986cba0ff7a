"""Render a scene to an RGB array with PIL (supersampled, then box-filtered down).

    >>> import random
    >>> from ablate.world.scene import sample_scene
    >>> from ablate.world.render import render
    >>> render(sample_scene(random.Random(0)), size=64).shape
    (64, 64, 3)

The canvas is a 3x3 grid of cells; an object is drawn centred in its cell (plus its dx/dy shift),
with radius SIZE_RADIUS[size] * scale cells, rotated by `angle`. Background colour encodes lighting.
Drawing at 4x and downsampling keeps small shapes recognisable at 64 px.
"""

from __future__ import annotations

import math

import numpy as np

from ablate.world.scene import BACKGROUNDS, COLORS, SIZE_RADIUS, Obj, Scene, cell_of

_SS = 4  # supersampling factor


def _unit_polygon(shape: str) -> list[tuple[float, float]] | None:
    """Vertices on the unit circle scale for polygonal shapes; None for the circle."""
    if shape == "circle":
        return None
    if shape == "square":
        s = 0.82
        return [(-s, -s), (s, -s), (s, s), (-s, s)]
    if shape == "diamond":
        return [(0, -1.0), (0.75, 0), (0, 1.0), (-0.75, 0)]
    if shape == "triangle":
        # centroid at the origin, so a spinning triangle turns in place
        return [(0, -1.1), (0.95, 0.55), (-0.95, 0.55)]
    if shape == "star":
        pts = []
        for k in range(10):
            r = 1.05 if k % 2 == 0 else 0.45
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((r * math.cos(a), r * math.sin(a)))
        return pts
    if shape == "cross":
        a, b = 0.95, 0.32
        return [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)]
    raise ValueError(f"unknown shape {shape!r}")


def object_geometry(obj: Obj, size: int) -> tuple[float, float, float]:
    """(cx, cy, radius) of an object in pixels on a `size` canvas."""
    cell = size / 3
    row, col = cell_of(obj.position)
    cx = (col + 0.5 + obj.dx) * cell
    cy = (row + 0.5 + obj.dy) * cell
    return cx, cy, SIZE_RADIUS[obj.size] * obj.scale * cell


def _draw(draw, obj: Obj, size: int) -> None:
    cx, cy, r = (v * _SS for v in object_geometry(obj, size))
    fill = COLORS[obj.color]
    poly = _unit_polygon(obj.shape)
    if poly is None:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        return
    a = math.radians(obj.angle)
    ca, sa = math.cos(a), math.sin(a)
    # y grows downwards on screen, so a counter-clockwise turn negates the sine term.
    pts = [(cx + r * (x * ca + y * sa), cy + r * (-x * sa + y * ca)) for x, y in poly]
    draw.polygon(pts, fill=fill)


def render(scene: Scene, size: int = 64) -> np.ndarray:
    """The scene as a uint8 array [size, size, 3]."""
    from PIL import Image, ImageDraw

    big = Image.new("RGB", (size * _SS, size * _SS), BACKGROUNDS[scene.lighting])
    draw = ImageDraw.Draw(big)
    for obj in scene.objects:
        _draw(draw, obj, size)
    return np.asarray(big.resize((size, size), Image.BOX), dtype=np.uint8)


def render_clip(frames: list[Scene], size: int = 64) -> np.ndarray:
    """A clip as uint8 [T, size, size, 3]."""
    return np.stack([render(s, size) for s in frames])
