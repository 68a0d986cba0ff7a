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

from ablate.models import Family
from ablate.models.frames import as_frames, center_crop, normalize, resize, shortest_edge_size

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
    vllm_prefix_map={"model.language_model.": "language_model.model.", "model.vision_tower.": "vision_tower.",
                     "model.multi_modal_projector.": "multi_modal_projector.", "model.image_newline": "image_newline",
                     "lm_head.": "language_model.lm_head."},
    impl="ablate.models.llava_onevision",
    notes="vLLM 0.32 serves it without LoRA: adapters go through the HF engine (GPU) or prompt embeddings (CPU)",
)


def preprocess(frames, pp: dict) -> dict[str, np.ndarray]:
    f = as_frames(frames)
    size = pp.get("size") or {"height": 384, "width": 384}
    resample = int(pp.get("resample", 3))
    if "shortest_edge" in size:
        h, w = shortest_edge_size(f.shape[1], f.shape[2], int(size["shortest_edge"]))
    else:
        h, w = int(size["height"]), int(size["width"])
    if pp.get("do_resize", True):
        f = resize(f, h, w, resample)
    if pp.get("do_center_crop", False):
        crop = pp.get("crop_size") or size
        f = center_crop(f, int(crop["height"]), int(crop["width"]))
    x = normalize(f, pp.get("image_mean", [0.5, 0.5, 0.5]), pp.get("image_std", [0.5, 0.5, 0.5]),
                  float(pp.get("rescale_factor", 1 / 255)))
    return {"pixel_values_videos": x[None]}


def video_tokens(arrays: dict, config) -> int:
    t = arrays["pixel_values_videos"].shape[1]
    grid = int(config.vision_config.image_size) // int(config.vision_config.patch_size)
    return t * math.ceil(grid / 2) ** 2 + 1


def collate(items: list[dict]) -> dict[str, np.ndarray]:
    return {"pixel_values_videos": np.concatenate([a["pixel_values_videos"] for a in items], 0)}


def extra_inputs(input_ids, config) -> dict:
    return {}


def vllm_video(frames) -> dict:
    return {"video": as_frames(frames)}
