"""The HF engine for whole VLM checkpoints: batched greedy generate, every adapter in one PeftModel.

    from ablate.eval.engines.hf_vlm import VLMEngine
    eng = VLMEngine(vlm_dir, {"base": None, "t3": adapter_dir}, family)
    gens = eng.generate([Request(prompt_ids=ids, mm=arrays, adapter="t3"), Request(prompt_ids=text_ids)])

Requests carry token ids (video placeholders already expanded) and, for video, the family's
preprocessed arrays (`mm`). They are grouped by adapter (switched with PEFT `set_adapter`, base
requests run under `disable_adapter()`; nothing is reloaded) and by modality, left-padded into
batches of `batch_size`, and generated greedily; the family adds its extra inputs (Qwen2-VL's
`mm_token_type_ids` for M-RoPE). This is the reference route, and the CPU route for M-RoPE models.
"""

from __future__ import annotations

import time
from pathlib import Path

from ablate.eval.engines.base import Generation, Request


class VLMEngine:
    name = "hf"

    def __init__(self, model_dir: Path, adapters: dict[str, Path | None], family, device: str | None = None,
                 batch_size: int = 8, model=None, **_ignored):
        import torch
        from transformers import AutoModelForImageTextToText, AutoTokenizer

        self.torch, self.family, self.batch_size = torch, family, batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        if model is None:
            model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=self.dtype)
        model = model.to(self.device).eval()
        self.config = model.config
        self.impl = family.module()
        self.names = sorted(k for k, v in adapters.items() if v is not None)
        if self.names:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapters[self.names[0]]), adapter_name=self.names[0])
            for k in self.names[1:]:
                model.load_adapter(str(adapters[k]), adapter_name=k)
            model.eval()
        self.model = model
        gc = getattr(model, "generation_config", None)
        eos = getattr(gc, "eos_token_id", None) if gc is not None else None
        self.eos = set(eos if isinstance(eos, list) else [eos]) - {None}
        if self.tok.eos_token_id is not None:
            self.eos.add(self.tok.eos_token_id)
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else min(self.eos)

    def _batch(self, reqs: list[Request]) -> tuple[list[list[int]], float]:
        torch = self.torch
        s = reqs[0].sampling
        n = max(len(r.prompt_ids) for r in reqs)
        ids = torch.full((len(reqs), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(reqs), n), dtype=torch.long)
        for i, r in enumerate(reqs):  # left padding: every prompt ends where generation starts
            ids[i, n - len(r.prompt_ids):] = torch.tensor(r.prompt_ids)
            mask[i, n - len(r.prompt_ids):] = 1
        kw = dict(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), max_new_tokens=s.max_tokens,
                  do_sample=s.temperature > 0, pad_token_id=self.pad)
        if s.temperature > 0:
            kw.update(temperature=s.temperature, top_p=s.top_p)
            torch.manual_seed(s.seed)
        if reqs[0].mm is not None:
            arrays = self.impl.collate([r.mm for r in reqs])
            for k, v in arrays.items():
                t = torch.from_numpy(v).to(self.device)
                kw[k] = t.to(self.dtype) if t.is_floating_point() else t
            kw.update({k: v.to(self.device) for k, v in self.impl.extra_inputs(ids, self.config).items()})
        t0 = time.perf_counter()
        with torch.no_grad():
            out = self.model.generate(**kw)[:, n:].tolist()
        toks = []
        for row in out:
            cut = next((j for j, t in enumerate(row) if t in self.eos), len(row))
            toks.append(row[:cut])
        return toks, time.perf_counter() - t0

    def generate(self, requests: list[Request]) -> list[Generation]:
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            if r.adapter is not None and r.adapter not in self.names:
                raise KeyError(f"adapter {r.adapter!r} was not loaded into this engine")
            groups.setdefault((r.adapter or "", r.mm is not None, r.sampling), []).append(i)
        out: list[Generation] = [None] * len(requests)  # type: ignore[list-item]
        for (adapter, _video, _s), idx in groups.items():
            for start in range(0, len(idx), self.batch_size):
                part = idx[start:start + self.batch_size]
                reqs = [requests[i] for i in part]
                if adapter:
                    self.model.set_adapter(adapter)
                    toks, dt = self._batch(reqs)
                elif self.names:
                    with self.model.disable_adapter():
                        toks, dt = self._batch(reqs)
                else:
                    toks, dt = self._batch(reqs)
                for i, r, t in zip(part, reqs, toks):
                    out[i] = Generation(text=self.tok.decode(t, skip_special_tokens=True), token_ids=tuple(t),
                                        prompt_tokens=len(r.prompt_ids), gen_tokens=len(t), latency_s=dt / len(part))
        return out

    def close(self) -> None:
        del self.model
