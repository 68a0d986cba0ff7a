"""Is a base model directory what its config.json claims, and does a LoRA adapter fit it? Checked
before any trainer or engine starts, from safetensors headers (a few KB a file), never the weights.

    from ablate.models.checks import adapter_problems, check_adapter_fits, check_base
    check_base(base)          # UserError: config.json without weights, weights of another shape, a cut file
    check_adapter_fits("runs/train/abc", base, max_rank=512, engine="vllm")   # UserError naming both + a tensor
    adapter_problems(base, {"v1": Path("a1"), "base": None}, 512, "vllm")     # {"v1": "adapter a1 does not fit ..."}

A base is checked against its config (text_config for a VLM): the embedding, the attention and MLP
projections of the language model and the number of layers. An adapter is checked tensor by tensor
against the base weight of the module it targets (lora_A is [r, in_features], lora_B [out_features, r]),
then its config's target_modules, then its rank against the engine's limit (vLLM: 512; HF: none).
Vision-tower and projector weights are left out of both (they are never trained here).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from ablate.core import UserError, read_json_file

PEFT_PREFIX = "base_model.model."
VISION_PARTS = {"vision_tower", "vision_model", "visual", "multi_modal_projector", "mm_projector", "image_newline",
                "vision_resampler"}
_LORA = re.compile(r"^(?P<module>.+)\.(?P<kind>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.[^.]+)?\.weight$|"
                   r"^(?P<module2>.+)\.(?P<kind2>lora_embedding_A|lora_embedding_B)(?:\.[^.]+)?$")


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors header; UserError for a file that is cut or not safetensors."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n <= 0 or 8 + n > size or n > 100_000_000:
            raise UserError(f"{path}: not a complete safetensors file ({size} bytes; the copy or download was cut?)")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise UserError(f"{path}: not a safetensors file (its header is not JSON)") from None
    shapes, end = {}, 0
    for k, v in header.items():
        if k == "__metadata__" or not isinstance(v, dict):
            continue
        shapes[k] = tuple(int(x) for x in v.get("shape", ()))
        end = max(end, int((v.get("data_offsets") or (0, 0))[1]))
    if 8 + n + end > size:
        raise UserError(f"{path}: cut short ({size} bytes, its header describes {8 + n + end}); copy it again")
    return shapes


def _torch_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    import torch

    try:
        state = torch.load(path, map_location="meta", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unreadable pickle is the same user-facing problem
        raise UserError(f"{path}: cannot read the weights ({type(e).__name__}: {e})") from None
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    return safetensors_shapes(path) if path.suffix == ".safetensors" else _torch_shapes(path)


@functools.lru_cache(maxsize=64)
def _cached_shapes(path: str, _stamp: tuple) -> dict[str, tuple[int, ...]]:
    return _file_shapes(Path(path))


def weight_shapes(model_dir: str | Path) -> dict[str, tuple[int, ...]]:
    """Every weight's shape in a HF model dir (single file or sharded with an index); UserError when
    there are no weights, an index names a missing shard, or a file is cut."""
    d = Path(model_dir)
    for name in ("model.safetensors", "pytorch_model.bin"):
        index = d / f"{name}.index.json"
        if index.is_file():
            files = sorted(set((read_json_file(index, "") or {}).get("weight_map", {}).values()))
            missing = [f for f in files if not (d / f).is_file()]
            if missing or not files:
                raise UserError(f"{index}: names shard(s) that are not there ({', '.join(missing[:3]) or 'none listed'}); "
                                "the download or copy is incomplete")
            break
        if (d / name).is_file():
            files = [name]
            break
    else:
        raise UserError(f"{d}: has a config.json but no weights (model.safetensors, a sharded model-*.safetensors "
                        "with its index, or pytorch_model.bin): the download or copy is incomplete; copy the "
                        "weights there or point at the complete model directory")
    out: dict[str, tuple[int, ...]] = {}
    for f in files:
        st = (d / f).stat()
        out.update(_cached_shapes(str((d / f).resolve()), (st.st_size, st.st_mtime_ns, st.st_ino)))
    return out


def _lm_only(shapes: dict) -> dict:
    return {k: s for k, s in shapes.items() if not VISION_PARTS & set(k.split("."))}


def _expected(cfg: dict) -> list[tuple[str, tuple, str]]:
    """(key regex, expected shape, which config values) for the language model's main weights."""
    t = {**cfg, **(cfg.get("text_config") or {})}
    h, v, heads, layers = (t.get(k) for k in ("hidden_size", "vocab_size", "num_attention_heads", "num_hidden_layers"))
    kv, inter = t.get("num_key_value_heads") or heads, t.get("intermediate_size")
    hd = t.get("head_dim") or (h // heads if h and heads else None)
    rules = [(r"(^|\.)embed_tokens\.weight$", (v, h), "vocab_size, hidden_size"),
             (r"(^|\.)lm_head\.weight$", (v, h), "vocab_size, hidden_size")]
    if heads and hd:
        rules += [(r"\.self_attn\.q_proj\.weight$", (heads * hd, h), "num_attention_heads * head_dim, hidden_size"),
                  (r"\.self_attn\.k_proj\.weight$", (kv * hd, h), "num_key_value_heads * head_dim, hidden_size"),
                  (r"\.self_attn\.v_proj\.weight$", (kv * hd, h), "num_key_value_heads * head_dim, hidden_size"),
                  (r"\.self_attn\.o_proj\.weight$", (h, heads * hd), "hidden_size, num_attention_heads * head_dim")]
    if inter:
        rules += [(r"\.mlp\.(gate|up)_proj\.weight$", (inter, h), "intermediate_size, hidden_size"),
                  (r"\.mlp\.down_proj\.weight$", (h, inter), "hidden_size, intermediate_size")]
    return [(r, shape, why) for r, shape, why in rules if all(isinstance(x, int) for x in shape)] + \
        ([("layers", (layers,), "num_hidden_layers")] if isinstance(layers, int) else [])


def check_model_dir(model_dir: str | Path, what: str = "model") -> None:
    """UserError naming `model_dir` when it has no weights, a cut weights file, or weights whose language
    model shapes are not those its config.json describes."""
    d = Path(model_dir)
    cfg = read_json_file(d / "config.json", f"{d}: no config.json (not a Hugging Face {what} directory)")
    lm = _lm_only(weight_shapes(d))
    bad = f"{d}: the {what} is not what its config.json describes:"
    for rule, shape, why in _expected(cfg):
        if rule == "layers":
            idx = {int(m.group(1)) for k in lm for m in [re.search(r"(?:^|\.)layers\.(\d+)\.", k)] if m}
            if idx and max(idx) + 1 != shape[0]:
                raise UserError(f"{bad} config.json says num_hidden_layers={shape[0]}, the weights hold "
                                f"{max(idx) + 1} layers. The weights belong to another model, or config.json was "
                                "edited: use the config.json that came with these weights")
            continue
        for k in sorted(lm):
            if re.search(rule, k) and lm[k] != shape:
                raise UserError(f"{bad} weight {k} has shape {list(lm[k])}, config.json ({why}) says {list(shape)}. "
                                "The weights belong to another model, or config.json was edited: use the "
                                "config.json that came with these weights")


def check_base(base) -> None:
    """check_model_dir on each model directory of a resolved base (lm/ and full/ of an ablate base)."""
    dirs = [Path(base.lm_dir)]
    full = getattr(base, "full_dir", None)
    if full is not None and Path(full) != Path(base.lm_dir):
        dirs.append(Path(full))
    for d in dirs:
        check_model_dir(d, "base model")


def _adapter_shapes(adapter_dir: Path) -> dict[str, tuple[int, ...]]:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (adapter_dir / name).is_file():
            return _file_shapes(adapter_dir / name)
    raise UserError(f"{adapter_dir}: no adapter_model.safetensors (not a LoRA adapter directory)")


def _tail(module: str) -> str:
    """The part of a module path that all checkpoint namings share: from `layers.N` on, else the last name."""
    parts = module.split(".")
    return ".".join(parts[parts.index("layers"):]) if "layers" in parts else parts[-1]


def _base_weight(module: str, lm: dict) -> str | None:
    """The base weight key of the module an adapter key targets (exact name, else the same tail)."""
    if module + ".weight" in lm:
        return module + ".weight"
    tail = _tail(module) + ".weight"
    hits = sorted(k for k in lm if k == tail or k.endswith("." + tail))
    if not hits and tail == "lm_head.weight":  # tied embeddings: the head is the embedding matrix
        hits = sorted(k for k in lm if k.endswith("embed_tokens.weight"))
    return hits[0] if hits else None


def _tensor_problem(key: str, shape: tuple, lm: dict) -> str | None:
    m = _LORA.match(key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key)
    if not m:
        return None  # a DoRA magnitude, a bias: not a shape we can check against one weight
    module, kind = m.group("module") or m.group("module2"), m.group("kind") or m.group("kind2")
    w = _base_weight(module, lm)
    if w is None:
        mods = sorted({k.split(".")[-2] for k in lm if k.endswith(".weight") and "." in k and len(lm[k]) == 2})
        return f"tensor {key} targets module {module}, which the base does not have (its language model has: {', '.join(mods)})"
    ws = lm[w]
    want = {"lora_A": (1, ws[-1] if ws else None, "in_features"), "lora_B": (0, ws[0] if ws else None, "out_features"),
            "lora_embedding_A": (1, ws[0] if ws else None, "vocabulary"),
            "lora_embedding_B": (0, ws[-1] if ws else None, "embedding width")}[kind]
    dim, size, name = want
    if len(shape) != 2 or len(ws) != 2 or shape[dim] != size:
        return f"tensor {key} has shape {list(shape)}, but the base weight {w} is {list(ws)} ({name} {size})"
    return None


def _rank(key: str, shape: tuple) -> int:
    return shape[0] if ".lora_A" in key or "lora_embedding_A" in key else shape[1] if len(shape) == 2 else 0


def adapter_problem(adapter_dir: str | Path, base, max_rank: int | None = None, engine: str = "") -> str | None:
    """Why adapter_dir cannot be served on `base` (by an engine whose LoRA rank limit is max_rank), or None."""
    a = Path(adapter_dir)
    where = f"adapter {a} does not fit base {getattr(base, 'root', base)}"
    if not a.is_dir():
        return f"{a}: adapter directory not found"
    try:
        cfg = read_json_file(a / "adapter_config.json", f"{a}: not a LoRA adapter directory (no adapter_config.json)")
        shapes = _adapter_shapes(a)
        lm = _lm_only(weight_shapes(base.lm_dir))
    except UserError as e:
        return str(e)
    loras = {k: s for k, s in sorted(shapes.items()) if "lora_" in k}
    if not loras:
        return f"{a}: adapter_model holds no LoRA tensors (lora_A / lora_B)"
    for k, s in loras.items():
        why = _tensor_problem(k, s, lm)
        if why:
            return f"{where}: {why}. It was trained for another model: train it on this base, or evaluate it on its own base"
    targets = cfg.get("target_modules")
    modules = {k[:-len(".weight")] for k in lm if k.endswith(".weight")}
    for t in targets if isinstance(targets, list) else []:
        if not any(m == t or m.endswith("." + t) or _tail(m) == _tail(t) for m in modules):
            return f"{where}: adapter_config.json target_modules names {t!r}, which the base does not have"
    ranks = [_rank(k, s) for k, s in loras.items()]
    cfg_ranks = [cfg.get("r")] + list((cfg.get("rank_pattern") or {}).values())
    r = max([x for x in ranks + cfg_ranks if isinstance(x, int)], default=0)
    if max_rank is not None and r > max_rank:
        first = next((k for k, x in zip(loras, ranks) if x == r), "adapter_config.json `r`")
        return (f"adapter {a}: LoRA rank {r} ({first}) is above the {engine or 'engine'} engine's maximum LoRA rank "
                f"{max_rank} (base {getattr(base, 'root', base)}): retrain with lora_rank <= {max_rank}, or use the hf engine")
    return None


def check_adapter_fits(adapter_dir: str | Path, base, max_rank: int | None = None, engine: str = "") -> None:
    """adapter_problem as a UserError."""
    why = adapter_problem(adapter_dir, base, max_rank, engine)
    if why:
        raise UserError(why)


def adapter_problems(base, adapters: dict, max_rank: int | None = None, engine: str = "") -> dict[str, str]:
    """{variant id: problem} for every adapter (None = the base itself, always fine) that does not fit."""
    out = {}
    for vid, path in adapters.items():
        why = adapter_problem(path, base, max_rank, engine) if path is not None else None
        if why:
            out[vid] = why
    return out
