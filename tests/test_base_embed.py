"""The serving split: FrameEncoder features and prompt embeddings reproduce the HF Llava model."""

from __future__ import annotations

import random

import numpy as np
import pytest


@pytest.fixture(scope="module")
def parts(micro_base):
    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor, LlavaForConditionalGeneration

    from ablate.base.embed import FrameEncoder
    from ablate.world.clips import sample_clip
    from ablate.world.render import render_clip

    full = LlavaForConditionalGeneration.from_pretrained(micro_base.full_dir, dtype=torch.float32).eval()
    lm = AutoModelForCausalLM.from_pretrained(micro_base.lm_dir, dtype=torch.float32).eval()
    frames = render_clip(sample_clip(random.Random(3), 4), 64)
    return FrameEncoder(micro_base), full, lm, AutoProcessor.from_pretrained(micro_base.full_dir), frames


def test_encode_matches_llava_image_features(parts):
    import torch

    enc, full, _, proc, frames = parts
    assert enc.frame_size == 48 and enc.tokens_per_frame == 9
    feats = enc.encode(frames)
    assert tuple(feats.shape) == (4, 9, full.config.text_config.hidden_size)
    pv = proc.image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ref = full.model.get_image_features(pixel_values=pv, vision_feature_layer=-1,
                                            vision_feature_select_strategy="default").pooler_output
    assert torch.allclose(feats, torch.stack(list(ref)), atol=1e-5)
    # a frame of another size is resized, not rejected
    assert tuple(enc.encode(np.zeros((2, 80, 80, 3), np.uint8)).shape) == (2, 9, feats.shape[-1])


def test_prompt_embeds_splice_frames_at_placeholders(parts):
    import torch

    from ablate.base.prompts import chat_token_ids, video_user_text
    from ablate.core import UserError

    enc, _, _, _, frames = parts
    user = video_user_text(4, "Describe frame 2.")
    ids = chat_token_ids(enc.tokenizer, user)
    feats = enc.encode(frames)
    emb = enc.prompt_embeds(feats, user)
    T = enc.tokens_per_frame
    assert tuple(emb.shape) == (len(ids) - 4 + 4 * T, feats.shape[-1])
    row = 0  # walk the ids: text tokens keep their embedding, the k-th placeholder becomes frame k's T rows
    k = 0
    for t in ids:
        if t == enc.image_token_id:
            assert torch.equal(emb[row:row + T], feats[k])
            row, k = row + T, k + 1
        else:
            assert torch.equal(emb[row], enc.embed_tokens[t])
            row += 1
    assert k == 4 and row == emb.shape[0]
    with pytest.raises(UserError, match="placeholders"):
        enc.prompt_embeds(feats[:3], user)


def test_lm_generate_from_embeds_equals_full_generate(parts):
    import torch

    from ablate.base.prompts import chat_text, video_user_text

    enc, full, lm, proc, frames = parts
    user = video_user_text(4, "Describe each frame in order.")
    emb = enc.prompt_embeds(enc.encode(frames), user)
    batch = proc(text=[chat_text(proc.tokenizer, user)], images=list(frames), return_tensors="pt")
    assert batch["input_ids"].shape[1] == emb.shape[0]
    kw = dict(do_sample=False, max_new_tokens=12, eos_token_id=-1, pad_token_id=0)  # no early stop
    with torch.no_grad():
        a = full.generate(**batch, **kw)[0, batch["input_ids"].shape[1]:]
        b = lm.generate(inputs_embeds=emb[None], attention_mask=torch.ones(1, emb.shape[0], dtype=torch.long), **kw)[0]
        la = full(**batch).logits[0, -1]
        lb = lm(inputs_embeds=emb[None]).logits[0, -1]
    assert torch.allclose(la, lb, atol=1e-4)
    assert a.tolist() == b[-len(a):].tolist()


def test_preprocess_matches_saved_processor(parts):
    from ablate.base.embed import preprocess

    enc, _, _, proc, frames = parts
    pv = proc.image_processor(images=list(frames), return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(preprocess(frames, enc.frame_size, enc.mean, enc.std), pv, atol=1e-5)


def test_hf_generate_batched_matches_single(micro_base, parts):
    from ablate.base.evaluate import hf_generate
    from ablate.base.prompts import video_user_text

    _, full, _, _, frames = parts
    tok = parts[3].tokenizer
    items = [(video_user_text(4, "Describe frame 1."), frames), ("<image>\nDescribe the image.", frames[:1])]
    both = hf_generate(full, tok, items, 6, batch_size=2)
    assert both == [hf_generate(full, tok, [it], 6)[0] for it in items]


@pytest.mark.slow
def test_vllm_parity_mechanics(micro_base):
    """vLLM serving lm/ from prompt embeddings gives the HF full/ model's greedy answers (~70 s)."""
    from ablate.base.check import parity
    from ablate.base.prompts import video_user_text
    from ablate.world.clips import sample_clip
    from ablate.world.render import render_clip

    rng = random.Random(5)
    items = [(video_user_text(4, q), render_clip(sample_clip(rng, 4), 64))
             for q in ("Describe frame 1.", "Describe each frame in order.", "Is it red?\nPlease answer yes or no:")]
    rep = parity(micro_base, items, max_tokens=8)
    assert rep["n"] == 3 and rep["agree"] == 1.0, rep
