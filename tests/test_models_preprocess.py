"""Our numpy video preprocessing per family, pinned to transformers' processors (stored reference tensors).

    .venv/bin/pytest tests/test_models_preprocess.py -q

The references (tests/data/models/preprocess_ref.npz, from make_reference.py there) come from
transformers' PIL image processors, whose per-frame steps are the video processors'. The real
torchvision video processors cannot load on the CPU box; benchmarks/gpu_check.py compares there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ablate.models import llava_next_video, llava_onevision, qwen2_vl

sys.path.insert(0, str(Path(__file__).parent / "data" / "models"))
import make_reference as ref  # noqa: E402

REF = np.load(Path(__file__).parent / "data" / "models" / "preprocess_ref.npz")


def test_reference_frames_are_the_stored_ones():
    assert np.array_equal(REF["frames"], ref.frames())


def test_qwen2_vl_patches_match_processor():
    f = REF["frames"]
    pairs = np.repeat(f, 2, axis=0)  # identical frame pairs: video patches == image patches per frame
    out = qwen2_vl.preprocess(pairs, ref.QWEN)
    assert out["video_grid_thw"].tolist() == [[3, 4, 4]]
    np.testing.assert_allclose(out["pixel_values_videos"], REF["qwen2_vl_pixel_values"], atol=1e-5)
    # odd frame counts are padded with the last frame, like the processor
    odd = qwen2_vl.preprocess(f, ref.QWEN)
    assert odd["video_grid_thw"].tolist() == [[2, 4, 4]]


def test_qwen2_vl_smart_resize_matches_transformers():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for h, w in [(50, 70), (360, 640), (1080, 1920), (28, 900), (500, 333)]:
        for lo, hi in [(3136, 12544), (128 * 28 * 28, 768 * 28 * 28)]:
            assert qwen2_vl.smart_resize(h, w, 28, lo, hi) == smart_resize(h, w, 28, lo, hi)


def test_qwen2_vl_token_count_and_rope_index(family_dirs):
    """The tokens our prompt holds are what the model's own get_rope_index / merger expect."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoTokenizer

    from ablate.models import families
    from ablate.models.chat import video_prompt_ids
    from ablate.models.frames import processor_config

    d = family_dirs["qwen2_vl"]
    cfg = AutoConfig.from_pretrained(d)
    arrays = qwen2_vl.preprocess(REF["frames"][:2].repeat(2, 0), processor_config(d))
    n = qwen2_vl.video_tokens(arrays, cfg)
    tok = AutoTokenizer.from_pretrained(d)
    ids = torch.tensor([video_prompt_ids(tok, families()["qwen2_vl"], "What happens?", n)])
    model = AutoModelForImageTextToText.from_pretrained(d).eval()
    pos, _ = model.model.get_rope_index(ids, qwen2_vl.extra_inputs(ids, cfg)["mm_token_type_ids"],
                                        video_grid_thw=torch.from_numpy(arrays["video_grid_thw"]))
    assert pos.shape == (3, 1, ids.shape[1])
    vid = (ids[0] == cfg.video_token_id).nonzero().flatten()
    t, h, w = (pos[:, 0, vid].max(1).values - pos[:, 0, vid].min(1).values + 1).tolist()
    g = arrays["video_grid_thw"][0]
    assert (t, h, w) == (g[0], g[1] // 2, g[2] // 2)  # temporal x merged-grid positions, 3-D


@pytest.mark.parametrize("family,key,pp", [("llava_next_video", "llava_next_video", ref.LNV),
                                           ("llava_onevision", "llava_onevision", ref.OV)])
def test_llava_families_match_processor(family, key, pp):
    mod = {"llava_next_video": llava_next_video, "llava_onevision": llava_onevision}[family]
    out = mod.preprocess(REF["frames"], pp)["pixel_values_videos"]
    assert out.shape == (1, *REF[key].shape)
    np.testing.assert_allclose(out[0], REF[key], atol=1e-5)


def test_live_pil_processors_agree_with_stored_reference():
    """Guards the stored file against a transformers change (skipped where the PIL processors are absent)."""
    pytest.importorskip("PIL")
    live = ref.reference()
    for k in ("qwen2_vl_pixel_values", "llava_next_video", "llava_onevision"):
        np.testing.assert_allclose(live[k], REF[k], atol=1e-5)


@pytest.mark.parametrize("family", ["llava_next_video", "llava_onevision"])
def test_llava_token_counts_match_model_features(family, family_dirs):
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from ablate.models.frames import processor_config

    d = family_dirs[family]
    mod = {"llava_next_video": llava_next_video, "llava_onevision": llava_onevision}[family]
    arrays = mod.preprocess(REF["frames"], processor_config(d))
    model = AutoModelForImageTextToText.from_pretrained(d).eval()
    with torch.no_grad():
        feats = model.model.get_video_features(pixel_values_videos=torch.from_numpy(arrays["pixel_values_videos"])).pooler_output
    n = sum(f.reshape(-1, f.shape[-1]).shape[0] for f in feats)
    assert n == mod.video_tokens(arrays, AutoConfig.from_pretrained(d))
