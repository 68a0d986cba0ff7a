"""Session fixture `micro_world`: a tiny embedded world (captions + bench) built once per test session.

    def test_x(micro_world):            # a Path to a complete world directory
        assert (micro_world / "bench" / "meta_info.json").exists()

Sizes: 60 images (3 held out) and 28 bench videos of 8 frames at 64 px (two clip pairs per aspect,
112 questions); builds in about a second.
"""

from __future__ import annotations

import pytest

MICRO_WORLD = {"images": 60, "videos": 28, "frames": 8, "size": 64, "seed": 0}


@pytest.fixture(scope="session")
def micro_world(tmp_path_factory):
    from ablate.world import build_world

    root = tmp_path_factory.mktemp("micro_world") / "world"
    build_world(root, **MICRO_WORLD, workers=1, show=False)
    return root


# --- pixel perception shared by the world tests: recover what is visible without scene metadata ---

def lighting_of(img) -> str:
    """dim / bright from the median pixel (most of a frame is background)."""
    import numpy as np

    return "dim" if np.median(img.astype(float).mean(axis=2)) < 110 else "bright"


def soft_mask(img):
    """0..1 per pixel: how far from the background colour (edges blended by resizing / mp4 are partial)."""
    import numpy as np

    from ablate.world.scene import BACKGROUNDS

    bg = np.array(BACKGROUNDS[lighting_of(img)], dtype=float)
    return np.clip(np.abs(img.astype(float) - bg).max(axis=2) / 120.0, 0, 1)


def object_mask(img):
    """Pixels clearly different from the background colour of the frame's lighting."""
    return soft_mask(img) > 0.5


def color_votes(img, mask) -> dict[str, int]:
    """Nearest palette colour of every masked pixel, counted."""
    import numpy as np

    from ablate.world.scene import COLORS

    names = list(COLORS)
    pal = np.array([COLORS[n] for n in names], dtype=float)
    px = img[mask].astype(float)
    if not len(px):
        return {}
    near = ((px[:, None, :] - pal[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(near, minlength=len(names))
    return {names[i]: int(c) for i, c in enumerate(counts) if c}


def main_color(img, mask) -> str | None:
    votes = color_votes(img, mask)
    return max(votes, key=votes.get) if votes else None


def perceive(img) -> dict:
    """Scene from pixels: lighting and, per occupied grid cell, colour, shape and size.

    Shape and size come from the closest soft mask among each (shape, size) drawn alone in that cell:
    the captions' words must pick the template that matches the pixels best.
    """
    import numpy as np

    from ablate.world.render import render
    from ablate.world.scene import POSITIONS, SHAPES, SIZES, Obj, Scene

    size = img.shape[0]
    light = lighting_of(img)
    mask = object_mask(img)
    soft = soft_mask(img)
    cell = size / 3
    objs = {}
    for i, pos in enumerate(POSITIONS):
        r, c = divmod(i, 3)
        sl = (slice(int(r * cell), int((r + 1) * cell)), slice(int(c * cell), int((c + 1) * cell)))
        m = mask[sl]
        if m.sum() < 8:
            continue
        best = None
        color = main_color(img[sl], m)
        for shape in SHAPES:
            for sz in SIZES:
                t = soft_mask(render(Scene((Obj(shape, color, sz, pos),), light), size))[sl]
                err = float(((soft[sl] - t) ** 2).sum())
                if best is None or err < best[0]:
                    best = (err, shape, sz)
        objs[pos] = {"color": color, "shape": best[1], "size": best[2], "err": best[0]}
    return {"lighting": light, "objects": objs}


def centroid(img, color: str):
    """(row, col) mean of the pixels nearest to `color`, in cell units; None if absent."""
    import numpy as np

    from ablate.world.scene import COLORS

    mask = object_mask(img)
    names = list(COLORS)
    pal = np.array([COLORS[n] for n in names], dtype=float)
    near = ((img.astype(float)[..., None, :] - pal) ** 2).sum(-1).argmin(-1)
    sel = mask & (near == names.index(color))
    if sel.sum() < 4:
        return None
    ys, xs = np.nonzero(sel)
    cell = img.shape[0] / 3
    return ys.mean() / cell, xs.mean() / cell, int(sel.sum())
