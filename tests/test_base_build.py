"""The micro base: formats of full/, lm/, vision/, the manifest, the tokenizer and caching."""

from __future__ import annotations

import time

import pytest


def test_layout_and_manifest(micro_base):
    from ablate.core import read_json

    root = micro_base.root
    for d in ("full", "lm", "vision"):
        assert (root / d).is_dir(), d
    m = read_json(root / "manifest.json")
    assert m["hash"] == micro_base.hash and micro_base.kind == "llava"
    assert m["sizes"]["tokens_per_frame"] == 9 and m["sizes"]["params_lm"] > 0
    assert set(m["curves"]) == {"stage0_vision", "stage1_captions", "stage2_instructions"}
    assert set(m["curves"]["stage0_vision"]["heldout_patch_accuracy"]) == {"color", "shape", "size"}
    assert m["curves"]["stage1_captions"]["loss_last"] < m["curves"]["stage1_captions"]["loss_first"]
    assert {"caption", "describe_each_frame"} <= set(m["heldout"])


def test_full_and_lm_load_with_from_pretrained(micro_base):
    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor, LlavaForConditionalGeneration

    full = LlavaForConditionalGeneration.from_pretrained(micro_base.full_dir)
    lm = AutoModelForCausalLM.from_pretrained(micro_base.lm_dir)
    assert type(lm).__name__ == "Qwen2ForCausalLM"
    assert lm.config.head_dim == 64 and lm.config.hidden_size // lm.config.num_attention_heads == 64
    proc = AutoProcessor.from_pretrained(micro_base.full_dir)
    assert proc.tokenizer.chat_template
    # the standalone LM is the Llava model's LM: same logits on text-only input
    ids = proc.tokenizer("A red circle at the top left.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        a = full(input_ids=ids).logits
        b = lm(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_tokenizer_chat_template_and_prompts(micro_base):
    from transformers import AutoTokenizer

    from ablate.base.prompts import chat_token_ids, video_user_text

    tok = AutoTokenizer.from_pretrained(micro_base.lm_dir)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    user = video_user_text(3, "Describe frame 2.")
    ids = chat_token_ids(tok, user)
    assert ids.count(tok.convert_tokens_to_ids("<image>")) == 3
    assert tok.decode(ids).endswith("<|im_start|>assistant\n")
    msgs = [{"role": "user", "content": "Is it red?"}, {"role": "assistant", "content": "(B) yes"}]
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assistant = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(assistant) == "(B) yes<|im_end|>"
    # answer-format words are whole tokens, not spelled out byte by byte
    for w in ("(A)", " yes", " no", "A."):
        assert len(tok.tokenize(w)) <= 3, w


def test_every_loader_tokenises_like_pretraining(micro_base):
    """lm/ loads as a Qwen2Tokenizer (TRL, vLLM), full/ as the generic backend, pretraining used the
    in-memory tokenizer: all three must give the same ids, or serving sees text pretraining never saw."""
    import random

    from transformers import AutoTokenizer

    from ablate.base.data import tokenizer_corpus
    from ablate.base.prompts import chat_text, video_user_text
    from ablate.base.tokenizer import train_tokenizer

    texts = tokenizer_corpus(random.Random(5), 60, 4)
    lm = AutoTokenizer.from_pretrained(micro_base.lm_dir)
    full = AutoTokenizer.from_pretrained(micro_base.full_dir)
    fresh = train_tokenizer(tokenizer_corpus(random.Random(0), 400, 4), 512)  # what micro pretraining used
    assert type(lm).__name__ == "Qwen2Tokenizer" and len(fresh) == len(lm)
    texts += [chat_text(lm, video_user_text(8, "Describe frame 12.")), "Frame 10: a café,  two  spaces\n\nand 3.5 x 42 (B) it's"]
    for t in texts:
        ids = lm(t, add_special_tokens=False)["input_ids"]
        assert full(t, add_special_tokens=False)["input_ids"] == ids, t
        assert fresh(t, add_special_tokens=False)["input_ids"] == ids, t


def test_cache_hit_is_instant_and_hash_follows_config(micro_base):
    import random

    from ablate.base import build_base, resolve_base
    from ablate.base.config import get_config
    from ablate.base.data import tokenizer_corpus
    from ablate.base.pretrain import build_key

    t = time.perf_counter()
    again = build_base("micro", verbose=False)
    assert time.perf_counter() - t < 5 and again == micro_base
    assert resolve_base("micro", build=False) == micro_base
    cfg = get_config("micro")
    corpus = tokenizer_corpus(random.Random(cfg.seed), cfg.tokenizer_captions, cfg.clip_frames)
    assert build_key(cfg, corpus) == micro_base.hash
    assert build_key(get_config("micro", stage1_steps=11), corpus) != micro_base.hash
    assert build_key(cfg, corpus[:-1]) != micro_base.hash


def test_out_copy_and_local_dir(micro_base, tmp_path):
    from ablate.base import build_base, resolve_base

    b = build_base("micro", out=tmp_path / "mybase", verbose=False)
    assert b.root == tmp_path / "mybase" and (b.lm_dir / "config.json").exists()
    local = resolve_base(tmp_path / "mybase")
    assert local.hash == micro_base.hash and local.kind == "llava"
    lm_only = resolve_base(micro_base.lm_dir)
    assert lm_only.kind == "lm" and lm_only.full_dir is None


def test_resolve_base_errors(tmp_path):
    from ablate.core import UserError
    from ablate.base import resolve_base

    with pytest.raises(UserError, match="not found"):
        resolve_base(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither"):
        resolve_base(tmp_path / "empty")


def test_base_dir_with_removed_config_fields_still_loads(micro_base, micro_world, tmp_path):
    """A base built before a config field was removed (its manifest names it) still resolves, reports its layout
    and answers through both halves of `ablate base check` (HF full/ and the frame encoder)."""
    import json

    from ablate.base import build_base, resolve_base
    from ablate.base.check import bench_items, hf_answers
    from ablate.base.embed import FrameEncoder
    from ablate.base.prompts import base_layout

    old = build_base("micro", out=tmp_path / "old", verbose=False)
    m = json.loads((old.root / "manifest.json").read_text())
    m["config"].update({"letter_weight": 5.0, "vision_cache": True, "binding_steps": 1500, "stage_lr": 1e-3,
                        "layout": "slots"})
    (old.root / "manifest.json").write_text(json.dumps(m))
    base = resolve_base(tmp_path / "old")
    assert base.hash == micro_base.hash and base_layout(base) == "slots"
    items = bench_items(2, frames=4, world=micro_world, layout=base_layout(base))
    assert all(isinstance(r, str) for r in hf_answers(base, items, max_tokens=2))
    enc = FrameEncoder(base)
    assert enc.prompt_embeds(enc.encode(items[0][1]), items[0][0]).ndim == 2


def test_frozen_lm_with_alignment_stage_trains_only_the_projector(micro_base):
    """`freeze_lm` (as the pretrained `smol` base): stages 1-2 change the projector, never the LM; `align_steps`
    first fits the projector to the LM's word embeddings without any LM pass, and its loss falls. Stage 0 is
    not trained again: the tower of `micro` (same vision side) comes from the cache."""
    import torch
    from safetensors.torch import load_file

    from ablate.base import build_base
    from ablate.base.config import get_config
    from ablate.base.model import new_model
    from ablate.core import read_json

    b = build_base("micro", verbose=False, freeze_lm=True, align_steps=20, align_batch=8)
    m = read_json(b.root / "manifest.json")
    align = m["curves"]["stage1a_align"]
    assert align["steps"] == 20 and align["loss_last"] < align["loss_first"]
    # the LM saved in lm/ is the LM the model started with (same seed, same tokenizer)
    from transformers import AutoTokenizer

    cfg = get_config("micro", freeze_lm=True, align_steps=20, align_batch=8)
    fresh = new_model(cfg, AutoTokenizer.from_pretrained(b.lm_dir))
    saved = load_file(str(b.lm_dir / "model.safetensors"))
    for k, v in fresh.model.language_model.state_dict().items():
        assert torch.equal(saved[f"model.{k}"], v), k
    proj = load_file(str(b.root / "vision" / "model.safetensors"))
    assert not torch.equal(proj["multi_modal_projector.linear_1.weight"], fresh.model.multi_modal_projector.linear_1.weight)
    # one stage-0 tower for both bases
    assert b.hash != micro_base.hash and "cached" in m["curves"]["stage0_vision"]
    ref = load_file(str(micro_base.root / "vision" / "model.safetensors"))
    tower = [k for k in ref if k.startswith("vision_tower.")]
    assert tower and all(torch.equal(ref[k], proj[k]) for k in tower)


def test_patch_word_targets_say_what_each_patch_shows():
    """An object's patch targets the mean embedding of its words; an empty patch the lighting and its position."""
    import numpy as np
    import torch

    from ablate.base.pretrain import patch_word_targets

    class Tok:  # one id per word
        vocab: dict = {}

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [self.vocab.setdefault(w, len(self.vocab)) for w in text.split()]}

    tok, embed = Tok(), torch.randn(200, 4)
    labels = np.zeros((1, 3, 9), np.int64)
    labels[0, :, 4] = (1, 2, 2)  # the first colour, shape and size index + 1, in the centre patch
    t = patch_word_targets(tok, embed, labels, np.array([0]), grid=3)
    from ablate.world.scene import COLOR_NAMES, SHAPES, SIZES

    ids = tok(f" {SIZES[1]} {COLOR_NAMES[0]} {SHAPES[1]} at the center")["input_ids"]
    assert torch.allclose(t[0, 4], embed[ids].mean(0))
    assert torch.allclose(t[0, 0], embed[tok(" dim empty top left")["input_ids"]].mean(0))
