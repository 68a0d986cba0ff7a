"""Qwen2-VL and Qwen2.5-VL: temporal patches, a (t, h, w) grid per video, M-RoPE positions.

    from ablate.models import qwen2_vl
    arrays = qwen2_vl.preprocess(frames, pp)         # {"pixel_values_videos": [N, 3*2*14*14], "video_grid_thw": [[t, h, w]]}
    n = qwen2_vl.video_tokens(arrays, config)        # t * h * w / merge_size**2 <|video_pad|> tokens

Preprocessing is Qwen2VLVideoProcessor's (transformers 5.19) in numpy: smart_resize of every frame to
multiples of patch_size * merge_size within [min_pixels, max_pixels] (PIL bicubic here, torchvision
there), rescale + CLIP normalise, pad the frame count to a multiple of temporal_patch_size by
repeating the last frame, then the processor's patch order (t, h-block, w-block, h-merge, w-merge,
channel, temporal, patch_h, patch_w). The prompt holds <|vision_start|><|video_pad|>*n<|vision_end|>;
positions are 3-D (the model's own get_rope_index, fed `mm_token_type_ids`), so on CPU vLLM prompt
embeddings would not be exact: the CPU route is the HF engine.
"""

from __future__ import annotations

import math

import numpy as np

from ablate.models.family import Family
from ablate.models.frames import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, as_frames, normalize, raw_video, resize

_MAP = {"model.language_model.": "language_model.model.", "model.visual.": "visual.",
        "lm_head.": "language_model.lm_head.", "model.": "language_model.model."}

FAMILY = Family(
    name="qwen2_vl",
    model_types=("qwen2_vl", "qwen2_5_vl"),
    architectures=("Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration"),
    hf_class="Qwen2VLForConditionalGeneration",  # Qwen2_5_VLForConditionalGeneration for qwen2_5_vl
    lm_prefix="model.language_model",
    vision_prefixes=("model.visual",),
    positions="mrope",
    video_token="<|video_pad|>",
    vllm_arch="Qwen2VLForConditionalGeneration",
    vllm_lora=True,
    vllm_prefix_map=_MAP,
    impl="ablate.models.qwen2_vl",
    notes="M-RoPE: CPU vLLM prompt embeddings are not exact, the HF engine serves it on CPU",
)

# Qwen2VLVideoProcessor's defaults (used when the checkpoint's config does not say)
MIN_PIXELS, MAX_PIXELS = 128 * 28 * 28, 768 * 28 * 28


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """transformers.models.qwen2_vl smart_resize (same arithmetic)."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"absolute aspect ratio must be smaller than 200, got {max(height, width) / min(height, width)}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def settings(pp: dict) -> dict:
    size = pp.get("size") or {}
    return {
        "patch": int(pp.get("patch_size", 14)), "merge": int(pp.get("merge_size", 2)),
        "temporal": int(pp.get("temporal_patch_size", 2)),
        "min_pixels": int(pp.get("min_pixels") or size.get("shortest_edge") or MIN_PIXELS),
        "max_pixels": int(pp.get("max_pixels") or size.get("longest_edge") or MAX_PIXELS),
        "mean": pp.get("image_mean", OPENAI_CLIP_MEAN), "std": pp.get("image_std", OPENAI_CLIP_STD),
        "resample": int(pp.get("resample", 3)), "rescale": float(pp.get("rescale_factor", 1 / 255)),
    }


def patchify(x: np.ndarray, patch: int, merge: int, temporal: int) -> tuple[np.ndarray, list[int]]:
    """float32 [T,C,H,W] -> ([t*h*w, C*temporal*patch*patch], [t, h, w]) in the processor's patch order."""
    if pad := -x.shape[0] % temporal:
        x = np.concatenate([x, np.repeat(x[-1:], pad, 0)], 0)
    t_, c, h, w = x.shape
    gt, gh, gw = t_ // temporal, h // patch, w // patch
    p = x.reshape(gt, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    p = p.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(p.reshape(gt * gh * gw, c * temporal * patch * patch)), [gt, gh, gw]


def preprocess(frames, pp: dict) -> dict[str, np.ndarray]:
    s = settings(pp)
    f = as_frames(frames)
    h, w = smart_resize(f.shape[1], f.shape[2], s["patch"] * s["merge"], s["min_pixels"], s["max_pixels"])
    x = normalize(resize(f, h, w, s["resample"]), s["mean"], s["std"], s["rescale"])
    patches, grid = patchify(x, s["patch"], s["merge"], s["temporal"])
    return {"pixel_values_videos": patches, "video_grid_thw": np.asarray([grid], np.int64)}


def video_tokens(arrays: dict, config) -> int:
    merge = int(config.vision_config.spatial_merge_size)
    return int(np.prod(arrays["video_grid_thw"][0])) // (merge * merge)


def collate(items: list[dict]) -> dict[str, np.ndarray]:
    """Batch of one-video requests: patches concatenated, one grid row per video (the processor's layout)."""
    return {"pixel_values_videos": np.concatenate([a["pixel_values_videos"] for a in items], 0),
            "video_grid_thw": np.concatenate([a["video_grid_thw"] for a in items], 0)}


def extra_inputs(input_ids, config) -> dict:
    """mm_token_type_ids (2 = video token): what get_rope_index needs for the 3-D positions."""
    return {"mm_token_type_ids": (input_ids == int(config.video_token_id)).to(input_ids.dtype) * 2}


vllm_video = raw_video
