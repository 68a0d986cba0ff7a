"""GPU check of the model-family layer: no download, <= 8 minutes on one GPU.

    python benchmarks/gpu_check.py                         # every family, ~1B-shaped LMs (GPU)
    python benchmarks/gpu_check.py --layers 28             # Qwen2-1.5B-shaped LMs (width 1536, MLP 8960, 28 layers)
    python benchmarks/gpu_check.py --families qwen2_vl --steps 300
    python benchmarks/gpu_check.py --tiny                  # the same code paths at test size (CPU, ~3 min)

Per family (Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT-Video, LLaVA-OneVision) it
1. builds a random-weight checkpoint of the real architecture (tests/fixtures_models.build_family:
   LM width 1536, vocab 32k-152k, a 4-layer vision tower at real frame sizes), saved in bf16;
2. checks ablate's numpy video preprocessing against the checkpoint's real transformers video
   processor (AutoVideoProcessor; needs torchvision, present on GPU boxes): identical grid / shapes,
   max |difference| of the pixel values (PIL vs torchvision bicubic: small, not zero);
3. trains a T3-shaped text LoRA with `ablate train` for --steps steps (samples/s, peak GPU memory);
4. evaluates --items video + text requests on the base and the adapter with the HF engine
   (batched, set_adapter), then with vLLM where installed (native video + LoRARequest; without LoRA
   for LLaVA-OneVision, which vLLM serves without LoRA), and prints items/s and the greedy agreement.
Weights are random, so accuracy means nothing; agreement between engines and speed do. Results are
printed as a table and written to --out (JSON). Not run in CI: there is no GPU there.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import ablate  # noqa: E402,F401 - hides broken media libraries before transformers loads

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "llava_next_video", "llava_onevision")
# realistic frame sizes: Qwen2-VL 336x336 (12x12 merged tokens per 2 frames), CLIP 336 / SigLIP 384
IMAGE = {"qwen2_vl": 336, "qwen2_5_vl": 336, "llava_next_video": 336, "llava_onevision": 384}
VOCAB = {"qwen2_vl": 151936, "qwen2_5_vl": 151936, "llava_next_video": 32064, "llava_onevision": 151936}


def _gpu_mem_gib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def _reset_mem() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def check_preprocessing(d: Path, fam, frames) -> dict:
    """Ours vs the checkpoint's transformers video processor (skipped where torchvision cannot load)."""
    import numpy as np

    from ablate.compat import broken_media_libs
    from ablate.models.frames import processor_config

    if "torchvision" in broken_media_libs():
        return {"preprocess": "skipped (torchvision cannot load here)"}
    from transformers import AutoVideoProcessor

    ours = fam.module().preprocess(frames, processor_config(d))
    proc = AutoVideoProcessor.from_pretrained(d)
    kw = {"do_sample_frames": False, "return_tensors": "np"}
    if fam.name == "qwen2_vl":
        kw["cap_pixels_per_frame"] = False  # transformers 5.19's current default; ours matches it
    theirs = proc(videos=[frames], **kw)
    out = {}
    for k, v in ours.items():
        t = np.asarray(theirs[k])
        if t.shape != v.shape:
            return {"preprocess": f"FAIL {k}: shape {v.shape} vs processor {t.shape}"}
        if v.dtype.kind == "f":
            out[f"{k}_max_abs_diff"] = float(np.abs(t.astype(np.float32) - v).max())
        elif not np.array_equal(t, v):
            return {"preprocess": f"FAIL {k}: {v.tolist()} vs processor {t.tolist()}"}
    out["preprocess"] = "ok" if all(x < 0.1 for x in out.values()) else "DIFF (see max_abs_diff)"
    return out


def train(d: Path, work: Path, steps: int, batch: int) -> tuple[Path, dict]:
    from ablate.train.stage import TrainOptions, train_adapter
    from fixtures_train import write_pool

    pool = write_pool(work / "pool" / "train.parquet", steps * batch).parent
    _reset_mem()
    t0 = time.perf_counter()
    opts = TrainOptions(batch_size=batch, max_steps=steps, learning_rate=1e-4, lora_rank=16, lora_alpha=32,
                        max_length=512)
    m = train_adapter(str(d), pool, work / "adapter", n=steps * batch, options=opts, show_progress=False)
    wall = time.perf_counter() - t0
    train_s = float(m.get("train_seconds") or wall)
    return work / "adapter", {"train_steps": steps, "train_samples_per_s": round(steps * batch / train_s, 1),
                              "train_wall_s": round(wall, 1), "train_gpu_gib": round(_gpu_mem_gib(), 1)}


def requests(server, items: int, seed: int = 0) -> list:
    import numpy as np

    from ablate.eval.engines import Request, SamplingParams
    from ablate.models.chat import video_prompt_ids, video_prompt_text

    rng = np.random.default_rng(seed)
    sp = SamplingParams(max_tokens=16)
    side = IMAGE.get(server.family.name, 336)
    out = []
    for i in range(items):
        lane = (None, "t3")[i % 2]
        q = f"Question {i}: which object appears first? (A) the red circle (B) the blue square"
        out.append(Request(prompt_ids=tuple(server.text_ids(q)), adapter=lane, sampling=sp))
        frames = rng.integers(0, 255, (8, side, side, 3), dtype=np.uint8)
        if server.route == "vllm-native":
            out.append(Request(prompt_ids=tuple(server.text_ids(q)), adapter=lane, sampling=sp,
                               mm={"prompt": video_prompt_text(server.tok, q), **server.impl.vllm_video(frames)}))
        else:
            arrays = server.impl.preprocess(frames, server.pp)
            ids = video_prompt_ids(server.tok, server.family, q, server.impl.video_tokens(arrays, server.config))
            out.append(Request(prompt_ids=tuple(ids), mm=arrays, adapter=lane, sampling=sp))
    return out


def evaluate(d: Path, fam, adapter: Path, items: int, tiny: bool) -> dict:
    import importlib.util

    from ablate.base import resolve_base
    from ablate.eval.vlm import VideoServer

    base = resolve_base(str(d))
    res: dict = {}
    outs = {}
    routes = ["hf"]
    if importlib.util.find_spec("vllm") is not None:
        routes.append("vllm-embeds" if tiny and fam.positions == "1d" else ("vllm-native" if not tiny else None))
    for route in [r for r in routes if r]:
        use_lora = route != "vllm-native" or fam.vllm_lora
        srv = VideoServer(base, fam, "hf", frames=8, has_adapters=True)
        srv.route = route
        reqs = requests(srv, items)
        if not use_lora:
            reqs = [type(r)(prompt_ids=r.prompt_ids, mm=r.mm, adapter=None, sampling=r.sampling) for r in reqs]
        if route == "vllm-embeds":
            from ablate.eval.engines import Request

            reqs = [Request(prompt_embeds=srv.embeds(list(r.prompt_ids), r.mm), adapter=r.adapter, sampling=r.sampling)
                    if r.mm is not None else r for r in reqs]
        _reset_mem()
        adapters = {"base": None, "t3": adapter} if use_lora else {"base": None}
        t0 = time.perf_counter()
        try:
            if route == "vllm-native":
                from ablate.eval.engines.vllm_engine import VLLMEngine

                eng = VLLMEngine(d, adapters, prompt_embeds=False, limit_mm_per_prompt={"video": 1}, max_model_len=8192,
                                 llm_kwargs={"enforce_eager": True, "gpu_memory_utilization": 0.25})
            else:
                eng = srv.engine(adapters)
            start_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            gens = eng.generate(reqs)
            gen_s = time.perf_counter() - t1
            eng.close()
        except Exception as e:  # noqa: BLE001 - report and go on with the next engine
            res[f"{route}_error"] = f"{type(e).__name__}: {str(e)[:300]}"
            continue
        finally:
            _reset_mem()
        outs[route] = (reqs, [g.token_ids for g in gens])
        res[f"{route}_items_per_s"] = round(len(reqs) / gen_s, 2)
        res[f"{route}_start_s"] = round(start_s, 1)
        res[f"{route}_distinct_replies"] = len({g for g in outs[route][1]})
    if "hf" in outs and len(outs) > 1:
        other = next(k for k in outs if k != "hf")
        hf_reqs, hf = outs["hf"]
        o_reqs, o = outs[other]
        pairs = [(a, b) for ra, a, rb, b in zip(hf_reqs, hf, o_reqs, o) if ra.adapter == rb.adapter]
        res[f"agree_hf_{other}"] = f"{sum(a == b for a, b in pairs)}/{len(pairs)}"
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--layers", type=int, default=16, help="LM layers at width 1536 (28 = Qwen2-1.5B's shape)")
    ap.add_argument("--width", type=int, default=1536)
    ap.add_argument("--steps", type=int, default=200, help="LoRA steps per family")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--items", type=int, default=24, help="video + text request pairs per engine")
    ap.add_argument("--budget-s", type=float, default=450, help="skip families not started by then (the 8-minute limit)")
    ap.add_argument("--tiny", action="store_true", help="test-sized models on CPU: checks the code paths, not speed")
    ap.add_argument("--work", default=None, help="where checkpoints and adapters go (default: a temp dir)")
    ap.add_argument("--out", default="gpu_check.json")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from ablate.models import detect_dir
    from fixtures_models import build_family

    if not args.tiny and not torch.cuda.is_available():
        print("no GPU visible: run with --tiny to check the code paths on CPU", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="ablate-gpu-check-"))
    results = {}
    t_all = time.perf_counter()
    for name in args.families.split(","):
        if time.perf_counter() - t_all > args.budget_s:
            results[name] = {"family": name, "skipped": f"time budget of {args.budget_s:.0f} s spent"}
            print(json.dumps({name: results[name]}), flush=True)
            continue
        t0 = time.perf_counter()
        d = work / name
        size = dict(width=128, layers=2, vision_width=32, vision_layers=1) if args.tiny else dict(
            width=args.width, layers=args.layers, vision_width=1024, vision_layers=4, image=IMAGE[name],
            vocab=VOCAB[name], scale=1.0, dtype="bfloat16")
        if not (d / "config.json").exists():
            build_family(name, d, **size)
        fam = detect_dir(d)
        r: dict = {"family": fam.name, "build_s": round(time.perf_counter() - t0, 1)}
        n_params = sum(int(np.prod(s)) for s in _shapes(d).values())
        r["params_M"] = round(n_params / 1e6)
        side = IMAGE[name] if not args.tiny else 48
        frames = np.random.default_rng(1).integers(0, 255, (8, side + 24, side + 40, 3), dtype=np.uint8)
        r.update(check_preprocessing(d, fam, frames))
        adapter, tr = train(d, work / f"{name}-run", args.steps if not args.tiny else min(args.steps, 4), args.batch)
        r.update(tr)
        r.update(evaluate(d, fam, adapter, args.items if not args.tiny else min(args.items, 6), args.tiny))
        r["total_s"] = round(time.perf_counter() - t0, 1)
        results[name] = r
        print(json.dumps({name: r}), flush=True)
    results["_meta"] = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)",
                        "total_s": round(time.perf_counter() - t_all, 1), "tiny": args.tiny, "layers": args.layers,
                        "width": args.width}
    Path(args.out).write_text(json.dumps(results, indent=2))
    _print_table(results)
    return 0


def _shapes(d: Path) -> dict:
    from safetensors import safe_open

    out = {}
    for f in d.glob("*.safetensors"):
        with safe_open(str(f), framework="np") as h:
            for k in h.keys():
                out[k] = h.get_slice(k).get_shape()
    return out


def _print_table(results: dict) -> None:
    cols = ["skipped", "params_M", "preprocess", "train_samples_per_s", "train_gpu_gib", "hf_items_per_s", "vllm-native_items_per_s",
            "vllm-embeds_items_per_s", "agree_hf_vllm-native", "agree_hf_vllm-embeds", "total_s"]
    print("\n" + " | ".join(["family", *cols]))
    for name, r in results.items():
        if not name.startswith("_"):
            print(" | ".join([name, *(str(r.get(c, "-")) for c in cols)]))
    print(f"\n{results['_meta']}")
    errors = {n: {k: v for k, v in r.items() if k.endswith("_error")} for n, r in results.items() if not n.startswith("_")}
    for n, e in errors.items():
        for k, v in e.items():
            print(f"{n}: {k}: {v}")


if __name__ == "__main__":
    sys.exit(main())
