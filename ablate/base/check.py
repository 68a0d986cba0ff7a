"""Parity of the serving split: HF `full/` greedy answers vs frames -> FrameEncoder -> vLLM prompt_embeds.

    from ablate.base import resolve_base
    from ablate.base.check import bench_items, parity
    base = resolve_base("smol")
    report = parity(base, bench_items(100))       # {"agree": 0.99, "n": 100, "mismatches": [...]}

Both sides get the same chat prompt (one `<image>` per frame, TempCompass suffix) and greedy decode up
to `max_tokens`. The HF side goes through the saved LlavaProcessor (pixel preprocessing and placeholder
expansion as a real LLaVA checkpoint would); the vLLM side runs `lm/` in a subprocess
(ablate.base.vllm_worker) on embeddings from ablate.base.embed.FrameEncoder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ablate.base.prompts import chat_text, video_user_text
from ablate.core import UserError

SUFFIX = {"multi-choice": "\nPlease directly give the best option:", "caption_matching": "\nPlease directly give the best option:",
          "yes_no": "\nPlease answer yes or no:"}


def bench_items(n: int = 100, frames: int = 8, world: str | Path | None = None, seed: int = 0,
                layout: str = "frame_k") -> list[tuple[str, np.ndarray]]:
    """(user text, frames) for n world-bench video questions, spread over the three task files."""
    import random

    from ablate.base.video import read_frames

    if world is None:
        from ablate.world import default_world

        world = default_world()
    bench = Path(world) / "bench"
    pool = []
    for task in ("multi-choice", "yes_no", "caption_matching"):
        f = bench / "questions" / f"{task}.json"
        if not f.exists():
            raise UserError(f"{f}: world bench question file missing")
        for vid, aspects in sorted(json.loads(f.read_text()).items()):
            for aspect, qs in sorted(aspects.items()):
                pool += [(task, vid, q["question"]) for q in qs]
    random.Random(seed).shuffle(pool)
    return [(video_user_text(frames, q + SUFFIX[task], layout), read_frames(bench / "videos" / f"{vid}.mp4", frames))
            for task, vid, q in pool[:n]]


def hf_answers(base, items, max_tokens: int = 32) -> list[str]:
    """Greedy replies of the HF LlavaForConditionalGeneration in full/, one prompt at a time."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(base.full_dir, dtype=torch.float32).eval()
    proc = AutoProcessor.from_pretrained(base.full_dir)
    tok = proc.tokenizer
    out = []
    for user, frames in items:
        enc = proc(text=[chat_text(tok, user)], images=list(frames), return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(**enc, do_sample=False, max_new_tokens=max_tokens,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        out.append(tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


def vllm_answers(base, items, max_tokens: int = 32, timeout: int = 900) -> list[str]:
    """Greedy replies of vLLM serving lm/ from FrameEncoder prompt embeddings (in a subprocess)."""
    import torch

    from ablate.base.embed import FrameEncoder

    enc = FrameEncoder(base)
    embeds = [enc.prompt_embeds(enc.encode(frames), user).contiguous() for user, frames in items]
    with tempfile.TemporaryDirectory(prefix="ablate-parity-") as tmp:
        torch.save(embeds, Path(tmp) / "embeds.pt")
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
        r = subprocess.run([sys.executable, "-m", "ablate.base.vllm_worker", str(base.lm_dir), str(Path(tmp) / "embeds.pt"),
                            str(Path(tmp) / "out.json"), str(max_tokens)], capture_output=True, text=True, env=env, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"vLLM worker failed (exit {r.returncode}):\n{r.stderr[-4000:]}")
        return json.loads((Path(tmp) / "out.json").read_text())


def parity(base, items, max_tokens: int = 32) -> dict:
    """Fraction of items where HF and vLLM greedy replies are identical (after strip)."""
    hf = hf_answers(base, items, max_tokens)
    vl = vllm_answers(base, items, max_tokens)
    same = [a.strip() == b.strip() for a, b in zip(hf, vl)]
    mism = [{"prompt": items[i][0][-200:], "hf": hf[i], "vllm": vl[i]} for i, ok in enumerate(same) if not ok]
    return {"agree": float(np.mean(same)) if same else 0.0, "n": len(same), "n_agree": int(sum(same)),
            "mismatches": mism[:10], "examples": [{"hf": a, "vllm": b} for a, b in list(zip(hf, vl))[:3]]}
