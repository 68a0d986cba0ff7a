"""vLLM backend: one `vllm.LLM` for the whole evaluation call, every variant's LoRA in it.

    from ablate.engines import load_engine, Request
    engine = load_engine("vllm", lm_dir, adapters={"v1": adapter_dir}, prompt_embeds=True)
    gens = engine.generate([Request(prompt_ids=ids, adapter="v1"), Request(prompt_embeds=emb)])

Text prompts go in as token ids, video prompts as prompt embeddings (`enable_prompt_embeds`); each
request names its LoRA with a stable int id, so all variants share one engine start (~20 s on CPU)
and one continuous batch. Works unchanged on GPU vLLM (dtype "auto" there).

Two CPU specifics, both set only when the user has not set them:
- VLLM_ENABLE_V1_MULTIPROCESSING=0 runs the engine core in this process: no spawned child, so the
  caller needs no `if __name__ == "__main__"` guard and prompt-embedding tensors are not pickled.
- VLLM_CPU_KVCACHE_SPACE=1 (GiB): the default would reserve far more memory than a tiny LM needs.
vLLM inspects model classes in a fresh `python -m` subprocess, which cannot import the broken
CUDA torchvision that ablate hides (ablate.compat); where those libraries are hidden we run that
inspection in-process instead (it only guards against initialising CUDA, which a CPU build cannot).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ablate.engines.base import Generation, Request, adapter_config, lora_ids

_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted max_lora_rank values


def _prepare_env() -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    from ablate.compat import broken_media_libs

    if broken_media_libs():
        import vllm.model_executor.models.registry as registry

        registry._run_in_subprocess = lambda fn: fn()


def _lora_mm(x, w, idx):
    """Rows of x times their own LoRA matrix: y[t] = x[t] @ w[idx[t]].T, one matmul per adapter
    present (idx -1 = no LoRA = 0). vLLM's CPU reference ops gather a [tokens, out, in] copy of the
    weights and einsum it, which was 80 % of a CPU evaluation's model time."""
    import torch

    w = w.squeeze(1) if w.dim() == 4 else w
    x = x.to(w.dtype)
    y = x.new_zeros(x.shape[0], w.shape[1])
    for i in torch.unique(idx).tolist():
        if i >= 0:
            rows = (idx == i).nonzero().squeeze(1)
            y.index_copy_(0, rows, x.index_select(0, rows) @ w[i].T)
    return y


def _bgmv_shrink(inputs, w, out, idx, scaling=1.0):
    y = _lora_mm(inputs, w.to(out.dtype), idx)
    out[:, : y.shape[1]] = scaling * y


def _bgmv_expand(inputs, w, out, idx, add_inputs=True):
    y = _lora_mm(inputs, w.to(out.dtype), idx)
    limit = 1 if y.shape[0] == 1 and out.shape[0] != 1 else out.shape[0]
    n = min(y.shape[1], out.shape[1])  # adapter and model may pad differently
    if add_inputs:
        out[:, :n] += y[:limit, :n]
    else:
        out[:, :n] = y[:limit, :n]


def _bgmv_expand_slice(inputs, w, out, idx, offset, size, add_inputs=True):
    y = _lora_mm(inputs, w.to(out.dtype), idx)
    if add_inputs:
        out[:, offset: offset + size] += y
    else:
        out[:, offset: offset + size] = y


def _sgmv_shrink(inputs, w, out, _start, seq_len, seq_lora, _b, _m, _n, scaling):
    _bgmv_shrink(inputs, w, out, _per_token(seq_lora, seq_len), scaling)


def _sgmv_expand(inputs, w, out, _start, seq_len, seq_lora, _b, _m, _n, add_inputs=False):
    _bgmv_expand(inputs, w, out, _per_token(seq_lora, seq_len), add_inputs)


def _sgmv_expand_slice(inputs, w, out, _start, seq_len, seq_lora, _b, _m, _n, offset, size, add_inputs=False):
    _bgmv_expand_slice(inputs, w, out, _per_token(seq_lora, seq_len), offset, size, add_inputs)


def _per_token(seq_lora, seq_len):
    import torch

    return torch.repeat_interleave(seq_lora, seq_len)


def _use_grouped_cpu_lora_ops() -> None:
    """Swap vLLM's CPU punica ops (per-token weight gather + einsum) for `_lora_mm`: same result,
    one small GEMM per adapter instead of a [tokens, out, in] weight copy per layer and step."""
    import vllm.lora.punica_wrapper.punica_cpu as punica_cpu

    for name in ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice", "sgmv_shrink", "sgmv_expand", "sgmv_expand_slice"):
        setattr(punica_cpu, name, globals()[f"_{name}"])


def max_lora_rank(adapters: dict[str, Path | None]) -> int:
    ranks = [int(adapter_config(p).get("r", 8)) for p in adapters.values() if p is not None]
    need = max(ranks, default=8)
    return next(r for r in _RANKS if r >= need)


def zero_adapter(like: Path) -> Path:
    """An adapter with `like`'s config and all-zero weights (= the base model), cached by config."""
    import json

    from safetensors.numpy import load_file, save_file

    from ablate.core import atomic_dir, cache_root, stable_hash

    cfg = adapter_config(like)
    tensors = load_file(str(like / "adapter_model.safetensors"))
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    out = cache_root() / "eval" / "zero_lora" / stable_hash([cfg, shapes])
    if not out.exists():
        import numpy as np

        with atomic_dir(out) as tmp:
            save_file({k: np.zeros_like(v) for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors"))
            (tmp / "adapter_config.json").write_text(json.dumps(cfg))
    return out


class VLLMEngine:
    name = "vllm"

    def __init__(self, lm_dir: Path, adapters: dict[str, Path | None], prompt_embeds: bool = True,
                 max_model_len: int | None = None, device: str | None = None):
        _prepare_env()
        import torch
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        self.adapters = adapters
        ids = lora_ids(adapters)
        self._lora = {k: LoRARequest(k, ids[k], str(Path(adapters[k]).resolve())) for k in ids}
        if self._lora:
            # vLLM CPU 0.32 applies a neighbour's LoRA to a no-LoRA request batched with LoRA ones;
            # an all-zero adapter for the base model keeps every lane explicit (and exact).
            first = adapters[sorted(ids)[0]]
            self._base = LoRARequest("__base__", len(ids) + 1, str(zero_adapter(Path(first))))
        cpu = not torch.cuda.is_available()
        kwargs = dict(model=str(lm_dir), dtype="float32" if cpu else "auto", seed=0,
                      enable_prompt_embeds=prompt_embeds, disable_log_stats=True)
        if cpu:  # a tiny LM makes per-step overhead dominate: bigger steps measured 1.7x faster (38 -> 66 req/s)
            kwargs.update(max_num_seqs=1024, max_num_batched_tokens=65536)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if self._lora:
            if cpu:
                _use_grouped_cpu_lora_ops()
            kwargs.update(enable_lora=True, max_loras=len(self._lora) + 1, max_lora_rank=max_lora_rank(adapters))
        self.llm = LLM(**kwargs)
        self._tok = self.llm.get_tokenizer()
        self._eos = self._tok.eos_token_id

    def generate(self, requests: list[Request]) -> list[Generation]:
        from vllm import SamplingParams as VSP

        if not requests:
            return []
        prompts, loras, params = [], [], []
        for r in requests:
            if r.adapter is not None and r.adapter not in self._lora:
                raise KeyError(f"adapter {r.adapter!r} was not loaded into this engine")
            prompts.append({"prompt_token_ids": list(r.prompt_ids)} if r.prompt_ids is not None
                           else {"prompt_embeds": r.prompt_embeds})
            loras.append(self._lora[r.adapter] if r.adapter else (self._base if self._lora else None))
            s = r.sampling
            params.append(VSP(max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed))
        t0 = time.perf_counter()
        outs = self.llm.generate(prompts, params, lora_request=loras if self._lora else None, use_tqdm=False)
        share = (time.perf_counter() - t0) / len(requests)
        gens = []
        for o, r in zip(outs, requests):
            toks = tuple(o.outputs[0].token_ids)
            if toks and toks[-1] == self._eos:  # count like HF: the stop token is not part of the answer
                toks = toks[:-1]
            # decode the ids ourselves: vLLM's incremental detokenizer holds back a trailing partial
            # UTF-8 character, so its text can differ from the HF backend's for the same tokens
            gens.append(Generation(text=self._tok.decode(list(toks), skip_special_tokens=True), token_ids=toks, prompt_tokens=r.prompt_len,
                                   gen_tokens=len(toks), latency_s=share))
        return gens

    def close(self) -> None:
        import gc

        del self.llm
        gc.collect()


def create(lm_dir: Path, adapters: dict[str, Path | None], **options) -> VLLMEngine:
    return VLLMEngine(lm_dir, adapters, **options)
