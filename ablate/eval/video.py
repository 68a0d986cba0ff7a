"""Video inputs for evaluation: safe paths, content hashes, decoded-frame and visual-feature caches.

    from ablate.eval.video import resolve_video, load_frames
    path = resolve_video("data/TempCompass", "videos/abc.mp4")   # VideoError if it escapes the root
    frames = load_frames(path, frames=8, size=64)                  # uint8 [8, 64, 64, 3], cached

Decoding uses decord with uniform sampling (ablate.base.video.frame_indices: np.linspace over the
whole video, the LLaVA/LongVA rule) and resizes to the base model's frame size. Frames are cached on disk per (video content
hash, frames, size) and visual features per (base hash, that key): LoRA only changes the LM, so
every adapter shares them. Keys use the file's bytes, never its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ablate.core import file_sha256, node_cache_root

if TYPE_CHECKING:
    import numpy as np

FRAMES_VERSION = 2  # bump when sampling or resizing changes


class VideoError(Exception):
    """A video that cannot be used for one item (outside the root, missing, corrupt): an error row."""


def resolve_video(root: str | Path, rel: str) -> Path:
    """The file `rel` inside benchmark `root`; reject absolute paths, `..` and symlinks leading out."""
    if not rel or os.path.isabs(rel) or Path(rel).is_absolute():
        raise VideoError(f"video path {rel!r} is absolute or empty; only paths inside the benchmark root are read")
    if ".." in Path(rel).parts:
        raise VideoError(f"video path {rel!r} contains '..'; only paths inside the benchmark root are read")
    base = Path(root).resolve()
    p = (base / rel).resolve()
    if not p.is_relative_to(base):
        raise VideoError(f"video path {rel!r} resolves outside the benchmark root {base} (symlink?)")
    if not p.is_file():
        raise VideoError(f"video {rel!r} not found under {base}")
    return p


_HASHES: dict[tuple[str, int, int], str] = {}


def video_hash(path: Path) -> str:
    """sha256 of the video bytes, memoised per (path, size, mtime) within this process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def decode_frames(path: Path, frames: int) -> np.ndarray:
    """uint8 [frames, H, W, 3]: `frames` frames sampled with the one rule, at the file's own resolution."""
    import decord
    import numpy as np

    from ablate.base.video import frame_indices  # the one sampling rule

    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        n = len(vr)
        if n == 0:
            raise VideoError(f"video {path.name} has no frames")
        arr = vr.get_batch(frame_indices(n, frames)).asnumpy()
    except VideoError:
        raise
    except Exception as e:  # noqa: BLE001 (decord raises DECORDError / RuntimeError for bad files)
        raise VideoError(f"cannot decode video {path.name}: {type(e).__name__}: {str(e)[:200]}") from None
    return arr.astype(np.uint8)


def _cached_npy(f: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored in f, or compute()'s, then stored atomically (a damaged cache file is recomputed)."""
    import numpy as np

    if f.exists():
        try:
            return np.load(f)
        except Exception:  # noqa: BLE001 (a damaged cache file is simply recomputed)
            pass
    arr = compute()
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.save(fh, arr)
    os.replace(tmp, f)
    return arr


def load_frames(path: Path, frames: int, size: int, vhash: str | None = None) -> np.ndarray:
    """uint8 [frames, size, size, 3], from the disk cache when this video was decoded before."""

    def decode():
        from ablate.base.embed import resize_frames  # the resize the base was pretrained with

        return resize_frames(decode_frames(path, frames), size)

    vhash = vhash or video_hash(path)
    f = node_cache_root() / "eval" / "frames" / f"{vhash[:32]}-{frames}-{size}-v{FRAMES_VERSION}.npy"
    return _cached_npy(f, decode)


class FeatureCache:
    """Visual features per (base hash, video hash, frames, size), on disk, shared by all adapters."""

    def __init__(self, encoder, base_hash: str, frames: int):
        self.encoder, self.base_hash, self.frames = encoder, base_hash, frames
        self.dir = node_cache_root() / "eval" / "features" / base_hash
        self.hits = 0

    def features(self, path: Path, vhash: str):
        import torch

        size = int(self.encoder.frame_size)
        f = self.dir / f"{vhash[:32]}-{self.frames}-{size}-v{FRAMES_VERSION}.pt"
        if f.exists():
            try:
                feats = torch.load(f, weights_only=True)
                self.hits += 1
                return feats
            except Exception:  # noqa: BLE001
                pass
        feats = self.encoder.encode(load_frames(path, self.frames, size, vhash)).detach().cpu()
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.tmp-{os.getpid()}")
        torch.save(feats, tmp)
        os.replace(tmp, f)
        return feats


def load_raw_frames(path: Path, frames: int, vhash: str | None = None) -> np.ndarray:
    """uint8 [frames, H, W, 3] at the file's own resolution (VLM families preprocess them themselves,
    ablate.models), sampled with the same rule, cached on disk by content hash."""
    vhash = vhash or video_hash(path)
    f = node_cache_root() / "eval" / "frames" / f"{vhash[:32]}-{frames}-raw-v{FRAMES_VERSION}.npy"
    return _cached_npy(f, lambda: decode_frames(path, frames))
