"""Tiny random-weight checkpoints of every model family, in HF format, built in seconds on CPU.

    from tests.fixtures_models import build_family
    d = build_family("qwen2_vl", tmp / "qwen2vl")        # config.json, model.safetensors, tokenizer, processor config
    d = build_family("llava_next_video", tmp / "lnv", width=128)

Real architectures (stock transformers classes) at tiny widths: LM hidden 128 with head_dim 64
(vLLM CPU rejects head_dim 16), 2 layers; a 1-layer vision tower on 28-56 px frames. Our own
byte-level BPE tokenizer carries the family's special tokens, and the chat templates are the
families' published templates (Qwen2-VL's; llava-hf's for LLaVA-NeXT-Video and LLaVA-OneVision,
which render only list-form content). Weights are scaled up so greedy replies depend on the prompt,
the frames and the adapter. benchmarks/gpu_check.py builds the same families at ~1.5B width.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ablate  # noqa: F401  (hides the broken media libs before transformers loads)
from fixtures_eval import _CORPUS as _EVAL_CORPUS

FAMILY_NAMES = ("qwen2_vl", "qwen2_5_vl", "llava_next_video", "llava_onevision")

QWEN2VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAVA_NEXT_VIDEO_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}{% endfor %}"
    "{{'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

# the T3 / TempCompass strings the eval fixtures' tokenizer learns, plus the chat-role words the VLM templates use
_CORPUS = [*_EVAL_CORPUS,
           "What is shown at the beginning of the video? the middle the end. USER: ASSISTANT: system user assistant"]


def _tokenizer(specials: list[str], eos: str, pad: str, template: str, out: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(_CORPUS * 4, trainers.BpeTrainer(vocab_size=500, special_tokens=specials,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token=eos, pad_token=pad, padding_side="left")
    tok.chat_template = template
    tok.save_pretrained(out)
    return tok


def _scale(model, factor: float = 3.0) -> None:
    import torch

    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" not in n:
                p.mul_(factor)


def _text(kind: str, vocab: int, width: int, layers: int, tok, **extra) -> dict:
    heads = max(2, width // 64)
    mlp = 2 * width if width <= 256 else round(5.833 * width / 128) * 128  # Qwen2-1.5B: 1536 -> 8960
    d = dict(vocab_size=max(vocab, len(tok)), hidden_size=width, intermediate_size=mlp,
             num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 4) if heads > 2 else heads,
             head_dim=64, max_position_embeddings=4096, tie_word_embeddings=False,
             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    d.update(extra)
    return d


def build_family(name: str, out: Path, width: int = 128, layers: int = 2, vision_width: int = 32,
                 vision_layers: int = 1, image: int | None = None, seed: int = 0, scale: float = 3.0,
                 vocab: int = 0, dtype: str = "float32") -> Path:
    """Write a random checkpoint of family `name` (see FAMILY_NAMES) to `out`; returns `out`.

    vocab: LM vocabulary size (0 = the tokenizer's; larger sizes shape the embeddings like a real model).
    dtype: saved weight dtype ("bfloat16" for the GPU check's ~1.5B checkpoints)."""
    import torch
    import transformers as T

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vheads = max(2, vision_width // 64)  # vision head_dim 16 (tiny) .. 64 (GPU check): what attention kernels take
    if name in ("qwen2_vl", "qwen2_5_vl"):
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                    "<|image_pad|>", "<|video_pad|>"]
        tok = _tokenizer(specials, "<|im_end|>", "<|endoftext|>", QWEN2VL_TEMPLATE, out)
        ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
        half = 32  # head_dim / 2, split over (t, h, w)
        text = _text("qwen2", vocab, width, layers, tok,
                     rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [half // 4, 3 * half // 8, 3 * half // 8]})
        tokens = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                      vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
        if name == "qwen2_vl":
            vision = dict(depth=vision_layers, embed_dim=vision_width, hidden_size=width, num_heads=vheads, mlp_ratio=2,
                          patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
            cfg = T.Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
            model = T.Qwen2VLForConditionalGeneration(cfg)
        else:
            vision = dict(depth=vision_layers, hidden_size=vision_width, intermediate_size=2 * vision_width, num_heads=vheads,
                          out_hidden_size=width, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                          window_size=112, fullatt_block_indexes=[vision_layers - 1])
            cfg = T.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
            model = T.Qwen2_5_VLForConditionalGeneration(cfg)
        side = image or 56
        pp = {"min_pixels": side * side, "max_pixels": side * side, "patch_size": 14, "temporal_patch_size": 2,
              "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
              "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 1 / 255,
              "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"}
        (out / "preprocessor_config.json").write_text(json.dumps(pp, indent=2))
    elif name == "llava_next_video":
        specials = ["<unk>", "<s>", "</s>", "<image>", "<video>"]
        tok = _tokenizer(specials, "</s>", "<unk>", LLAVA_NEXT_VIDEO_TEMPLATE, out)
        side = image or 28
        text = T.LlamaConfig(**_text("llama", vocab, width, layers, tok))
        vision = T.CLIPVisionConfig(hidden_size=vision_width, intermediate_size=2 * vision_width, num_hidden_layers=vision_layers,
                                    num_attention_heads=vheads, image_size=side, patch_size=7 if side <= 56 else 14,
                                    projection_dim=vision_width)
        cfg = T.LlavaNextVideoConfig(text_config=text, vision_config=vision, image_token_index=tok.convert_tokens_to_ids("<image>"),
                                     video_token_index=tok.convert_tokens_to_ids("<video>"), spatial_pool_stride=2,
                                     spatial_pool_mode="average", vision_feature_layer=-1,
                                     vision_feature_select_strategy="default", image_grid_pinpoints=[[side, side]])
        model = T.LlavaNextVideoForConditionalGeneration(cfg)
        pp = {"size": {"shortest_edge": side}, "crop_size": {"height": side, "width": side}, "do_center_crop": True,
              "do_resize": True, "resample": 3, "rescale_factor": 1 / 255, "image_mean": [0.48145466, 0.4578275, 0.40821073],
              "image_std": [0.26862954, 0.26130258, 0.27577711], "video_processor_type": "LlavaNextVideoVideoProcessor",
              "processor_class": "LlavaNextVideoProcessor"}
        (out / "video_preprocessor_config.json").write_text(json.dumps(pp, indent=2))
        _processor_files(out, pp, "LlavaNextImageProcessor", {"processor_class": "LlavaNextVideoProcessor", "patch_size": vision.patch_size,
                                                              "vision_feature_select_strategy": "default", "num_additional_image_tokens": 1})
    elif name == "llava_onevision":
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
        tok = _tokenizer(specials, "<|im_end|>", "<|endoftext|>", ONEVISION_TEMPLATE, out)
        side = image or 28
        text = T.Qwen2Config(**_text("qwen2", vocab, width, layers, tok))
        vision = T.SiglipVisionConfig(hidden_size=vision_width, intermediate_size=2 * vision_width, num_hidden_layers=vision_layers,
                                      num_attention_heads=vheads, image_size=side, patch_size=7 if side <= 56 else 14)
        cfg = T.LlavaOnevisionConfig(text_config=text, vision_config=vision, image_token_index=tok.convert_tokens_to_ids("<image>"),
                                     video_token_index=tok.convert_tokens_to_ids("<video>"), vision_feature_layer=-1,
                                     vision_feature_select_strategy="full", image_grid_pinpoints=[[side, side]])
        model = T.LlavaOnevisionForConditionalGeneration(cfg)
        pp = {"size": {"height": side, "width": side}, "do_resize": True, "do_center_crop": False, "resample": 3,
              "rescale_factor": 1 / 255, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
              "video_processor_type": "LlavaOnevisionVideoProcessor", "processor_class": "LlavaOnevisionProcessor"}
        (out / "video_preprocessor_config.json").write_text(json.dumps(pp, indent=2))
        _processor_files(out, pp, "LlavaOnevisionImageProcessor", {"processor_class": "LlavaOnevisionProcessor",
                                                                   "num_image_tokens": (side // vision.patch_size) ** 2,
                                                                   "vision_feature_select_strategy": "full"})
    else:
        raise ValueError(f"unknown family {name!r}; one of {FAMILY_NAMES}")
    if scale != 1.0:
        _scale(model, scale)
    model.config.eos_token_id = tok.eos_token_id
    model.config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    if dtype != "float32":
        model.to(getattr(torch, dtype))
        model.config.dtype = dtype
    model.save_pretrained(out)
    return out


def _processor_files(out: Path, pp: dict, image_processor: str, processor: dict) -> None:
    """The image-processor and processor configs a llava-hf checkpoint ships (what AutoProcessor and
    vLLM's native path load); our numpy preprocessing reads video_preprocessor_config.json only."""
    image = {k: v for k, v in pp.items() if not k.startswith(("video_", "processor_"))}
    side = pp.get("crop_size", pp["size"]).get("height", 336)
    image.update(image_processor_type=image_processor, image_grid_pinpoints=[[side, side]], do_pad=True)
    (out / "preprocessor_config.json").write_text(json.dumps(image, indent=2))
    (out / "processor_config.json").write_text(json.dumps(processor, indent=2))


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory):
    """{family name: checkpoint dir}, built lazily once per session."""
    root = tmp_path_factory.mktemp("families")
    cache: dict[str, Path] = {}

    class _Dirs(dict):
        def __missing__(self, key):
            cache[key] = build_family(key, root / key)
            self[key] = cache[key]
            return cache[key]

    return _Dirs()
