"""`ablate doctor --model DIR`: the family of a checkpoint, which engines can serve it here, what is missing.

    $ ablate doctor --model /models/Qwen2-VL-7B-Instruct

Reads files and package metadata only (no weights are loaded), so it answers in a second.
"""

from __future__ import annotations

from pathlib import Path

from ablate.core import UserError


def inspect(model_dir: str | Path) -> dict:
    from ablate.models import detect_dir, engines_here, pick_route, read_config
    from ablate.models.frames import processor_config

    d = Path(model_dir)
    info: dict = {"dir": str(d), "family": None, "engines": {}, "missing": [], "notes": []}
    from ablate.models import EMBEDDED_BASES

    if str(model_dir) in EMBEDDED_BASES:
        fam = detect_dir(model_dir)
    else:
        if not d.is_dir():
            raise UserError(f"{d}: model directory not found")
        fam = detect_dir(d)
    info["family"] = fam.name
    info["positions"] = fam.positions
    info["vllm_lora"] = fam.vllm_lora
    if fam.is_vlm:
        cfg = read_config(d)
        info["model_type"] = cfg.get("model_type")
        if not any(d.glob("*.safetensors")) and not any(d.glob("*.bin")):
            info["missing"].append("weights (*.safetensors)")
        if not (d / "tokenizer.json").exists() and not (d / "tokenizer.model").exists() and not (d / "vocab.json").exists():
            info["missing"].append("tokenizer files (tokenizer.json)")
        tc = d / "tokenizer_config.json"
        in_tc = tc.exists() and "chat_template" in tc.read_text()
        if not in_tc and not any((d / n).exists() for n in ("chat_template.jinja", "chat_template.json")):
            info["missing"].append("a chat template (chat_template.jinja / chat_template.json / tokenizer_config.json)")
        if not processor_config(d):
            info["notes"].append("no processor config: video preprocessing uses the family defaults")
    for name, r in engines_here(fam).items():
        info["engines"][name] = {"ok": r.ok, "why": r.why, "lora": r.lora}
    route, notice = pick_route(fam, "vllm", has_adapters=True)
    info["eval_route"] = route
    if notice:
        info["notes"].append(notice)
    if fam.notes:
        info["notes"].append(fam.notes)
    return info


def run_model(model_dir: str) -> int:
    from rich.table import Table

    from ablate.ui import console

    info = inspect(model_dir)
    console.print(f"model {info['dir']}: family [bold]{info['family']}[/] ({info['positions']} positions"
                  f"{', vLLM LoRA' if info['vllm_lora'] else ', no vLLM LoRA'})", highlight=False)
    t = Table("engine route", "here", "what")
    for name, e in info["engines"].items():
        t.add_row(name, "[green]yes" if e["ok"] else "[red]no", e["why"])
    console.print(t)
    console.print(f"`engine = \"vllm\"` evaluates through: [bold]{info['eval_route']}[/]", highlight=False)
    for n in info["notes"]:
        console.print(f"note: {n}", highlight=False)
    for m in info["missing"]:
        console.print(f"[red]missing:[/] {m}", highlight=False)
    return 1 if info["missing"] else 0
