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

from ablate.models.family import Family
from ablate.models.frames import (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, collate_videos, no_extra_inputs,
                                  pixel_values_videos, raw_video)

# vLLM 0.32's hf_to_vllm_mapper for LlavaNextVideo, and for LlavaOnevision (same layout)
VLLM_PREFIX_MAP = {"model.language_model.": "language_model.model.", "model.vision_tower.": "vision_tower.",
                   "model.multi_modal_projector.": "multi_modal_projector.", "model.image_newline": "image_newline",
                   "lm_head.": "language_model.lm_head."}

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
    vllm_prefix_map=VLLM_PREFIX_MAP,
    impl="ablate.models.llava_next_video",
)


def preprocess(frames, pp: dict) -> dict[str, np.ndarray]:
    return pixel_values_videos(frames, pp, size={"shortest_edge": 336}, crop={"height": 336, "width": 336},
                               center_crop_default=True, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)


def video_tokens(arrays: dict, config) -> int:
    t = arrays["pixel_values_videos"].shape[1]
    grid = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
    return t * (math.floor(grid / int(config.spatial_pool_stride)) ** 2)


collate = collate_videos
extra_inputs = no_extra_inputs
vllm_video = raw_video
