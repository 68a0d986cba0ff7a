"""Speed of the evaluation stage against the two usual ways of evaluating many LoRA variants.

    .venv/bin/python benchmarks/bench_eval.py --base micro --variants 8 --text-items 300 --video-items 300
    ablate bench eval -- --base tiny

Three ways, same items, same greedy settings, printed side by side:
  (a) this stage: `ablate.eval.stage.evaluate` with the vLLM engine: one engine start, every adapter
      as a LoRA in it, visual features computed once per video (cold caches: a fresh ABLATE_CACHE);
  (b) per variant: transformers generate with the adapter merged into the LM, item by item, frames
      decoded and encoded for every item (what a plain HF eval loop does);
  (c) per variant: one vLLM engine with the merged adapter (what lmms-eval requires), visual
      embeddings computed inside each variant's run.
Targets on a 2-core CPU: (a) >= 10x faster than (b) and >= 3x faster than (c).
The baselines' cost is the same for every variant, so `--baseline-variants k` measures them on k
variants and scales to all (the table says so); use k = --variants to measure everything.
Data: a small world (ablate.world) for world-video and a T3 probe synthesized from its captions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def random_lora(lm_dir: Path, out: Path, seed: int, rank: int = 8) -> Path:
    """A LoRA with random non-zero weights: speed does not depend on what the adapter learned."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(lm_dir, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if "lora_" in n:
                p.normal_(0, 0.02)
    peft.save_pretrained(out)
    return out


def prepare(args, work: Path):
    import t3
    from ablate.base import resolve_base
    from ablate.eval.benchmarks import BenchSpec
    from ablate.world import build_world

    base = resolve_base(args.base)
    world = Path(args.world) if args.world else work / "world"
    if not args.world:
        build_world(world, images=200, videos=args.videos, show=False)
    probe = Path(args.probe) if args.probe else work / "t3"
    if not args.probe:
        t3.synthesize(world / "captions" / "captions.json", probe, t3.SynthSpec(n=8, probe_n=args.text_items, seed=0))
    adapters = {f"v{i}": random_lora(Path(base.lm_dir), work / "adapters" / f"v{i}", seed=i) for i in range(args.variants)}
    specs = [BenchSpec("t3-probe", probe, {"limit": args.text_items}),
             BenchSpec("world-video", world / "bench", {"limit": args.video_items, "tasks": ["multi-choice"]})]
    return base, adapters, specs


def way_a(base, adapters, specs, frames, max_tokens, work: Path) -> float:
    from ablate.eval.stage import evaluate

    os.environ["ABLATE_CACHE"] = str(work / "cache_a")  # cold: no generations, frames or features cached
    t0 = time.perf_counter()
    evaluate(base, adapters, specs, work / "out_a", engine="vllm", frames=frames, max_tokens=max_tokens, show_progress=False)
    return time.perf_counter() - t0


def _items(specs, frames):
    from transformers import AutoTokenizer  # noqa: F401  (ablate imported first by the caller)

    from ablate.eval.benchmarks import load_items
    from ablate.eval.video import resolve_video

    out = []
    for s in specs:
        for it in load_items(s):
            path = resolve_video(it.root, it.video) if it.modality == "video" else None
            out.append((it, path))
    return out


def _video_embeds(enc, path, item, frames):
    from ablate.base.prompts import video_user_text
    from ablate.base.embed import resize_frames
    from ablate.eval.video import decode_frames

    arr = resize_frames(decode_frames(path, frames), enc.frame_size)
    return enc.prompt_embeds(enc.encode(arr), video_user_text(frames, item.prompt))


def way_b(base, adapters, items, frames, max_tokens, k: int) -> float:
    """Per-variant HF generate, adapter merged; every item processed from scratch."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ablate.base.embed import FrameEncoder
    from ablate.base.prompts import chat_token_ids

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(base.lm_dir)
    enc = FrameEncoder(base)
    for v in list(adapters)[:k]:
        lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32)
        model = PeftModel.from_pretrained(lm, str(adapters[v])).merge_and_unload().eval()
        for it, path in items:
            kw = dict(max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            with torch.no_grad():
                if path is None:
                    ids = torch.tensor([chat_token_ids(tok, it.prompt)])
                    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
                else:
                    emb = _video_embeds(enc, path, it, frames)[None]
                    model.generate(inputs_embeds=emb, attention_mask=torch.ones(emb.shape[:2], dtype=torch.long), **kw)
    return time.perf_counter() - t0


def way_c(base, adapters, items, frames, max_tokens, k: int, work: Path) -> float:
    """One vLLM engine per variant with the merged adapter; visual embeddings computed per run."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ablate.base.embed import FrameEncoder
    from ablate.base.prompts import chat_token_ids
    from ablate.eval.engines import Request, SamplingParams, load_engine

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(base.lm_dir)
    sp = SamplingParams(max_tokens=max_tokens)
    for v in list(adapters)[:k]:
        merged = work / "merged" / v
        lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32)
        PeftModel.from_pretrained(lm, str(adapters[v])).merge_and_unload().save_pretrained(merged)
        tok.save_pretrained(merged)
        enc = FrameEncoder(base)
        reqs = []
        for it, path in items:
            if path is None:
                reqs.append(Request(prompt_ids=tuple(chat_token_ids(tok, it.prompt)), sampling=sp))
            else:
                reqs.append(Request(prompt_embeds=_video_embeds(enc, path, it, frames), sampling=sp))
        engine = load_engine("vllm", merged, {}, prompt_embeds=True)
        engine.generate(reqs)
        engine.close()
        shutil.rmtree(merged)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    import ablate  # noqa: F401  (before transformers/peft: hides the broken media libraries)
    from rich.table import Table

    from ablate.ui import console

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="tiny")
    ap.add_argument("--variants", type=int, default=8)
    ap.add_argument("--text-items", type=int, default=300)
    ap.add_argument("--video-items", type=int, default=300)
    ap.add_argument("--videos", type=int, default=300, help="videos in the generated world (one multiple-choice item each)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--baseline-variants", type=int, default=2, help="variants the baselines are measured on")
    ap.add_argument("--skip", default="", help="comma list of ways to skip: b,c")
    ap.add_argument("--world", default=None, help="an existing world dir (else a small one is built)")
    ap.add_argument("--probe", default=None, help="an existing synth output dir with probe.parquet")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    try:
        base, adapters, specs = prepare(args, work)
        items = _items(specs, args.frames)
        n_text = sum(p is None for _, p in items)
        console.print(f"{len(adapters)} variants x ({n_text} text + {len(items) - n_text} video items), "
                      f"{args.frames} frames, max_tokens {args.max_tokens}, base {args.base}")
        n = len(adapters)
        k = min(args.baseline_variants, n)
        res = {"a": way_a(base, adapters, specs, args.frames, args.max_tokens, work)}
        if "b" not in args.skip:
            res["b"] = way_b(base, adapters, items, args.frames, args.max_tokens, k) * n / k
        if "c" not in args.skip:
            res["c"] = way_c(base, adapters, items, args.frames, args.max_tokens, k, work) * n / k
        total = n * len(items)
        t = Table("way", "what", "wall s", "requests/s", "(a) speed-up", "target")
        names = {"a": "this stage: one vLLM engine, all LoRAs, cached visual features",
                 "b": f"per-variant HF generate, merged adapter (measured on {k}, scaled to {n})",
                 "c": f"one vLLM engine per variant, merged adapter (measured on {k}, scaled to {n})"}
        targets = {"a": "", "b": ">= 10x", "c": ">= 3x"}
        for w, s in res.items():
            t.add_row(w, names[w], f"{s:.1f}", f"{total / s:.1f}", "" if w == "a" else f"{s / res['a']:.1f}x", targets[w])
        console.print(t)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
