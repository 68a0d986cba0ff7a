"""LLaVA-NeXT-Video: CLIP per frame, spatial pooling (stride 2) of the patch grid, <video> expanded.

    from ablate.models import llava_next_video as lnv
    arrays = lnv.preprocess(frames, pp)        # {"pixel_values_videos": float32 [1, T, 3, 336, 336]}
    n = lnv.video_tokens(arrays, config)       # T * (grid / stride)**2 (no newline token for videos)

Preprocessing is LlavaNextVideoVideoProcessor's in numpy: resize the short side to size.shortest_edge
(CLIP's rule, bicubic), center crop to crop_size, rescale, CLIP normalise. The model drops CLS
(vision_feature_select_strategy "default"), pools each frame's grid with the configured pool
(average, stride 2) and projects: features for the T frames fill the n <video> tokens in order.
Positions are plain 1-D, so on CPU vLLM serves the exported language model with prompt embeddings.
"""

from __future__ import annotations

import math

import numpy as np

from ablate.models import Family
from ablate.models.frames import (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, as_frames, center_crop, normalize, resize,
                                  shortest_edge_size)

FAMILY = Family(
    name="llava_next_video",
    model_types=("llava_next_video",),
    architectures=("LlavaNextVideoForConditionalGeneration",),
    hf_class="LlavaNextVideoForConditionalGeneration",
    lm_prefix="model.language_model",
    vision_prefixes=("model.vision_tower", "model.multi_modal_projector", "model.vision_resampler", "model.image_newline"),
    positions="1d",
    video_token="<video>",
    vllm_arch="LlavaNextVideoForConditionalGeneration",
    vllm_lora=True,
    vllm_prefix_map={"model.language_model.": "language_model.model.", "model.vision_tower.": "vision_tower.",
                     "model.multi_modal_projector.": "multi_modal_projector.", "model.image_newline": "image_newline",
                     "lm_head.": "language_model.lm_head."},
    impl="ablate.models.llava_next_video",
)


def preprocess(frames, pp: dict) -> dict[str, np.ndarray]:
    f = as_frames(frames)
    size = pp.get("size") or {"shortest_edge": 336}
    crop = pp.get("crop_size") or {"height": 336, "width": 336}
    resample = int(pp.get("resample", 3))
    if "shortest_edge" in size:
        h, w = shortest_edge_size(f.shape[1], f.shape[2], int(size["shortest_edge"]))
    else:
        h, w = int(size["height"]), int(size["width"])
    f = resize(f, h, w, resample) if pp.get("do_resize", True) else f
    if pp.get("do_center_crop", True):
        f = center_crop(f, int(crop["height"]), int(crop["width"]))
    x = normalize(f, pp.get("image_mean", OPENAI_CLIP_MEAN), pp.get("image_std", OPENAI_CLIP_STD),
                  float(pp.get("rescale_factor", 1 / 255)))
    return {"pixel_values_videos": x[None]}


def video_tokens(arrays: dict, config) -> int:
    t = arrays["pixel_values_videos"].shape[1]
    grid = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
    return t * (math.floor(grid / int(config.spatial_pool_stride)) ** 2)


def collate(items: list[dict]) -> dict[str, np.ndarray]:
    return {"pixel_values_videos": np.concatenate([a["pixel_values_videos"] for a in items], 0)}


def extra_inputs(input_ids, config) -> dict:
    return {}


def vllm_video(frames) -> dict:
    return {"video": as_frames(frames)}
