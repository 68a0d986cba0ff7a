"""Training throughput: the shipped loop (`ablate train`: TRL SFTTrainer + PEFT) against a plain torch + PEFT
loop, at the same shape, side by side, with the ratio (target: >= 3x).

    .venv/bin/python benchmarks/bench_train.py --lm DIR --data DIR            # 20 steps of 8 rows each
    .venv/bin/python benchmarks/bench_train.py --lm DIR --data DIR --steps 5  # a quick check
    .venv/bin/python benchmarks/bench_train.py --lm DIR --captions captions.json   # synthesizes T3 first
    .venv/bin/python benchmarks/bench_train.py --parity    # CPU compact loss == TRL's fused loss (loss, grads)

The plain loop is the one of ../shared/experiments/smollm2_t3_probe.py (the issue-23 baseline): fp32 weights,
bf16 autocast (or fp32), LoRA r16 / alpha 32 on q,k,v,o,gate,up,down of every layer, AdamW, batch 8 in pool
order, each batch padded to its longest row, loss from the model's own head over every position. The
shipped rows train the same rows (steps x batch), LoRA targets, rank, learning rate and precision with
ablate.train.train_adapter, adding one lever per row:
    shipped            TrainOptions at that shape (random order, padded batches, LM head on answer tokens only)
    + grouped          group_by_length: batches of similar lengths, fewer pad tokens
    + top-N layers     lora_layers = N: LoRA on the top N decoder layers; the backward pass stops below them
Each figure is the training loop alone (model loading and tokenization excluded for the shipped rows, as
TRL tokenizes before the loop; the plain loop tokenizes inside, as the script does: a few ms per step).
`--compile` adds the plain loop under torch.compile (measured once: research/train_speed.md).

--lm: an HF causal-LM dir (e.g. SmolLM2-135M-Instruct converted by ablate.base); default: the embedded base's
lm/ from the cache. --data: a synthesis dir (train.parquet); else --captions is synthesized with t3.
Shared or busy cores make every figure noisy: compare ratios from one run, on an idle machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import ablate  # noqa: F401 - before transformers

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def plain_loop(lm_dir: Path, rows: list[dict], batch: int, precision: str, lr: float, rank: int,
               compile_model: bool = False) -> dict:
    """The baseline: smollm2_t3_probe.py's training loop over `rows` (dicts with `messages`); samples/s."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(lm_dir)
    m = AutoModelForCausalLM.from_pretrained(lm_dir, dtype=torch.float32)
    m = get_peft_model(m, LoraConfig(r=rank, lora_alpha=2 * rank, task_type="CAUSAL_LM", target_modules=list(TARGETS)))
    if compile_model:
        m = torch.compile(m)
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else (
        lambda: torch.autocast("cpu", enabled=False))
    end = tok.eos_token or "<|im_end|>"
    chat = lambda user: tok.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True,
                                                tokenize=False)
    pairs_all = [(chat(r["messages"][0]["content"]), r["messages"][1]["content"] + end) for r in rows]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr)
    m.train()
    t, ntok, loss = time.perf_counter(), 0, None
    for i in range(0, len(pairs_all), batch):
        pairs = [(tok.encode(p, add_special_tokens=False), tok.encode(c, add_special_tokens=False))
                 for p, c in pairs_all[i:i + batch]]
        L = max(len(p) + len(c) for p, c in pairs)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.full((len(pairs), L), pad)
        labels, att = torch.full_like(ids, -100), torch.zeros_like(ids)
        for j, (p, c) in enumerate(pairs):
            ids[j, :len(p) + len(c)] = torch.tensor(p + c)
            att[j, :len(p) + len(c)] = 1
            labels[j, len(p):len(p) + len(c)] = torch.tensor(c)
        ntok += int(att.sum())
        with ac():
            loss = m(input_ids=ids, attention_mask=att, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    dt = time.perf_counter() - t
    return {"samples_per_s": len(rows) / dt, "tokens_per_s": ntok / dt, "seconds": dt, "final_loss": float(loss.detach())}


def shipped(lm_dir: Path, data: Path, n: int, batch: int, precision: str, lr: float, rank: int, work: Path,
            **levers) -> dict:
    """ablate.train.train_adapter at the plain loop's shape, with `levers` (TrainOptions fields) on top."""
    from ablate.train import TrainOptions, train_adapter

    opts = TrainOptions(batch_size=batch, lora_rank=rank, lora_alpha=2.0 * rank, target_modules=TARGETS,
                        learning_rate=lr, precision=precision, epochs=1.0, **levers)
    m = train_adapter(lm_dir, data, work / "-".join(f"{k}{v}" for k, v in levers.items()) if levers else work / "plain",
                      n=n, options=opts, show_progress=False, report_to="none")
    return {"samples_per_s": m["samples_per_s"], "tokens_per_s": m["tokens_per_s"], "seconds": m["train_seconds"],
            "final_loss": m["final_loss"]}


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


def _data(args, work: Path, n: int) -> Path:
    if args.data:
        return Path(args.data)
    import t3

    captions = Path(args.captions) if args.captions else None
    if captions is None:
        from ablate.world import default_world

        captions = default_world() / "captions" / "captions.json"
    t3.synthesize(captions, work / "t3", t3.SynthSpec(n=max(n, 64), probe_n=16, frames=4, seed=0))
    return work / "t3"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lm", default=None, help="HF causal-LM dir (default: the embedded base's lm/, from the cache)")
    ap.add_argument("--data", default=None, help="synthesis dir with train.parquet")
    ap.add_argument("--captions", default=None, help="caption file to synthesize T3 rows from (without --data)")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per row of the table")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--top-layers", default="8", help="lora_layers values for the top-N rows, comma-separated")
    ap.add_argument("--rows", default="plain,shipped,grouped,top", help="which rows: plain,shipped,grouped,top,compile")
    ap.add_argument("--compile", action="store_true", help="also the plain loop under torch.compile")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--parity", action="store_true", help="only check the CPU loss against TRL's (one batch)")
    args = ap.parse_args(argv)

    import polars as pl
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    if args.lm:
        lm = Path(args.lm)
    else:
        from ablate.base import resolve_base

        lm = Path(resolve_base("smol", build=False).lm_dir)
    n = args.steps * args.batch_size
    data = _data(args, work, n)
    if args.parity:
        return 0 if parity(lm, data) else 1
    rows = pl.read_parquet(data / "train.parquet" if data.is_dir() else data).head(n).to_dicts()
    want = args.rows.split(",") + (["compile"] if args.compile else [])
    shape = dict(n=n, batch=args.batch_size, precision=args.precision, lr=args.lr, rank=args.lora_rank, work=work)
    print(f"LM {lm}\n{n} rows ({args.steps} steps x batch {args.batch_size}), LoRA r{args.lora_rank} on "
          f"{','.join(TARGETS)}, lr {args.lr}, {args.precision}, torch threads {torch.get_num_threads()}", flush=True)
    results: list[tuple[str, dict]] = []

    def run(name: str, fn) -> None:
        r = fn()
        results.append((name, r))
        print(f"  {name}: {r['samples_per_s']:.2f} samples/s, {r['tokens_per_s']:.0f} tokens/s, "
              f"loop {r['seconds']:.1f} s, final loss {r['final_loss']:.3f}", flush=True)

    if "plain" in want:
        run("plain loop (smollm2_t3_probe.py)",
            lambda: plain_loop(lm, rows, args.batch_size, args.precision, args.lr, args.lora_rank))
    if "compile" in want:
        run("plain loop + torch.compile",
            lambda: plain_loop(lm, rows, args.batch_size, args.precision, args.lr, args.lora_rank, compile_model=True))
    if "shipped" in want:
        run("shipped", lambda: shipped(lm, data, **shape))
    if "grouped" in want:
        run("shipped + grouped", lambda: shipped(lm, data, group_by_length=True, **shape))
    if "top" in want:
        for k in (int(x) for x in args.top_layers.split(",") if x):
            run(f"shipped + grouped + top-{k} layers", lambda: shipped(lm, data, group_by_length=True, lora_layers=k, **shape))
    if not results:
        return 0
    ref = results[0][1]["samples_per_s"]
    print(f"\n{'loop':<40}{'samples/s':>11}{'tokens/s':>10}{'loop s':>9}{'loss':>8}{'vs ' + 'first':>10}")
    for name, r in results:
        print(f"{name:<40}{r['samples_per_s']:>11.2f}{r['tokens_per_s']:>10.0f}{r['seconds']:>9.1f}"
              f"{r['final_loss']:>8.3f}{r['samples_per_s'] / ref:>9.2f}x")
    if results[0][0].startswith("plain") and len(results) > 1:
        best = max(results[1:], key=lambda x: x[1]["samples_per_s"])
        ratio = best[1]["samples_per_s"] / ref
        print(f"\ntarget >= 3x the plain loop: best {best[0]} {ratio:.2f}x ({'met' if ratio >= 3 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
