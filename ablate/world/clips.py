"""Short clips of the world: a list of scenes (one per frame) built around one temporal event.

    >>> import random
    >>> from ablate.world.clips import sample_clip, sample_event, reverse, KINDS
    >>> frames = sample_clip(random.Random(0), frames=8, kind="move")
    >>> len(frames)
    8
    >>> clip = sample_event(random.Random(0), 8, "color_change")
    >>> reverse(clip).event["reversed"]
    True

`sample_event` returns a `Clip`: the frames plus `event`, the canonical (forward) description of what
happens, from which the benchmark derives questions and answers. `reverse(clip)` plays the frames
backwards and flips `event["reversed"]`; the canonical fields stay, so a video and its reversal share
question stems and option sets while order-sensitive answers flip.

Kinds and the TempCompass aspect / sub-dimension (or T3 task) each serves: see KINDS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from ablate.world.scene import COLOR_NAMES, LIGHTING, POSITIONS, SHAPES, SIZES, Obj, Scene, position_at, sample_obj

# kind -> (aspect, sub_dim); referring/grounding sub_dims are set per clip (beginning / end).
KINDS: dict[str, tuple[str, str]] = {
    "spin": ("action", "coarse-grained"),
    "bounce": ("action", "coarse-grained"),
    "grow": ("action", "fine-grained"),
    "move": ("direction", "object motion"),
    "pan": ("direction", "camera motion"),
    "speed_abs": ("speed", "absolute"),
    "speed_rel": ("speed", "relative"),
    "sequence": ("order", "order"),
    "color_change": ("attribute_change", "color & light"),
    "light_change": ("attribute_change", "color & light"),
    "size_change": ("attribute_change", "size & shape"),
    "shape_change": ("attribute_change", "size & shape"),
    "combined_change": ("attribute_change", "combined"),
    "refer": ("referring", "beginning"),
    "ground": ("grounding", "beginning"),
}
ASPECT_KINDS: dict[str, tuple[str, ...]] = {}
for _k, (_a, _) in KINDS.items():
    ASPECT_KINDS.setdefault(_a, ())
    ASPECT_KINDS[_a] += (_k,)

DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


@dataclass(frozen=True)
class Clip:
    kind: str
    frames: tuple[Scene, ...]
    event: dict[str, Any]  # canonical forward facts + "reversed"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "event": self.event, "frames": [f.to_dict() for f in self.frames]}


def reverse(clip: Clip) -> Clip:
    """The clip played backwards; `event["reversed"]` flips, the canonical facts stay."""
    return replace(clip, frames=tuple(reversed(clip.frames)), event={**clip.event, "reversed": not clip.event["reversed"]})


def segment(t: int, frames: int) -> int:
    """Which third of the clip frame t is in: 0 beginning, 1 middle, 2 end."""
    return min(2, t * 3 // frames)


def _at(o: Obj, row: float, col: float) -> Obj:
    """Place an object at a continuous grid coordinate: nearest cell plus an in-cell shift."""
    r, c = int(round(row)), int(round(col))
    return o.with_(position=position_at(r, c), dx=round(col - c, 4), dy=round(row - r, 4))


def _others(rng: random.Random, free: list[str], taken: list[Obj], n: int, unique_shape=False, unique_color=False) -> list[Obj]:
    """n static objects in cells from `free`, distinct from `taken` by colour+shape (and shape/colour if asked)."""
    out: list[Obj] = []
    for pos in rng.sample(free, min(n, len(free))):
        for _ in range(100):
            o = sample_obj(rng, pos, {(x.color, x.shape) for x in taken + out})
            if unique_shape and any(o.shape == x.shape for x in taken + out):
                continue
            if unique_color and any(o.color == x.color for x in taken + out):
                continue
            out.append(o)
            break
    return out


def _line_move(rng: random.Random, frames: int, dist: float, direction: str | None = None):
    """A target moving `dist` cells in a straight line; returns (direction, start cell, per-frame coords)."""
    direction = direction or rng.choice(list(DIRECTIONS))
    dr, dc = DIRECTIONS[direction]
    # start so the whole path stays on the grid
    lo = 0 if (dr + dc) > 0 else dist
    start_main = rng.uniform(lo, lo + 2 - dist) if dist < 2 else lo
    cross = rng.randrange(3)
    coords = []
    for t in range(frames):
        m = start_main + (dr + dc) * dist * t / (frames - 1)
        coords.append((m, cross) if dr else (cross, m))
    return direction, coords


def _static_rows(coords, horizontal: bool) -> list[str]:
    """Cells not on the path's row (horizontal move) or column (vertical move)."""
    line = round(coords[0][0]) if horizontal else round(coords[0][1])
    return [p for i, p in enumerate(POSITIONS) if (divmod(i, 3)[0] if horizontal else divmod(i, 3)[1]) != line]


def _move(rng, frames, light, dist, direction=None, n_static=None):
    target = Obj(rng.choice(SHAPES), rng.choice(COLOR_NAMES), rng.choice(SIZES), "center")
    direction, coords = _line_move(rng, frames, dist, direction)
    statics = _others(rng, _static_rows(coords, direction in ("left", "right")), [target],
                      rng.randrange(2) if n_static is None else n_static, unique_color=True)
    scenes = [Scene((_at(target, r, c), *statics), light) for r, c in coords]
    return target, direction, statics, scenes


def _sample(rng: random.Random, frames: int, kind: str) -> tuple[list[Scene], dict[str, Any]]:
    light = rng.choice(LIGHTING)
    T = frames - 1
    mid = frames // 2
    if kind == "move":
        target, d, _, scenes = _move(rng, frames, light, 2.0)
        return scenes, {"target": target.name, "direction": d}
    if kind == "speed_abs":
        fast = rng.random() < 0.5
        target, d, _, scenes = _move(rng, frames, light, 2.0 if fast else 0.6)
        return scenes, {"target": target.name, "direction": d, "fast": fast}
    if kind == "speed_rel":
        d = rng.choice(list(DIRECTIONS))
        a = Obj(rng.choice(SHAPES), rng.choice(COLOR_NAMES), rng.choice(SIZES), "center")
        b = _others(rng, ["center"], [a], 1, unique_shape=True, unique_color=True)[0]
        lines = rng.sample(range(3), 2)
        dr, dc = DIRECTIONS[d]
        start = 0 if dr + dc > 0 else 2
        scenes = []
        for t in range(frames):
            fa = start + (dr + dc) * 2.0 * t / T
            fb = start + (dr + dc) * 1.0 * t / T
            pa, pb = ((fa, lines[0]), (fb, lines[1])) if dr else ((lines[0], fa), (lines[1], fb))
            scenes.append(Scene((_at(a, *pa), _at(b, *pb)), light))
        return scenes, {"fast": a.name, "slow": b.name, "direction": d}
    if kind == "pan":
        shift = rng.choice(list(DIRECTIONS))  # how the objects move; the camera pans the other way
        dr, dc = DIRECTIONS[shift]
        ok = [p for i, p in enumerate(POSITIONS) if 0 <= divmod(i, 3)[0] + dr < 3 and 0 <= divmod(i, 3)[1] + dc < 3]
        objs = _others(rng, ok, [], rng.choice((2, 2, 3)))
        scenes = []
        for t in range(frames):
            f = t / T
            scenes.append(Scene(tuple(_at(o, divmod(POSITIONS.index(o.position), 3)[0] + dr * f,
                                          divmod(POSITIONS.index(o.position), 3)[1] + dc * f) for o in objs), light))
        return scenes, {"camera": OPPOSITE[shift]}
    if kind in ("spin", "bounce", "grow"):
        shapes = ("triangle", "star", "cross") if kind == "spin" else SHAPES
        pos = rng.choice(POSITIONS[3:]) if kind == "bounce" else rng.choice(POSITIONS)  # room to bounce up
        # large for spin: a small rotating shape is a few pixels of change at 64 px
        target = Obj(rng.choice(shapes), rng.choice(COLOR_NAMES), "large" if kind != "bounce" else rng.choice(SIZES), pos)
        statics = _others(rng, [p for p in POSITIONS if p != pos], [target], rng.randrange(2), unique_shape=True, unique_color=True)
        scenes = []
        for t in range(frames):
            if kind == "spin":
                o = target.with_(angle=float(25 * t))
            elif kind == "bounce":
                import math

                o = target.with_(dy=round(-0.4 * abs(math.sin(2 * math.pi * t / T)), 4))
            else:
                o = target.with_(scale=round(0.45 + 0.55 * t / T, 4))
            scenes.append(Scene((o, *statics), light))
        return scenes, {"target": target.name, "action": kind}
    if kind in ("sequence", "refer", "ground"):
        objs = _others(rng, list(POSITIONS), [], 3, unique_shape=rng.random() < 0.5)
        objs = [o.with_(position=rng.choice(POSITIONS)) for o in objs]  # each is shown alone
        distractor = _others(rng, ["center"], objs, 1)[0]
        scenes = [Scene((objs[segment(t, frames)],), light) for t in range(frames)]
        ev: dict[str, Any] = {"objects": [o.name for o in objs], "distractor": distractor.name}
        if kind != "sequence":
            ev["when"] = rng.choice(("beginning", "end"))
        if kind == "sequence":
            ev["alt_orders"] = _alt_orders(rng)
        return scenes, ev
    # attribute changes: a target (plus maybe one static object) changes at the middle frame
    pos = rng.choice(POSITIONS)
    target = Obj(rng.choice(SHAPES), rng.choice(COLOR_NAMES), rng.choice(SIZES), pos)
    statics = _others(rng, [p for p in POSITIONS if p != pos], [target], rng.randrange(2), unique_shape=True, unique_color=True)
    before, after, ev = target, target, {}
    light_a = light_b = light
    if kind == "light_change":
        light_a = rng.choice(LIGHTING)
        light_b = "bright" if light_a == "dim" else "dim"
        ev = {"from": light_a, "to": light_b}
    elif kind == "color_change":
        b, c = rng.sample([x for x in COLOR_NAMES if x != target.color and all(x != s.color for s in statics)], 2)
        after = target.with_(color=b)
        ev = {"target": target.shape, "from": target.color, "to": b, "alt": c}
    elif kind == "size_change":
        after = target.with_(size="large" if target.size == "small" else "small")
        ev = {"target": target.name, "from": target.size, "to": after.size}
    elif kind == "shape_change":
        b, c = rng.sample([x for x in SHAPES if x != target.shape], 2)
        after = target.with_(shape=b)
        ev = {"target": target.color, "from": target.shape, "to": b, "alt": c}
    elif kind == "combined_change":
        b = rng.choice([x for x in COLOR_NAMES if x != target.color and all(x != s.color for s in statics)])
        after = target.with_(color=b, size="large" if target.size == "small" else "small")
        ev = {"target": target.shape, "from": target.color, "to": b, "grows": after.size == "large"}
    else:
        raise ValueError(f"unknown clip kind {kind!r}; known: {', '.join(KINDS)}")
    scenes = [Scene(((before if t < mid else after), *statics), light_a if t < mid else light_b) for t in range(frames)]
    return scenes, ev


def _alt_orders(rng: random.Random) -> list[list[int]]:
    """Two distractor permutations of (0, 1, 2), neither the forward nor the reversed order."""
    perms = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1]]
    return rng.sample(perms, 2)


def sample_event(rng: random.Random, frames: int, kind: str | None = None) -> Clip:
    """A clip of `frames` scenes around one event of `kind` (random kind if None)."""
    if frames < 3:
        raise ValueError("a clip needs at least 3 frames")
    kind = kind or rng.choice(list(KINDS))
    if kind not in KINDS:
        raise ValueError(f"unknown clip kind {kind!r}; known: {', '.join(KINDS)}")
    scenes, ev = _sample(rng, frames, kind)
    return Clip(kind=kind, frames=tuple(scenes), event={"kind": kind, **ev, "reversed": False})


def sample_clip(rng: random.Random, frames: int, kind: str | None = None) -> list[Scene]:
    """Just the frames of `sample_event` (the API the base model's video pretraining uses)."""
    return list(sample_event(rng, frames, kind).frames)
