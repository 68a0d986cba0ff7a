"""Speed of the evaluation stage against the two usual ways of evaluating many LoRA variants.

    .venv/bin/python benchmarks/bench_eval.py --base smol --variants 8 --text-items 300 --video-items 300
    .venv/bin/python benchmarks/bench_eval.py --base micro --variants 2 --text-items 8 --video-items 8 \
        --world-text-items 16 --baseline-variants 1 --videos 8        # CI-sized: checks it works
    .venv/bin/python benchmarks/bench_eval.py --base /path/to/hf_lm_dir ...   # an LM alone: text items only
    ablate bench eval -- --base smol

Three ways, same items, same greedy settings, printed side by side:
  (a) this stage: `ablate.eval.stage.evaluate` with the vLLM engine: one engine start, every adapter
      as a LoRA in it, visual features computed once per video, shared prefixes computed once
      (cold caches: a fresh ABLATE_CACHE);
  (b) per variant: transformers generate with the adapter merged into the LM, item by item, frames
      decoded and encoded for every item (what a plain HF eval loop does);
  (c) per variant: one vLLM engine with the merged adapter (what lmms-eval requires), visual
      embeddings computed inside each variant's run.
Then: tokens/s of (a) and the share of this CPU's measured GEMM rate it reaches (torch.matmul at the
LM's linear shapes, fp32 as the CPU engine runs and bf16, measured here), and the world-text prefill
tokens computed with and without shared-prefix reuse (vLLM's own per-request cached-token counts).
Targets (issue #25): (a) >= 5x faster than (b) and >= 3x faster than (c); prefill computed -50%.
The baselines' cost is the same for every variant, so `--baseline-variants k` measures them on k
variants and scales to all (the table says so); use k = --variants to measure everything.
Data: a small world (ablate.world) for world-video / world-text and a T3 probe synthesized from its
captions. Timings need an idle machine: other processes on the CPUs change every figure.
Writes every figure to --json (default bench_eval.json).
"""

from __future__ import annotations

import argparse
import json
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
    specs = [BenchSpec("t3-probe", probe, {"limit": args.text_items})]
    if base.kind == "lm":  # an LM alone has no vision tower: text items only
        print(f"note: {args.base} is an LM without a vision tower: no world-video items")
    elif args.video_items:
        specs.append(BenchSpec("world-video", world / "bench", {"limit": args.video_items, "tasks": ["multi-choice"]}))
    wt = BenchSpec("world-text", world / "bench", {"limit": args.world_text_items}) if args.world_text_items else None
    return base, adapters, specs, wt


def way_a(base, adapters, specs, frames, max_tokens, work: Path, tag: str = "a") -> tuple[float, dict]:
    """The shipped stage, cold caches; returns (wall s, token counts from its predictions and engine)."""
    import polars as pl

    from ablate.eval.stage import evaluate

    os.environ["ABLATE_NODE_CACHE"] = str(work / f"cache_{tag}")  # cold: no generations, frames or features cached
    t0 = time.perf_counter()
    out = evaluate(base, adapters, specs, work / f"out_{tag}", engine="vllm", frames=frames, max_tokens=max_tokens,
                   show_progress=False)
    wall = time.perf_counter() - t0
    preds = pl.read_parquet(out / "predictions.parquet")
    stats = json.loads((out / "eval.json").read_text())["engine_stats"] or {}
    return wall, {"requests": preds.height, "prompt_tokens": int(preds["prompt_tokens"].fill_null(0).sum()),
                  "gen_tokens": int(preds["gen_tokens"].fill_null(0).sum()),
                  "cached_tokens": int(stats.get("cached_tokens", 0)), "accuracy": float(preds["correct"].fill_null(False).mean())}


def prefix_check(base, adapters, spec, max_tokens, work: Path) -> dict:
    """World-text through the stage with shared-prefix reuse off and on: prefill tokens computed."""
    out = {}
    for reuse in ("0", "1"):
        os.environ["ABLATE_PREFIX_REUSE"] = reuse
        wall, t = way_a(base, adapters, [spec], 8, max_tokens, work, tag=f"prefix{reuse}")
        out["on" if reuse == "1" else "off"] = {**t, "wall_s": wall, "computed": t["prompt_tokens"] - t["cached_tokens"]}
    os.environ.pop("ABLATE_PREFIX_REUSE")
    out["drop"] = 1 - out["on"]["computed"] / max(out["off"]["computed"], 1)
    return out


def lm_linear_shapes(lm_dir: Path) -> tuple[list[tuple[int, int]], int, int]:
    """(in, out) of one decoder layer's linear maps, the layer count, and the vocab (LM head), from config.json."""
    cfg = json.loads((Path(lm_dir) / "config.json").read_text())
    cfg = cfg.get("text_config", cfg)
    h, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    hd = int(cfg.get("head_dim") or h // heads)
    kv = int(cfg.get("num_key_value_heads") or heads)
    inter = int(cfg["intermediate_size"])
    layer = [(h, heads * hd), (h, kv * hd), (h, kv * hd), (heads * hd, h), (h, inter), (h, inter), (inter, h)]
    return layer, int(cfg["num_hidden_layers"]), int(cfg["vocab_size"])


def gemm_rate(lm_dir: Path, dtype: str, tokens: int = 1024, seconds: float = 1.0) -> float:
    """FLOP/s of torch.matmul on this CPU at one decoder layer's shapes, `tokens` rows a step."""
    import torch

    layer, _, _ = lm_linear_shapes(lm_dir)
    dt = getattr(torch, dtype)
    xs = {k: torch.randn(tokens, k, dtype=dt) for k, _ in layer}
    ws = [torch.randn(n, k, dtype=dt) for k, n in layer]
    flops = 2 * tokens * sum(k * n for k, n in layer)
    for w in ws:  # warm-up
        torch.matmul(xs[w.shape[1]], w.T)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for w in ws:
            torch.matmul(xs[w.shape[1]], w.T)
        n += 1
    return n * flops / (time.perf_counter() - t0)


def flops_per_token(lm_dir: Path) -> int:
    """Linear-layer FLOPs of one token through the decoder (attention scores and the LM head left out)."""
    layer, layers, _ = lm_linear_shapes(lm_dir)
    return 2 * layers * sum(k * n for k, n in layer)


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
    """Frames decoded (the disk frame cache of this run's cold node cache: decoded once per video,
    which only helps the baselines), encoded, and laid out into prompt embeddings, per item."""
    from ablate.base.prompts import video_user_text
    from ablate.eval.video import load_frames

    arr = load_frames(path, frames, enc.frame_size)
    return enc.prompt_embeds(enc.encode(arr), video_user_text(frames, item.prompt))


def way_b(base, adapters, items, frames, max_tokens, k: int, work: Path) -> float:
    """Per-variant HF generate, adapter merged; every item processed from scratch."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ablate.base.embed import FrameEncoder
    from ablate.base.prompts import chat_token_ids

    os.environ["ABLATE_NODE_CACHE"] = str(work / "cache_b")  # cold frame cache
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(base.lm_dir)
    enc = FrameEncoder(base) if any(p is not None for _, p in items) else None  # an LM alone: text only
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
    os.environ["ABLATE_NODE_CACHE"] = str(work / "cache_c")  # cold frame cache
    for v in list(adapters)[:k]:
        merged = work / "merged" / v
        lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32)
        PeftModel.from_pretrained(lm, str(adapters[v])).merge_and_unload().save_pretrained(merged)
        tok.save_pretrained(merged)
        enc = FrameEncoder(base) if any(p is not None for _, p in items) else None
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
    from ablate.eval.cpu_setup import relaunch_with_cpu_setup

    relaunch_with_cpu_setup()  # vLLM's CPU preloads and thread binding, as `ablate eval` gets them
    import ablate  # noqa: F401  (before transformers/peft: hides the broken media libraries)
    from rich.table import Table

    from ablate.base.precision import describe_cpu
    from ablate.eval.cpu_setup import describe
    from ablate.ui import console

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="smol", help="smol, micro (CI), or a base / HF LM directory")
    ap.add_argument("--variants", type=int, default=8)
    ap.add_argument("--text-items", type=int, default=300)
    ap.add_argument("--video-items", type=int, default=300)
    ap.add_argument("--world-text-items", type=int, default=300, help="world-text items of the prefix-reuse check (0: skip it)")
    ap.add_argument("--videos", type=int, default=300, help="videos in the generated world (one multiple-choice item each)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--baseline-variants", type=int, default=2, help="variants the baselines are measured on")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: b,c,roofline")
    ap.add_argument("--world", default=None, help="an existing world dir (else a small one is built)")
    ap.add_argument("--probe", default=None, help="an existing synth output dir with probe.parquet")
    ap.add_argument("--json", default="bench_eval.json", help="where to write every figure")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    cpu = describe_cpu()
    result: dict = {"cpu": cpu["cpu"], "torch_capability": cpu["torch_capability"], "args": vars(args),
                    "cpu_setup": [list(r) for r in describe()], "preloaded": os.environ.get("LD_PRELOAD", "")}
    try:
        base, adapters, specs, wt = prepare(args, work)
        items = _items(specs, args.frames)
        n_text = sum(p is None for _, p in items)
        console.print(f"CPU: {cpu['cpu']} ({os.cpu_count()} CPUs, torch kernels {cpu['torch_capability']}); "
                      f"LD_PRELOAD={result['preloaded'] or '-'}", highlight=False)
        console.print(f"{len(adapters)} variants x ({n_text} text + {len(items) - n_text} video items), "
                      f"{args.frames} frames, max_tokens {args.max_tokens}, base {args.base}", highlight=False)
        n = len(adapters)
        k = min(args.baseline_variants, n)
        wall_a, tok = way_a(base, adapters, specs, args.frames, args.max_tokens, work)
        res = {"a": wall_a}
        skip = set(args.skip.split(","))
        if "b" not in skip:
            res["b"] = way_b(base, adapters, items, args.frames, args.max_tokens, k, work) * n / k
        if "c" not in skip:
            res["c"] = way_c(base, adapters, items, args.frames, args.max_tokens, k, work) * n / k
        total = n * len(items)
        t = Table("way", "what", "wall s", "requests/s", "(a) speed-up", "target", title="evaluation speed")
        names = {"a": "this stage: one vLLM engine, all LoRAs, cached visual features, shared prefixes",
                 "b": f"per-variant HF generate, merged adapter (measured on {k}, scaled to {n})",
                 "c": f"one vLLM engine per variant, merged adapter (measured on {k}, scaled to {n})"}
        targets = {"a": "", "b": ">= 5x", "c": ">= 3x"}
        for w, sec in res.items():
            t.add_row(w, names[w], f"{sec:.1f}", f"{total / sec:.1f}", "" if w == "a" else f"{sec / res['a']:.1f}x", targets[w])
        console.print(t)
        result.update(variants=n, items=len(items), text_items=n_text, baseline_variants=k, wall_s=res,
                      speedup={w: res[w] / res["a"] for w in res if w != "a"}, a_tokens=tok)
        tokens = tok["prompt_tokens"] + tok["gen_tokens"]
        computed = tokens - tok["cached_tokens"]
        console.print(f"(a) tokens/s: {tokens / wall_a:.0f} (prompt + generated, {tokens} tokens in {wall_a:.1f} s "
                      f"end to end, engine start and visual features included); computed (prefix-cache hits "
                      f"excluded): {computed / wall_a:.0f}/s", highlight=False)
        result["a_tokens_per_s"] = tokens / wall_a
        if "roofline" not in skip:
            fpt = flops_per_token(Path(base.lm_dir))
            achieved = computed * fpt / wall_a
            roof = {d: gemm_rate(Path(base.lm_dir), d) for d in ("float32", "bfloat16")}
            for d, r in roof.items():
                console.print(f"roofline: torch.matmul {d} at the LM's layer shapes (1024 rows): {r / 1e9:.1f} GFLOP/s; "
                              f"(a) reached {achieved / 1e9:.2f} GFLOP/s of linear-layer work = {100 * achieved / r:.1f}% of it"
                              + (" (the CPU engine runs fp32)" if d == "float32" else ""), highlight=False)
            result["roofline"] = {"flops_per_token": fpt, "achieved_flops": achieved, "gemm_flops": roof,
                                  "share": {d: achieved / r for d, r in roof.items()}}
        if wt is not None:
            pc = prefix_check(base, adapters, wt, args.max_tokens, work)
            console.print(f"world-text prefill tokens computed: {pc['off']['computed']} without reuse, "
                          f"{pc['on']['computed']} with reuse ({100 * pc['drop']:.1f}% fewer; target >= 50%); "
                          f"accuracy {100 * pc['off']['accuracy']:.1f} / {100 * pc['on']['accuracy']:.1f}; "
                          f"wall {pc['off']['wall_s']:.1f} / {pc['on']['wall_s']:.1f} s", highlight=False)
            result["prefix_reuse"] = pc
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        console.print(f"wrote {args.json}", highlight=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
