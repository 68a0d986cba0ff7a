"""vLLM backend: one `vllm.LLM` for the whole evaluation call, every variant's LoRA in it.

    from ablate.eval.engines import load_engine, Request
    engine = load_engine("vllm", lm_dir, adapters={"v1": adapter_dir}, prompt_embeds=True)
    gens = engine.generate([Request(prompt_ids=ids, adapter="v1"), Request(prompt_embeds=emb)])

Text prompts go in as token ids, video prompts as prompt embeddings (`enable_prompt_embeds`); each
request names its LoRA with a stable int id, so all variants share one engine start (~20 s on CPU)
and one continuous batch. Works unchanged on GPU vLLM (dtype "auto" there).

CPU specifics, each set only when the user has not set it:
- VLLM_ENABLE_V1_MULTIPROCESSING=0 runs the engine core in this process: no spawned child, so the
  caller needs no `if __name__ == "__main__"` guard and prompt-embedding tensors are not pickled.
- VLLM_CPU_KVCACHE_SPACE sized to the LM (ablate.eval.cpu_setup.kv_cache_gib); the preloads and
  thread binding of vLLM's CPU guide come from the process start (ablate.eval.cpu_setup).
- Prefix caching on, in blocks of PREFIX_BLOCK tokens (vLLM CPU's default block is 128 tokens, too
  coarse for prompts of 150-300 tokens that share 100-250); it works with prompt embeddings and per
  LoRA here. ABLATE_PREFIX_REUSE=0 turns it off. `stats` counts prompt tokens and prefix-cache hits.
vLLM inspects model classes in a fresh `python -m` subprocess, which cannot import the broken
CUDA torchvision that ablate hides (ablate.compat); where those libraries are hidden we run that
inspection in-process instead (it only guards against initialising CUDA, which a CPU build cannot).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ablate.eval.engines.base import Generation, Request, adapter_config, lora_ids

_MAX_RUNS = 32  # more runs of one adapter's rows than this in a LoRA op: group them by sorting
_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted max_lora_rank values
MAX_LORA_RANK = _RANKS[-1]  # checked before the engine starts (ablate.models.checks)
PREFIX_BLOCK = 32  # KV block (tokens) on CPU: prefix hits are whole blocks; the CPU backend wants multiples of 32


def prefix_reuse_enabled() -> bool:
    return os.environ.get("ABLATE_PREFIX_REUSE", "1") != "0"


def _prepare_env(lm_dir: Path) -> None:
    from ablate.eval.cpu_setup import kv_cache_gib

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib(lm_dir)))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    from ablate.compat import vllm_inspect_in_process

    vllm_inspect_in_process()


def _lora_into(x, w, runs, out, add: bool, scale: float = 1.0) -> None:
    """out[s:e] (+)= scale * x[s:e] @ w[i].T for each run (s, e, i) of rows that share adapter i
    (i -1: no LoRA, contributes 0).

    vLLM's CPU reference ops gather a [tokens, out, in] copy of the weights per layer and step and
    einsum it (80 % of a CPU evaluation's model time). The engine submits requests adapter by
    adapter, so a step's rows come in a few runs, and each run is one in-place GEMM on views."""
    w = w.squeeze(1) if w.dim() == 4 else w
    w, x = w.to(out.dtype), x.to(out.dtype)
    for s, e, i in runs:
        if i >= 0:
            out[s:e].addmm_(x[s:e], w[i].T, beta=1 if add else 0, alpha=scale)
        elif not add:
            out[s:e].zero_()


def _runs(idx) -> list[tuple[int, int, int]]:
    """(start, end, adapter) for each run of equal ids in a per-row adapter index."""
    import torch

    n = idx.shape[0]
    if n == 0:
        return []
    cuts = [0, *(torch.nonzero(idx[1:] != idx[:-1]).squeeze(1) + 1).tolist(), n]
    ids = idx[cuts[:-1]].tolist()
    return list(zip(cuts[:-1], cuts[1:], ids))


def _seq_runs(seq_len, seq_lora) -> list[tuple[int, int, int]]:
    """The same runs from prefill metadata (tokens per sequence, adapter per sequence)."""
    runs, s = [], 0
    for n, i in zip(seq_len.tolist(), seq_lora.tolist()):
        if runs and runs[-1][2] == i and runs[-1][1] == s:
            runs[-1] = (runs[-1][0], s + n, i)
        elif n:
            runs.append((s, s + n, i))
        s += n
    return runs


def _bgmv(x, w, out, idx, add, scale=1.0):
    import torch

    if x.shape[0] != out.shape[0]:  # vLLM's rule: a single row is broadcast, extra rows are cut
        w = (w.squeeze(1) if w.dim() == 4 else w).to(out.dtype)
        y = (torch.einsum("bi,boi->bo", x.to(out.dtype), w[idx]) * (idx >= 0)[:, None])[: out.shape[0]]
        if not add:
            out.zero_()
        out.add_(y, alpha=scale)
        return
    runs = _runs(idx)
    if len(runs) > _MAX_RUNS:  # adapters interleaved: sort the rows by adapter, compute, put back
        order = torch.argsort(idx, stable=True)
        part = out.new_empty(out.shape)
        _lora_into(x.index_select(0, order), w, _runs(idx[order]), part, False, scale)
        (out.index_add_ if add else out.index_copy_)(0, order, part)
    else:
        _lora_into(x, w, runs, out, add, scale)


def _sgmv(x, w, out, seq_len, seq_lora, add, scale=1.0):
    import torch

    runs = _seq_runs(seq_len, seq_lora)
    # the per-row path needs one row per scheduled token; the LoRA embedding of a batch that mixes prompt
    # embeddings and token ids passes only the token-id rows, so there the runs are clipped to x instead
    if len(runs) > _MAX_RUNS and int(seq_len.sum()) == x.shape[0]:
        _bgmv(x, w, out, torch.repeat_interleave(seq_lora, seq_len), add, scale)
    else:
        _lora_into(x, w, runs, out, add, scale)


def _bgmv_shrink(inputs, w, out, idx, scaling=1.0):
    _bgmv(inputs, w, out[:, : w.shape[-2]], idx, False, scaling)


def _bgmv_expand(inputs, w, out, idx, add_inputs=True):
    n = min(w.shape[-2], out.shape[1])  # adapter and model may pad differently
    _bgmv(inputs, w[..., :n, :], out[:, :n], idx, add_inputs)


def _bgmv_expand_slice(inputs, w, out, idx, offset, size, add_inputs=True):
    _bgmv(inputs, w, out[:, offset: offset + size], idx, add_inputs)


def _sgmv_shrink(inputs, w, out, _start, seq_len, seq_lora, _b, _m, _n, scaling):
    _sgmv(inputs, w, out[:, : w.shape[-2]], seq_len, seq_lora, False, scaling)


def _sgmv_expand(inputs, w, out, _start, seq_len, seq_lora, _b, _m, _n, add_inputs=False):
    n = min(w.shape[-2], out.shape[1])
    _sgmv(inputs, w[..., :n, :], out[:, :n], seq_len, seq_lora, add_inputs)


def _sgmv_expand_slice(inputs, w, out, _start, seq_len, seq_lora, _b, _m, _n, offset, size, add_inputs=False):
    _sgmv(inputs, w, out[:, offset: offset + size], seq_len, seq_lora, add_inputs)


def _use_grouped_cpu_lora_ops() -> None:
    """Swap vLLM's CPU punica ops for `_lora_into` (same semantics, one GEMM per run of an adapter's rows)."""
    import vllm.lora.punica_wrapper.punica_cpu as punica_cpu

    for name in ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice", "sgmv_shrink", "sgmv_expand", "sgmv_expand_slice"):
        setattr(punica_cpu, name, globals()[f"_{name}"])


def max_lora_rank(adapters: dict[str, Path | None]) -> int:
    ranks = [int(adapter_config(p).get("r", 8)) for p in adapters.values() if p is not None]
    need = max(ranks, default=8)
    if need > MAX_LORA_RANK:
        from ablate.core import UserError

        raise UserError(f"LoRA rank {need} is above vLLM's maximum LoRA rank {MAX_LORA_RANK}")
    return next(r for r in _RANKS if r >= need)


def zero_adapter(like: Path) -> Path:
    """An adapter with `like`'s config and all-zero weights (= the base model), cached by config."""
    import json

    from safetensors.numpy import load_file, save_file

    from ablate.core import atomic_dir, node_cache_root, stable_hash

    cfg = adapter_config(like)
    tensors = load_file(str(like / "adapter_model.safetensors"))
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    out = node_cache_root() / "eval" / "zero_lora" / stable_hash([cfg, shapes])
    if not out.exists():
        import numpy as np

        with atomic_dir(out) as tmp:
            save_file({k: np.zeros_like(v) for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors"))
            (tmp / "adapter_config.json").write_text(json.dumps(cfg))
    return out


class _FreeCpus:
    """Keeps torch's thread count at the CPUs that other processes leave free (at least one).

    libgomp threads spin at every barrier, so with 2 threads on 2 cores and one other busy process
    the evaluation ran 10x slower (607 s; 62 s with 1 thread; 39 s with 2 threads on an idle machine).
    `update()` runs before each engine step and, every `every_s` seconds, counts the CPUs that other
    processes kept busy (/proc/stat busy time minus this process's CPU time). Off where /proc/stat's
    CPUs are not exactly the ones this process may use (containers with a CPU subset or quota)."""

    def __init__(self, every_s: float = 2.0):
        import torch

        from ablate.eval.cpu_setup import allowed_cpus

        self.torch, self.every_s = torch, every_s
        self.max = torch.get_num_threads()
        self.ncpu = os.cpu_count() or 1
        try:
            with open("/proc/stat") as f:
                cpus = sum(line.startswith("cpu") for line in f) - 1
            # allowed_cpus: the process's CPUs before OpenMP binding pinned this thread to one
            self.enabled = self.max > 1 and cpus == self.ncpu == len(allowed_cpus())
            self.last = self._sample()
        except (OSError, AttributeError, ValueError):
            self.enabled = False

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        t = os.times()
        return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), t.user + t.system, time.monotonic()

    def update(self) -> None:
        if not self.enabled or time.monotonic() - self.last[2] < self.every_s:
            return
        now = self._sample()
        busy, mine, wall = (a - b for a, b in zip(now, self.last))
        self.last = now
        n = max(1, min(self.max, self.ncpu - round((busy - mine) / max(wall, 1e-3))))
        if n != self.torch.get_num_threads():
            self.torch._C.set_num_threads(n)  # vLLM's CPU worker turns torch.set_num_threads into a no-op


class VLLMEngine:
    name = "vllm"

    def __init__(self, lm_dir: Path, adapters: dict[str, Path | None], prompt_embeds: bool = True,
                 max_model_len: int | None = None, device: str | None = None, limit_mm_per_prompt: dict | None = None,
                 llm_kwargs: dict | None = None, prefix_reuse: bool | None = None):
        _prepare_env(lm_dir)
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
        self.prefix_reuse = prefix_reuse_enabled() if prefix_reuse is None else prefix_reuse
        self.stats = {"prompt_tokens": 0, "cached_tokens": 0}  # prefill tokens asked / served by the prefix cache
        kwargs = dict(model=str(lm_dir), dtype="float32" if cpu else "auto", seed=0,
                      enable_prompt_embeds=prompt_embeds, disable_log_stats=True,
                      enable_prefix_caching=self.prefix_reuse)
        if cpu:  # many sequences per step (per-step overhead), but steps of 16k tokens stay in cache:
            # 2880 requests on the tiny base took 22-26 s with 16384 tokens a step, 31 s with 65536
            kwargs.update(max_num_seqs=1024, max_num_batched_tokens=16384)
            if self.prefix_reuse:
                kwargs["block_size"] = PREFIX_BLOCK
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if limit_mm_per_prompt:  # a whole VLM with native video input (ablate.models, GPU)
            kwargs["limit_mm_per_prompt"] = limit_mm_per_prompt
        kwargs.update(llm_kwargs or {})  # e.g. benchmarks/gpu_check.py: enforce_eager, gpu_memory_utilization
        if self._lora:
            if cpu:
                _use_grouped_cpu_lora_ops()
            kwargs.update(enable_lora=True, max_loras=len(self._lora) + 1, max_lora_rank=max_lora_rank(adapters))
        self.llm = LLM(**kwargs)
        if cpu:
            free, step = _FreeCpus(), self.llm.llm_engine.step

            def step_on_free_cpus():
                free.update()
                return step()

            self.llm.llm_engine.step = step_on_free_cpus
        self._tok = self.llm.get_tokenizer()
        self._eos = self._tok.eos_token_id

    def generate(self, requests: list[Request]) -> list[Generation]:
        from vllm import SamplingParams as VSP

        if not requests:
            return []
        # adapter by adapter (stable): a prefill step then mostly holds one LoRA, one GEMM per layer
        order = sorted(range(len(requests)), key=lambda i: requests[i].adapter or "")
        prompts, loras, params, vsp = [], [], [], {}
        for r in (requests[i] for i in order):
            if r.adapter is not None and r.adapter not in self._lora:
                raise KeyError(f"adapter {r.adapter!r} was not loaded into this engine")
            if r.mm is not None:  # ablate.models native video: templated text + frames
                prompts.append({"prompt": r.mm["prompt"], "multi_modal_data": {"video": r.mm["video"]}})
            else:
                prompts.append({"prompt_token_ids": list(r.prompt_ids)} if r.prompt_ids is not None
                               else {"prompt_embeds": r.prompt_embeds})
            loras.append(self._lora[r.adapter] if r.adapter else (self._base if self._lora else None))
            s = r.sampling
            if s not in vsp:
                vsp[s] = VSP(max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed)
            params.append(vsp[s])
        t0 = time.perf_counter()
        outs = self.llm.generate(prompts, params, lora_request=loras if self._lora else None, use_tqdm=False)
        share = (time.perf_counter() - t0) / len(requests)
        gens: list[Generation] = [None] * len(requests)  # type: ignore[list-item]
        for o, i in zip(outs, order):
            r = requests[i]
            self.stats["prompt_tokens"] += r.prompt_len
            self.stats["cached_tokens"] += o.num_cached_tokens or 0
            toks = tuple(o.outputs[0].token_ids)
            if toks and toks[-1] == self._eos:  # count like HF: the stop token is not part of the answer
                toks = toks[:-1]
            # decode the ids ourselves: vLLM's incremental detokenizer holds back a trailing partial
            # UTF-8 character, so its text can differ from the HF backend's for the same tokens
            gens[i] = Generation(text=self._tok.decode(list(toks), skip_special_tokens=True), token_ids=toks,
                                 prompt_tokens=r.prompt_len, gen_tokens=len(toks), latency_s=share)
        return gens

    def close(self) -> None:
        import gc

        del self.llm
        gc.collect()


def create(lm_dir: Path, adapters: dict[str, Path | None], **options) -> VLLMEngine:
    return VLLMEngine(lm_dir, adapters, **options)
