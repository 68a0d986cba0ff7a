"""Build the embedded LLaVA-style model from stock transformers classes, and write its three views.

    from ablate.base.config import CONFIGS
    from ablate.base.model import new_model, save_views
    model = new_model(CONFIGS["micro"], tokenizer)
    save_views(model, tokenizer, CONFIGS["micro"], root)   # root/full, root/lm, root/vision

`full/` is a LlavaForConditionalGeneration (CLIP vision tower + 2-layer GELU projector + a causal LM: a
Qwen2 trained from scratch, or the pretrained LM of `cfg.lm`) with its LlavaProcessor, so real LLaVA-family
checkpoints go through the same code. `lm/` is the causal LM alone (what PEFT trains and vLLM serves). `vision/` holds the vision tower and
projector weights that `ablate.base.embed.FrameEncoder` needs to turn frames into LM embeddings.
"""

from __future__ import annotations

from pathlib import Path

from ablate.base.config import BaseConfig

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def llava_config(cfg: BaseConfig, tokenizer, lm_config=None):
    """The LlavaConfig of a base: tower and projector from `cfg`; the LM from `cfg` (trained from scratch, a
    Qwen2) or, with `lm_config`, the pretrained LM's own config with the vocabulary grown by `<image>`."""
    from transformers import CLIPVisionConfig, LlavaConfig, Qwen2Config

    vocab = -(-len(tokenizer) // 64) * 64  # pad to a multiple of 64: friendlier matmuls
    vision = CLIPVisionConfig(
        hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_intermediate,
        num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
        image_size=cfg.frame_size, patch_size=cfg.patch_size, projection_dim=cfg.vision_hidden,
        hidden_act="gelu",
    )
    if lm_config is not None:
        text = lm_config
        text.vocab_size = vocab
    else:
        text = Qwen2Config(
            vocab_size=vocab, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads, head_dim=cfg.head_dim,
            intermediate_size=cfg.intermediate, max_position_embeddings=cfg.max_positions,
            tie_word_embeddings=True, rope_theta=10000.0, bos_token_id=None,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    conf = LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        projector_hidden_act="gelu", vision_feature_select_strategy="default", vision_feature_layer=-1,
        image_seq_length=cfg.tokens_per_frame, tie_word_embeddings=True,
    )
    conf.eos_token_id = tokenizer.eos_token_id
    conf.pad_token_id = tokenizer.pad_token_id
    return conf


def new_model(cfg: BaseConfig, tokenizer, lm_dir: Path | None = None):
    """A fresh LLaVA model; with `lm_dir` (a pretrained HF causal LM) its LM holds those weights, the
    embedding rows of tokens added since (`<image>`) set to the mean of the others."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, LlavaForConditionalGeneration

    torch.manual_seed(cfg.seed)
    lm_config = AutoConfig.from_pretrained(lm_dir) if lm_dir is not None else None
    model = LlavaForConditionalGeneration(llava_config(cfg, tokenizer, lm_config))
    model.config.use_cache = True
    if lm_dir is not None:
        lm = AutoModelForCausalLM.from_pretrained(lm_dir, dtype=torch.float32)
        emb = lm.get_input_embeddings().weight.detach()  # [V_lm, hidden]
        new = model.get_input_embeddings().weight  # [V, hidden], V >= V_lm
        with torch.no_grad():
            new[: len(emb)] = emb
            new[len(emb):] = emb.mean(0)
        state = {k: v for k, v in lm.model.state_dict().items() if not k.startswith("embed_tokens")}
        missing, unexpected = model.model.language_model.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if not k.startswith("embed_tokens")]:
            raise RuntimeError(f"{lm_dir}: LM weights do not fit ({missing[:3]} missing, {unexpected[:3]} unexpected)")
        model.tie_weights()
    return model.float()


def processor_for(cfg: BaseConfig, tokenizer):
    from transformers import CLIPImageProcessor, LlavaProcessor

    ip = CLIPImageProcessor(
        size={"shortest_edge": cfg.frame_size}, crop_size={"height": cfg.frame_size, "width": cfg.frame_size},
        image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=ip, tokenizer=tokenizer, patch_size=cfg.patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=tokenizer.chat_template, image_token="<image>",
    )


def _generation_config(tokenizer):
    from transformers import GenerationConfig

    return GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False,
        max_new_tokens=128,
    )


def extract_lm(model):
    """The language model of a Llava model as a standalone causal LM of its own class (weights copied)."""
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_config(model.config.text_config)
    lm.model.load_state_dict(model.model.language_model.state_dict())
    lm.lm_head.load_state_dict(model.lm_head.state_dict())
    lm.tie_weights()
    return lm.float().eval()


def save_views(model, tokenizer, cfg: BaseConfig, root: Path) -> dict:
    """Write root/full, root/lm, root/vision; return their parameter counts."""
    from safetensors.torch import save_file

    root = Path(root)
    model = model.eval()
    gen = _generation_config(tokenizer)
    model.generation_config = gen
    model.save_pretrained(root / "full")
    processor_for(cfg, tokenizer).save_pretrained(root / "full")
    tokenizer.save_pretrained(root / "full")

    lm = extract_lm(model)
    lm.generation_config = gen
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")

    vision = {f"vision_tower.{k}": v.contiguous() for k, v in model.model.vision_tower.state_dict().items()}
    vision.update({f"multi_modal_projector.{k}": v.contiguous() for k, v in model.model.multi_modal_projector.state_dict().items()})
    (root / "vision").mkdir(parents=True, exist_ok=True)
    save_file(vision, str(root / "vision" / "model.safetensors"))
    model.config.to_json_file(str(root / "vision" / "config.json"))
    n_vision = sum(v.numel() for v in vision.values())
    n_lm = sum(p.numel() for p in lm.parameters())
    return {"params_total": sum(p.numel() for p in model.parameters()), "params_lm": n_lm,
            "params_vision_projector": n_vision, "vocab_size": model.config.text_config.vocab_size,
            "tokenizer_size": len(tokenizer), "tokens_per_frame": cfg.tokens_per_frame,
            "frame_size": cfg.frame_size}
