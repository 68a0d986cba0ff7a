"""Which model `ablate train` puts LoRA on, and which of its modules the adapter may touch.

    from ablate.base import resolve_base
    from ablate.train.model import load_lm, lora_targets
    base = resolve_base("smol")                   # or a local HF dir, or a BaseModel
    model, tok = load_lm(base.lm_dir, device="cpu", dtype=torch.float32)
    names = lora_targets(model, ("q_proj", "v_proj"))   # full module names, language model only

Only the language model is trained. For a causal-LM directory (the tiny base's `lm/`) that is the
whole model. For a vision-language directory (LLaVA, Qwen2-VL: its config has a `vision_config`)
the language model is the decoder submodule (`model.get_decoder()`); every name outside it except
the output head belongs to the vision tower or the projector and is never a LoRA target. Targets are
passed to PEFT as full module names, so a short name such as `q_proj`, which CLIP also uses, can
never reach the vision tower.
"""

from __future__ import annotations

from pathlib import Path

from ablate.core import UserError

ALL_LINEAR = "all-linear"
_HEADS = ("lm_head", "embed_out", "output")


def is_vlm_config(model_dir: Path) -> bool:
    import json

    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    return "vision_config" in cfg


def load_lm(model_dir: Path, device: str, dtype):
    """Load the trainable model and its tokenizer (with the chat template the evaluator uses)."""
    import ablate  # noqa: F401 - hides broken torchvision before transformers is imported
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir}: not a model directory (no config.json)")
    tok = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tok, "chat_template", None):
        raise UserError(f"{model_dir}: the tokenizer has no chat template; training needs one to format the messages")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if is_vlm_config(model_dir):  # llava-hf templates render list content only: make string turns render
        from ablate.models.chat import text_ready

        tok = text_ready(tok)
    cls = AutoModelForImageTextToText if is_vlm_config(model_dir) else AutoModelForCausalLM
    model = cls.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa")
    model.to(device)
    return model, tok


def language_model_prefix(model) -> str:
    """Qualified name of the decoder that holds the text layers ("" for a plain causal LM)."""
    cfg = model.config
    if not hasattr(cfg, "vision_config"):
        return ""
    decoder = model.get_decoder()
    for name, module in model.named_modules():
        if module is decoder:
            return name
    raise UserError(f"{type(model).__name__}: cannot locate the language model inside this vision-language model")


def decoder_layers(model) -> tuple[str, int]:
    """(qualified name of the language model's decoder-layer list, number of layers), e.g. ("model.layers", 30)."""
    import torch

    layers = getattr(model.get_decoder(), "layers", None)
    if isinstance(layers, torch.nn.ModuleList):
        for name, module in model.named_modules():
            if module is layers:
                return name, len(layers)
    raise UserError(f"{type(model).__name__}: cannot find its decoder layers (needed by lora_layers > 0)")


def top_layers(model, names: list[str], n: int) -> list[str]:
    """The names that lie inside the top `n` decoder layers (n = 0: all of them)."""
    if n == 0:
        return names
    prefix, total = decoder_layers(model)
    keep = tuple(f"{prefix}.{i}." for i in range(max(total - n, 0), total))
    kept = [name for name in names if name.startswith(keep)]
    if not kept:
        raise UserError(f"lora_layers = {n}: no LoRA target lies in the top {n} of the {total} decoder layers")
    return kept


def lora_targets(model, targets: tuple[str, ...], lora_layers: int = 0) -> list[str]:
    """Full names of the Linear modules under the language model that match `targets`.

    An entry matches a module when it equals the full name, or the name ends with `.entry`.
    `all-linear` means every Linear in the language model except the output head. lora_layers > 0 keeps
    only the modules of the top that many decoder layers. Raises UserError for an entry that matches
    nothing, or that only matches vision-tower / projector modules.
    """
    import torch

    prefix = language_model_prefix(model)
    linear = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]

    def in_lm(name: str) -> bool:
        return prefix == "" or name.startswith(prefix + ".")

    def is_head(name: str) -> bool:
        # the output head sits beside the decoder in VLMs; it is language-model side, not vision
        return name.split(".")[-1] in _HEADS and name.count(".") <= 1

    def matches(name: str, entry: str) -> bool:
        return name == entry or name.endswith("." + entry)

    chosen: set[str] = set()
    for entry in targets:
        if entry == ALL_LINEAR:
            hits = [n for n, _ in linear if in_lm(n) and not is_head(n)]
        else:
            hits = [n for n, _ in linear if matches(n, entry)]
            vision = [n for n in hits if not in_lm(n) and not is_head(n)]
            hits = [n for n in hits if in_lm(n) or is_head(n)]
            if not hits and vision:
                raise UserError(
                    f"LoRA target `{entry}` names vision-tower/projector modules only ({', '.join(vision[:3])}"
                    f"{' ...' if len(vision) > 3 else ''}); only the language model is trained"
                )
        if not hits:
            names = sorted({n.split(".")[-1] for n, _ in linear if in_lm(n)})
            raise UserError(f"LoRA target `{entry}` matches no Linear module of the language model (it has: {', '.join(names)})")
        chosen.update(hits)
    return top_layers(model, sorted(chosen), lora_layers)
