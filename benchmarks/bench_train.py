"""Training throughput of `ablate train`: padded batches vs padding-free vs packing, side by side.

    .venv/bin/python benchmarks/bench_train.py                       # tiny base + default T3 data
    .venv/bin/python benchmarks/bench_train.py --n 2048 --batch-size 64 --modes padded,packed
    .venv/bin/python benchmarks/bench_train.py --base PATH --data DIR_OR_PARQUET
    .venv/bin/python benchmarks/bench_train.py --parity    # CPU compact loss == TRL's fused loss (loss, grads)

Modes: padded (random batches), grouped (padded, similar lengths batched), padding_free, packed
(bfd packing into max_length rows; batch_size scaled by 256/max_length rows). Each mode trains one adapter with ablate.train.train_adapter (same data, options, seed) into a temp
dir and reports the training loop's samples/s and tokens/s (data preparation excluded; printed
separately), the final loss and the ratio to the padded run. Target (issue 5): >= 1,000 samples/s.

Data: `--data` if given; else `t3.synthesize` on the default world's captions when both exist;
else a stand-in pool written by t3.layout with world-like captions (marked "stand-in" in the output).
Base: `--base` (default `tiny` from the cache; if it is not built yet, a random-init LM of the tiny
shape: Qwen2, hidden 128, 2 layers, MLP 512, head_dim 64, BPE vocab 2048).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import ablate  # noqa: F401 - before transformers

ROOT = Path(__file__).resolve().parents[1]

SHAPES = "circle square triangle star hexagon diamond cross heart".split()
COLORS = "red blue green yellow purple orange white black".split()
SIZES = "small medium large".split()
POS = "top left|top right|bottom left|bottom right|center|top|bottom|left side|right side".split("|")


def _caption(rng: random.Random) -> str:
    return (f"A {rng.choice(SIZES)} {rng.choice(COLORS)} {rng.choice(SHAPES)} is at the {rng.choice(POS)} "
            f"of the frame{rng.choice(['', ' in dim light', ' in bright light'])}.")


def standin_pool(out: Path, n: int, frames: int = 4, seed: int = 0) -> Path:
    """T3-shaped rows built with the project's prompt layout (used only when synthesis is absent)."""
    import polars as pl
    from t3.layout import answer_text, text_video_prompt

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        caps = [_caption(rng) for _ in range(frames)]
        opts = [", ".join(rng.sample(SHAPES, 3)) for _ in range(4)]
        letter = rng.choice("ABCD")
        prompt = text_video_prompt(caps, "In what order do the shapes appear?", opts)
        rows.append({"id": f"b{i}", "task": ["order", "attribute", "referring", "grounding"][i % 4],
                     "messages": [{"role": "user", "content": prompt},
                                  {"role": "assistant", "content": answer_text(opts, letter)}]})
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(out / "train.parquet")
    return out


def standin_base(out: Path, pool: Path) -> Path:
    """A random-init LM of the tiny base's shape with a BPE tokenizer trained on the pool."""
    import polars as pl
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    pool = pool if pool.suffix == ".parquet" else pool / "train.parquet"
    texts = [m["content"] for ms in pl.read_parquet(pool)["messages"].to_list() for m in ms]
    specials = ["<pad>", "<|im_start|>", "<|im_end|>", "<image>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2048, special_tokens=specials,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<|im_end|>")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.save_pretrained(out)
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=2048, hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    return out


def default_data(work: Path, n: int) -> tuple[Path, str]:
    """Default T3 data (t3.synthesize defaults, 4 frames) on the embedded world's captions."""
    try:
        import t3
        from ablate.world import default_world

        captions = default_world() / "captions" / "captions.json"
        t3.synthesize(captions, work / "t3", t3.SynthSpec(n=n, probe_n=64, seed=0))
        return work / "t3", "t3.synthesize defaults (4 frames) on the default world's captions"
    except (ImportError, AttributeError) as e:
        print(f"(synthesis not available: {type(e).__name__}: {e}; using the stand-in pool)", file=sys.stderr)
        return standin_pool(work / "t3", n), "stand-in pool (t3.layout, 4 captions/sample)"


def tiny_base(work: Path, data: Path):
    """The built tiny base if it is in the cache; else a random-init LM of its shape."""
    try:
        from ablate.base import resolve_base

        return resolve_base("tiny", build=False), "tiny (built, from the cache)"
    except Exception as e:  # noqa: BLE001 - absent module or not built: fall back, and say so
        print(f"(tiny base unavailable: {e}; using a random-init LM of the same shape)", file=sys.stderr)
        return standin_base(work / "lm", data), "stand-in tiny-shaped LM (Qwen2 128x2, MLP 512, BPE 2048)"


def parity(base, data, n: int = 64, batch_size: int = 16) -> bool:
    """ablate's CPU compact loss vs TRL's own SFTTrainer.compute_loss on one batch: loss and LoRA grads."""
    import torch
    from trl import SFTTrainer

    from ablate.train import TrainOptions
    from ablate.train.data import select_examples
    from ablate.train.loop import make_trainer

    sel = select_examples(data, n)
    ok = True
    for pf in (False, True):
        opts = TrainOptions(batch_size=batch_size, max_length=1024, epochs=1.0, padding_free=pf)
        tr, _ = make_trainer(Path(str(getattr(base, "lm_dir", base))), sel.examples, opts,
                             Path(tempfile.mkdtemp(prefix="bench-parity-")), "cpu", "fp32")
        batch = next(iter(tr.get_train_dataloader()))
        model = tr.model.train()
        out = {}
        for name, fn in (("trl", lambda b, k: SFTTrainer.compute_loss(tr, model, b, num_items_in_batch=k)),
                         ("ablate", lambda b, k: tr.compute_loss(model, b, num_items_in_batch=k))):
            for k in (None, torch.tensor(777)):
                model.zero_grad()
                loss = fn(dict(batch), k)
                loss.backward()
                grads = torch.cat([q.grad.flatten() for q in model.parameters() if q.requires_grad])
                out[name, k is None] = (loss.item(), grads)
        for k in (True, False):
            (l1, g1), (l2, g2) = out["trl", k], out["ablate", k]
            dl, dg = abs(l1 - l2), (g1 - g2).abs().max().item()
            good = dl <= 1e-5 * max(1.0, abs(l1)) and dg <= 1e-5 * max(1e-3, g1.abs().max().item())
            ok &= good
            print(f"parity padding_free={pf} num_items={'none' if k else 777}: loss {l1:.6f} vs {l2:.6f} "
                  f"(diff {dl:.1e}), grad max diff {dg:.1e} of max {g1.abs().max().item():.1e}: "
                  f"{'ok' if good else 'MISMATCH'}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="tiny")
    ap.add_argument("--data", default=None)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--modes", default="padded,grouped,padding_free,packed")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--parity", action="store_true", help="only check the CPU loss against TRL's (one batch)")
    args = ap.parse_args(argv)

    import torch

    from ablate.train import TrainOptions, train_adapter

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    data, data_desc = (Path(args.data), "--data") if args.data else default_data(work, args.n)
    base, base_desc = tiny_base(work, data) if args.base == "tiny" else (args.base, args.base)
    if args.parity:
        return 0 if parity(base, data) else 1
    print(f"base: {base_desc}\ndata: {data_desc}, n={args.n}, batch {args.batch_size}, grad_accum 1, "
          f"max_length {args.max_length}, precision {args.precision}, torch threads {torch.get_num_threads()}")
    results = []
    for mode in args.modes.split(","):
        # a packed row holds ~max_length/avg tokens examples: fewer rows per batch keep samples/step alike
        bs = max(1, args.batch_size * 256 // args.max_length) if mode == "packed" else args.batch_size
        opts = TrainOptions(batch_size=bs, max_length=args.max_length, epochs=1.0, group_by_length=mode == "grouped",
                            packing=mode == "packed", padding_free=mode == "padding_free", precision=args.precision)
        t0 = time.perf_counter()
        m = train_adapter(base, data, work / f"adapter-{mode}", n=args.n, options=opts, show_progress=False)
        wall = time.perf_counter() - t0
        results.append((mode, m, wall))
        print(f"  {mode}: {m['samples_per_s']:.0f} samples/s, {m['tokens_per_s']:.0f} tokens/s ({wall:.0f} s wall)", flush=True)
    ref = results[0][1]["samples_per_s"]
    print(f"\n{'mode':<14}{'samples/s':>11}{'tokens/s':>11}{'steps':>7}{'loop s':>8}{'wall s':>8}{'final loss':>12}{'vs ' + results[0][0]:>12}")
    for mode, m, wall in results:
        print(f"{mode:<14}{m['samples_per_s']:>11.0f}{m['tokens_per_s']:>11.0f}{m['steps']:>7}{m['train_seconds']:>8.1f}"
              f"{wall:>8.1f}{m['final_loss']:>12.4f}{m['samples_per_s'] / ref:>11.2f}x")
    best = max(results, key=lambda r: r[1]["samples_per_s"])
    print(f"\ntarget >= 1000 samples/s: best {best[0]} {best[1]['samples_per_s']:.0f}/s "
          f"({'met' if best[1]['samples_per_s'] >= 1000 else 'NOT met'}); "
          f"tokens/sample {results[0][1]['train_tokens'] / results[0][1]['samples']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
