"""Adapter names across the three loaders: PEFT on the VLM, vLLM on the VLM, vLLM on the exported LM.

    from ablate.models.adapters import check_adapter, lm_adapter, export_lm
    report = check_adapter(adapter_dir, family)     # raises UserError on a vision-tower key or a name vLLM rejects
    lm_dir = export_lm(vlm_dir, family, base_hash)  # the language model alone, as a causal-LM dir (cached)
    lm_adapter(adapter_dir, family)                 # the same adapter renamed onto that LM (cached)

PEFT saves `base_model.model.<module path>.lora_{A,B}.weight` for every adapted Linear of the VLM;
training only ever adapts modules under `family.lm_prefix` (and the output head), so the adapter
holds no vision weights. vLLM loads those names by stripping `base_model.model.`, applying the
architecture's `hf_to_vllm_mapper` prefixes (`family.vllm_prefix_map`, copied from vLLM 0.32 and
compared to it by a test) and checking the last name part against the LoRA-capable modules.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ablate.core import UserError, atomic_dir, node_cache_root, stable_hash

PEFT_PREFIX = "base_model.model."
LORA_MODULES = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"}


def adapter_keys(adapter_dir: Path) -> list[str]:
    from safetensors import safe_open

    f = Path(adapter_dir) / "adapter_model.safetensors"
    if not f.is_file():
        raise UserError(f"{adapter_dir}: no adapter_model.safetensors")
    with safe_open(str(f), framework="np") as h:
        return list(h.keys())


def vllm_module_name(key: str, prefix_map: dict) -> str:
    """What vLLM's LoRA loader makes of a PEFT key (lora/utils.parse_fine_tuned_lora_name, prefix maps only)."""
    name = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
    for old, new in prefix_map.items():  # applied in order, like WeightsMapper
        if name.startswith(old):
            name = new + name[len(old):]
    parts = name.split(".")
    if parts[-1] == "weight" and parts[-2] in ("lora_A", "lora_B"):
        parts = parts[:-2]
    return ".".join(parts)


def check_adapter(adapter_dir: Path, family) -> dict:
    """Every key under the LM (or its head), none under the vision tower / projector, and each maps in vLLM
    to `language_model.*.<LoRA-capable module>`. Returns {"keys", "vllm_modules"}."""
    keys = adapter_keys(adapter_dir)
    bad_vision = [k for k in keys if any(k[len(PEFT_PREFIX):].startswith(p + ".") for p in family.vision_prefixes)]
    if bad_vision:
        raise UserError(f"{adapter_dir}: adapter has vision-tower/projector weights ({bad_vision[0]} ...); "
                        "only the language model may be trained")
    mods = sorted({vllm_module_name(k, family.vllm_prefix_map) for k in keys})
    if family.lm_prefix and family.vllm_arch and family.vllm_prefix_map:
        wrong = [m for m in mods if not m.startswith("language_model.") or m.split(".")[-1] not in LORA_MODULES]
        if wrong:
            raise UserError(f"{adapter_dir}: vLLM ({family.vllm_arch}) would not load module(s) {wrong[:3]}")
    return {"keys": keys, "vllm_modules": mods}


def _lm_name(key: str, family) -> str:
    """A VLM adapter key renamed for the exported causal LM (model.language_model.X -> model.X)."""
    body = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
    lm = family.lm_prefix + "."
    if body.startswith(lm):
        body = "model." + body[len(lm):]
    return PEFT_PREFIX + body


def lm_adapter(adapter_dir: Path, family) -> Path:
    """The adapter with its names moved onto the exported language model; cached by content."""
    from safetensors.numpy import load_file, save_file

    from ablate.core import file_sha256

    adapter_dir = Path(adapter_dir)
    content = [file_sha256(adapter_dir / n) for n in ("adapter_model.safetensors", "adapter_config.json")]
    out = node_cache_root() / "models" / "lm_adapters" / stable_hash([content, family.lm_prefix, 1])
    if out.exists():
        return out
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    tm = cfg.get("target_modules")
    lm = family.lm_prefix + "."
    if isinstance(tm, list):
        cfg["target_modules"] = ["model." + t[len(lm):] if t.startswith(lm) else t for t in tm]
    cfg["base_model_name_or_path"] = None
    with atomic_dir(out) as tmp:
        save_file({_lm_name(k, family): v for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors"))
        (tmp / "adapter_config.json").write_text(json.dumps(cfg))
    return out


_CAUSAL = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM",
           "qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM"}


def export_lm(vlm_dir: Path, family, base_hash: str, model=None) -> Path:
    """The VLM's language model + head saved as a plain causal-LM directory with the tokenizer (cached by hash)."""
    out = node_cache_root() / "models" / "lm" / f"{base_hash[:24]}-{family.name}"
    if (out / "config.json").exists():
        return out
    import torch
    import transformers

    if model is None:
        model = transformers.AutoModelForImageTextToText.from_pretrained(vlm_dir, dtype=torch.float32)
    tcfg = model.config.get_text_config()
    arch = _CAUSAL.get(tcfg.model_type)
    if arch is None:
        raise UserError(f"{vlm_dir}: cannot export a {tcfg.model_type!r} language model for vLLM prompt embeddings")
    lm = getattr(transformers, arch)(tcfg)
    state = {"model." + k: v for k, v in model.get_submodule(family.lm_prefix).state_dict().items()}
    state["lm_head.weight"] = model.get_output_embeddings().weight
    missing, unexpected = lm.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if m != "lm_head.weight"]:
        raise UserError(f"{vlm_dir}: language model export mismatch (missing {missing[:3]}, unexpected {unexpected[:3]})")
    lm.config.architectures = [arch]
    gc = model.generation_config
    lm.config.eos_token_id, lm.config.pad_token_id = gc.eos_token_id, gc.pad_token_id
    with atomic_dir(out) as tmp:
        lm.save_pretrained(tmp)
        for f in Path(vlm_dir).iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges", "chat_template", "added_tokens")):
                shutil.copy(f, tmp / f.name)
    return out
