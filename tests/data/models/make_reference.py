"""Regenerate preprocess_ref.npz: transformers' own PIL image processors on fixed frames.

    python tests/data/models/make_reference.py      # from the repository root; writes next to this file

The video processors (torchvision) cannot load on the CPU box; their per-frame steps are those of
these PIL image processors (same resize rule, rescale, normalise), and Qwen2-VL's image patches
equal its video patches for a clip whose frames come in identical pairs. benchmarks/gpu_check.py
compares against the real video processors where torchvision loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ablate  # noqa: F401

CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
QWEN = {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 16, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD}
LNV = {"size": {"shortest_edge": 42}, "crop_size": {"height": 42, "width": 42}, "do_center_crop": True,
       "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "resample": 3}
OV = {"size": {"height": 42, "width": 42}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3}


def frames() -> np.ndarray:
    rng = np.random.default_rng(15)
    f = rng.integers(0, 256, (3, 50, 70, 3), dtype=np.uint8)
    f[:, 10:30, 20:40] = [200, 30, 90]  # structure, so resampling errors would show
    return f


def reference() -> dict[str, np.ndarray]:
    import transformers as T

    f = frames()
    q = T.Qwen2VLImageProcessorPil(size={"shortest_edge": QWEN["min_pixels"], "longest_edge": QWEN["max_pixels"]},
                                    patch_size=14, temporal_patch_size=2, merge_size=2, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    qo = q([x for x in f], return_tensors="np")
    c = T.CLIPImageProcessorPil(size={"shortest_edge": 42}, crop_size={"height": 42, "width": 42}, do_center_crop=True,
                                image_mean=CLIP_MEAN, image_std=CLIP_STD, resample=3)
    s = T.SiglipImageProcessorPil(size={"height": 42, "width": 42}, image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=3)
    return {"frames": f, "qwen2_vl_pixel_values": qo["pixel_values"], "qwen2_vl_grid": qo["image_grid_thw"],
            "llava_next_video": c([x for x in f], return_tensors="np")["pixel_values"],
            "llava_onevision": s([x for x in f], return_tensors="np")["pixel_values"]}


if __name__ == "__main__":
    out = Path(__file__).with_name("preprocess_ref.npz")
    np.savez_compressed(out, **reference())
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
