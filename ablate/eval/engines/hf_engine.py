"""transformers + PEFT backend: the parity reference and the fallback where vLLM is absent.

    from ablate.eval.engines import load_engine, Request
    engine = load_engine("hf", lm_dir, adapters={"v1": adapter_dir})
    gens = engine.generate([Request(prompt_ids=ids, adapter="v1")])

All adapters are loaded once into one PeftModel and switched in place (`set_adapter`); requests
for the base model run with the adapters disabled. Requests are run one at a time, greedy, so the
output is exactly the model's argmax chain (no padding effects) and comparable to vLLM's.
"""

from __future__ import annotations

import time
from pathlib import Path

from ablate.eval.engines.base import Generation, Request


class HFEngine:
    name = "hf"

    def __init__(self, lm_dir: Path, adapters: dict[str, Path | None], device: str = "cpu", **_ignored):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device
        self.tok = AutoTokenizer.from_pretrained(lm_dir)
        model = AutoModelForCausalLM.from_pretrained(lm_dir, dtype=torch.float32).to(device).eval()
        self.names = sorted(k for k, v in adapters.items() if v is not None)
        if self.names:
            from peft import PeftModel

            first = self.names[0]
            model = PeftModel.from_pretrained(model, str(adapters[first]), adapter_name=first)
            for k in self.names[1:]:
                model.load_adapter(str(adapters[k]), adapter_name=k)
            model.eval()
        self.model = model

    def _one(self, r: Request) -> tuple[list[int], float]:
        torch = self.torch
        s = r.sampling
        kw = dict(max_new_tokens=s.max_tokens, do_sample=s.temperature > 0,
                  pad_token_id=self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id)
        if s.temperature > 0:
            kw.update(temperature=s.temperature, top_p=s.top_p)
            torch.manual_seed(s.seed)
        t0 = time.perf_counter()
        with torch.no_grad():
            if r.prompt_ids is not None:
                ids = torch.tensor([list(r.prompt_ids)], device=self.device)
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)[0, ids.shape[1]:]
            else:
                emb = r.prompt_embeds.to(self.device, torch.float32)[None]
                mask = torch.ones(emb.shape[:2], dtype=torch.long, device=self.device)
                out = self.model.generate(inputs_embeds=emb, attention_mask=mask, **kw)[0]
        toks = out.tolist()
        eos = self.tok.eos_token_id
        if eos in toks:  # vLLM does not report the stop token either
            toks = toks[: toks.index(eos)]
        return toks, time.perf_counter() - t0

    def generate(self, requests: list[Request]) -> list[Generation]:
        out = []
        for r in requests:
            if r.adapter is None:
                if self.names:
                    with self.model.disable_adapter():
                        toks, dt = self._one(r)
                else:
                    toks, dt = self._one(r)
            else:
                if r.adapter not in self.names:
                    raise KeyError(f"adapter {r.adapter!r} was not loaded into this engine")
                self.model.set_adapter(r.adapter)
                toks, dt = self._one(r)
            out.append(Generation(text=self.tok.decode(toks, skip_special_tokens=True), token_ids=tuple(toks),
                                  prompt_tokens=r.prompt_len, gen_tokens=len(toks), latency_s=dt))
        return out

    def close(self) -> None:
        del self.model


def create(lm_dir: Path, adapters: dict[str, Path | None], **options) -> HFEngine:
    return HFEngine(lm_dir, adapters, **options)
