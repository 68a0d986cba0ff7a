"""Read a video's frames for the base model: decord, uniformly spaced indices, uint8 [T,H,W,3].

    from ablate.base.video import read_frames
    frames = read_frames("bench/videos/v0001.mp4", 8)

Uniform sampling is the centre of each of `n` equal segments (the LLaVA / TempCompass convention).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ablate.core import UserError


def frame_indices(total: int, n: int) -> list[int]:
    """Centres of n equal segments of a total-frame video (repeats when total < n)."""
    return [min(total - 1, int((i + 0.5) * total / n)) for i in range(n)]


def read_frames(path: str | Path, n: int) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: video not found")
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    if len(vr) == 0:
        raise UserError(f"{path}: video has no frames")
    return vr.get_batch(frame_indices(len(vr), n)).asnumpy()
