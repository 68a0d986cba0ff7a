"""Read a video's frames for the base model: decord, uniformly spaced indices, uint8 [T,H,W,3].

    from ablate.base.video import frame_indices, read_frames
    frames = read_frames("bench/videos/v0001.mp4", 8)

`frame_indices` is the one frame-sampling rule of the project (pretraining checks, `ablate base
check` and evaluation, ablate.eval.video): n indices evenly spaced from the first frame to the last,
np.linspace(0, total - 1, n) rounded (LLaVA / LongVA). With total == n it is every frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ablate.core import UserError


def frame_indices(total: int, n: int) -> list[int]:
    """n indices evenly spaced over a total-frame video, first and last included (repeats when total < n)."""
    return [int(i) for i in np.linspace(0, total - 1, n).round().astype(int)]


def read_frames(path: str | Path, n: int) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: video not found")
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    if len(vr) == 0:
        raise UserError(f"{path}: video has no frames")
    return vr.get_batch(frame_indices(len(vr), n)).asnumpy()
