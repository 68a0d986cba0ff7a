"""LLaVA-OneVision: SigLIP per frame (all patches), projector, bilinear 2x pooling, one newline per video.

    from ablate.models import llava_onevision as ov
    arrays = ov.preprocess(frames, pp)         # {"pixel_values_videos": float32 [1, T, 3, 384, 384]}
    n = ov.video_tokens(arrays, config)        # T * ceil(grid / 2)**2 + 1 (the image_newline)

Preprocessing is LlavaOnevisionVideoProcessor's in numpy: resize every frame to size (384 x 384,
bicubic, no crop), rescale, normalise with the checkpoint's mean/std (0.5 for SigLIP). The layout is
the model's get_video_features: vision_feature_select_strategy "full", projector, then
interpolate(ceil(h/2), ceil(w/2), bilinear), frames concatenated, `image_newline` appended once.
vLLM 0.32 has no LoRA for this architecture; on CPU its language model is served through prompt
embeddings (1-D positions), where LoRA does work, and on GPU the HF engine serves the adapters.
"""

from __future__ import annotations

import math

import numpy as np

from ablate.models.family import Family
from ablate.models.frames import collate_videos, no_extra_inputs, pixel_values_videos, raw_video
from ablate.models.llava_next_video import VLLM_PREFIX_MAP

FAMILY = Family(
    name="llava_onevision",
    model_types=("llava_onevision",),
    architectures=("LlavaOnevisionForConditionalGeneration",),
    hf_class="LlavaOnevisionForConditionalGeneration",
    lm_prefix="model.language_model",
    vision_prefixes=("model.vision_tower", "model.multi_modal_projector", "model.image_newline"),
    positions="1d",
    video_token="<video>",
    vllm_arch="LlavaOnevisionForConditionalGeneration",
    vllm_lora=False,
    vllm_prefix_map=VLLM_PREFIX_MAP,
    impl="ablate.models.llava_onevision",
    notes="vLLM 0.32 serves it without LoRA: adapters go through the HF engine (GPU) or prompt embeddings (CPU)",
)


def preprocess(frames, pp: dict) -> dict[str, np.ndarray]:
    return pixel_values_videos(frames, pp, size={"height": 384, "width": 384}, crop=None, center_crop_default=False,
                               mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])


def video_tokens(arrays: dict, config) -> int:
    t = arrays["pixel_values_videos"].shape[1]
    grid = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
    return t * math.ceil(grid / 2) ** 2 + 1


collate = collate_videos
extra_inputs = no_extra_inputs
vllm_video = raw_video
