"""Numpy/PIL video preprocessing shared by the families (no torchvision: it cannot load on the CPU box).

    from ablate.models.frames import resize, center_crop, normalize
    x = normalize(resize(frames, 336, 336), mean, std)   # uint8 [8, H, W, 3] -> float32 [8, 3, 336, 336]

Each step mirrors transformers' PIL image-processor backend (PIL resize of the uint8 frame, then
rescale by 1/255 and normalise in float32), which tests/test_models_preprocess.py pins to stored
reference tensors; benchmarks/gpu_check.py compares against the torchvision video processors there.
Frames are decoded by ablate.eval.video.load_raw_frames (np.linspace over the whole video, the same
rule for every family), so families differ only in what they do with the same frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
RESAMPLE = {0: "NEAREST", 1: "LANCZOS", 2: "BILINEAR", 3: "BICUBIC", 4: "BOX", 5: "HAMMING"}


def as_frames(frames) -> np.ndarray:
    from ablate.core import UserError

    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8:
        raise UserError(f"frames must be uint8 [T,H,W,3], got {a.dtype} {a.shape}")
    return a


def resize(frames: np.ndarray, height: int, width: int, resample: int = 3) -> np.ndarray:
    """uint8 [T,H,W,3] -> uint8 [T,height,width,3] with PIL (resample: PIL code, 3 = bicubic)."""
    from PIL import Image

    if frames.shape[1:3] == (height, width):
        return frames
    mode = getattr(Image.Resampling, RESAMPLE[int(resample)])
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), mode)) for f in frames])


def shortest_edge_size(height: int, width: int, short: int) -> tuple[int, int]:
    """CLIP's rule: the short side becomes `short`, the long side int(short * long / short_side)."""
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Center crop as transformers does it (top = (H - h) // 2; pads with zeros when smaller)."""
    t, h, w, c = frames.shape
    if h < height or w < width:
        out = np.zeros((t, max(h, height), max(w, width), c), frames.dtype)
        top, left = (out.shape[1] - h) // 2, (out.shape[2] - w) // 2
        out[:, top:top + h, left:left + w] = frames
        frames, h, w = out, out.shape[1], out.shape[2]
    top, left = (h - height) // 2, (w - width) // 2
    return frames[:, top:top + height, left:left + width]


def normalize(frames: np.ndarray, mean, std, rescale: float = 1 / 255) -> np.ndarray:
    """uint8 [T,H,W,3] -> float32 [T,3,H,W]: rescale then (x - mean) / std."""
    x = frames.astype(np.float32) * np.float32(rescale)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def pixel_values_videos(frames, pp: dict, size: dict, crop: dict | None, center_crop_default: bool,
                        mean, std) -> dict[str, np.ndarray]:
    """The LLaVA-NeXT-Video / LLaVA-OneVision video processors in numpy: resize (size.shortest_edge, CLIP's
    rule, or height x width), center crop when do_center_crop (crop_size, else `crop`, else the size),
    rescale and normalise; the checkpoint's `pp` overrides every default given here."""
    f = as_frames(frames)
    size = pp.get("size") or size
    resample = int(pp.get("resample", 3))
    if "shortest_edge" in size:
        h, w = shortest_edge_size(f.shape[1], f.shape[2], int(size["shortest_edge"]))
    else:
        h, w = int(size["height"]), int(size["width"])
    if pp.get("do_resize", True):
        f = resize(f, h, w, resample)
    if pp.get("do_center_crop", center_crop_default):
        c = pp.get("crop_size") or crop or size
        f = center_crop(f, int(c["height"]), int(c["width"]))
    x = normalize(f, pp.get("image_mean", mean), pp.get("image_std", std), float(pp.get("rescale_factor", 1 / 255)))
    return {"pixel_values_videos": x[None]}


def collate_videos(items: list[dict]) -> dict[str, np.ndarray]:
    """Batch of one-video requests of one frame count: pixel_values_videos [B, T, 3, H, W]."""
    return {"pixel_values_videos": np.concatenate([a["pixel_values_videos"] for a in items], 0)}


def no_extra_inputs(input_ids, config) -> dict:
    """Families with plain 1-D positions need nothing beyond the ids and the pixels."""
    return {}


def raw_video(frames) -> dict:
    """vLLM native input on GPU: the raw frames; vLLM runs the model's own processor."""
    return {"video": as_frames(frames)}


def processor_config(model_dir: Path) -> dict:
    """The video preprocessing settings of a checkpoint: video_preprocessor_config.json, else the
    image processor's (preprocessor_config.json), else processor_config.json's sections; {} if none."""
    import json

    d = Path(model_dir)
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (d / name).is_file():
            return json.loads((d / name).read_text())
    if (d / "processor_config.json").is_file():
        p = json.loads((d / "processor_config.json").read_text())
        return p.get("video_processor") or p.get("image_processor") or {}
    return {}
