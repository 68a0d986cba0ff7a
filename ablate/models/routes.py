"""Which engine route can serve a family here, and which one an evaluation takes.

    from ablate.models import detect_dir, engines_here, pick_route
    fam = detect_dir(model_dir)
    engines_here(fam)                          # {"hf": Route(...), "vllm-native": Route(...), "vllm-embeds": Route(...)}
    route, notice = pick_route(fam, "vllm", has_adapters=True)

Routes:
- hf: the whole checkpoint in transformers + PEFT (ablate.eval.engines.hf_vlm); CPU or GPU, every family.
- vllm-native: vLLM serves the checkpoint with `multi_modal_data={"video": frames}` and a LoRARequest
  per variant. Needs a GPU build of vLLM and torchvision (vLLM's video processors use it).
- vllm-embeds: frames -> the checkpoint's own vision tower and projector (HF) -> prompt embeddings
  for vLLM running the exported language model, with the adapter's names moved onto it. Exact only
  for plain 1-D positions; this is the CPU route (the tiny base and LLaVA always go this way).
Detection reads package metadata and torch.cuda only; nothing heavy is imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    name: str
    ok: bool
    why: str  # what it does here, or what is missing
    lora: bool = True
    missing: tuple[str, ...] = ()  # what this machine lacks for the route


def _have(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def _gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


def engines_here(family) -> dict[str, Route]:
    from ablate.compat import broken_media_libs

    vllm, gpu = _have("vllm"), _gpu()
    tv_ok = _have("torchvision") and "torchvision" not in broken_media_libs()
    out = {"hf": Route("hf", _have("transformers") and _have("peft"), "transformers + PEFT, adapters switched with set_adapter")}
    if not family.is_vlm:  # tiny / llava: the split lm/ + frame encoder path
        out["vllm-embeds"] = Route("vllm-embeds", vllm, "vLLM on the language model, video as prompt embeddings"
                                   if vllm else "vllm is not installed")
        return out
    missing = [m for m, ok in (("vllm", vllm), ("a GPU", gpu), ("torchvision", tv_ok)) if not ok]
    lora = family.vllm_lora
    why = (f"vLLM {family.vllm_arch} with native video input" + ("" if lora else "; no LoRA for this architecture in vLLM"))
    out["vllm-native"] = Route("vllm-native", not missing and family.vllm_arch is not None,
                               why if not missing else "needs " + ", ".join(missing), lora, tuple(missing))
    if family.positions != "1d":
        out["vllm-embeds"] = Route("vllm-embeds", False, f"{family.positions} positions: prompt embeddings would not be exact")
    else:
        out["vllm-embeds"] = Route("vllm-embeds", vllm, "vLLM on the exported language model, video as prompt embeddings"
                                   if vllm else "vllm is not installed")
    return out


def pick_route(family, engine: str, has_adapters: bool) -> tuple[str, str | None]:
    """(route, one-line notice or None) for a requested engine ("vllm" or "hf")."""
    if engine == "hf":
        return "hf", None
    here = engines_here(family)
    if not family.is_vlm:
        return "vllm-embeds", None
    native = here["vllm-native"]
    if native.ok and (native.lora or not has_adapters):
        return "vllm-native", None
    if native.ok and has_adapters:
        return "hf", f"{family.name}: vLLM has no LoRA for {family.vllm_arch}; the HF engine serves the adapters"
    embeds = here["vllm-embeds"]
    if embeds.ok:
        return "vllm-embeds", None
    if family.positions != "1d" and _have("vllm"):
        return "hf", (f"{family.name}: M-RoPE positions are not exact through vLLM prompt embeddings and native "
                      f"video needs {', '.join(native.missing)}; the HF engine serves it here")
    return "hf", f"{family.name}: vLLM cannot serve it here ({native.why}); the HF engine serves it"


def route_lines(eval_dirs: list) -> list[str]:
    """Report lines: the engine route of each evaluation and its notice (e.g. an HF fallback), deduplicated."""
    import json
    from pathlib import Path

    seen: dict[tuple, None] = {}
    for d in eval_dirs:
        f = Path(d) / "eval.json"
        try:
            m = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        seen[(m.get("engine"), m.get("route") or m.get("engine"), m.get("route_notice"))] = None
    out = []
    for engine, route, notice in seen:
        out.append(f"- engine: {engine} -> route {route}" + (f" ({notice})" if notice else ""))
    return out
