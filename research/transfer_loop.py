"""Does this base transfer? T3 text -> world video in one short run (issue #23's fast experiment loop).

    python research/transfer_loop.py --base smol --rows 400 --items 150

On a built base: scores the LM by forced choice (the highest of the option letters' logits after the chat
prompt) on the t3-probe, on world-text (the bench's text twin) and on world-video (frames -> the base's
tower + projector -> prompt embeddings, the same path vLLM serves), then trains a LoRA on `--rows` T3 rows
(plain torch + PEFT loop: top `--lora-layers` layers, loss on the answer tokens only, logits only there,
bf16 autocast where the CPU has native bf16) and scores again. Prints one line per phase and appends a JSON
line to research/transfer_loop.jsonl. Forced choice is an indicator, not the product's scorer: the sweep
generates replies and scores them with the TempCompass rules.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def letter_ids(tok, n: int) -> list[int]:
    return [tok.encode(c, add_special_tokens=False)[0] for c in "ABCDEFGHIJ"[:n]]


def probe_items(tok, probe_parquet, n: int | None = None) -> list[tuple[str, object, str, int]]:
    """("t3-probe", token ids, answer letter, n options) of the first n multiple-choice rows of a probe.parquet."""
    import polars as pl

    from ablate.base.prompts import chat_text

    items: list[tuple[str, object, str, int]] = []
    for r in pl.read_parquet(probe_parquet).head(n if n is not None else 10**9).iter_rows(named=True):
        if r["options"]:
            letter = r["answer"].strip()[1] if r["answer"].startswith("(") else r["answer"].strip()[0]
            ids = tok(chat_text(tok, r["messages"][0]["content"]) + "(", add_special_tokens=False)["input_ids"]
            items.append(("t3-probe", ids, letter, len(r["options"])))
    return items


def world_items(tok, enc, world, n: int, frames: int, layout: str) -> list[tuple[str, object, str, int]]:
    """(kind, token ids or prompt embeddings [L, H], answer letter, n options) of n world-bench
    multiple-choice questions: their text twins ("world-text") and the videos ("world-video")."""
    from ablate.base.evaluate import bench_mc_items, bench_text_items, mc_selection
    from ablate.base.prompts import chat_text

    items: list[tuple[str, object, str, int]] = []
    vids = [v for v, _ in mc_selection(world, n)]
    for u, _, ans, k in bench_text_items(world, vids):
        items.append(("world-text", tok(chat_text(tok, u) + "(", add_special_tokens=False)["input_ids"], ans, k))
    for u, fr, ans, k in bench_mc_items(world, n, frames=frames, layout=layout):
        items.append(("world-video", enc.prompt_embeds(enc.encode(fr), u), ans, k))  # TempCompass: "A." without a paren
    return items


def score_items(model, tok, items, bf16: bool) -> dict[str, list[bool]]:
    """Forced choice: per item, whether the highest of its option letters' logits after the prompt is the answer."""
    import torch

    model.eval()
    ok: dict[str, list[bool]] = {}
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        for kind, x, ans, n in items:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                if isinstance(x, list):
                    logits = model(input_ids=torch.tensor([x])).logits[0, -1]
                else:
                    logits = model(inputs_embeds=x[None].to(emb.dtype)).logits[0, -1]
            pred = "ABCDEFGHIJ"[int(logits.float()[letter_ids(tok, n)].argmax())]
            ok.setdefault(kind, []).append(pred == ans)
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="smol")
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--items", type=int, default=150, help="items per benchmark")
    ap.add_argument("--lora-layers", type=int, default=0, help="top N layers only (0 = all)")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layout", default=None, help="video prompt layout (frame_k / slots); default: the base's")
    ap.add_argument("--tag", default="")
    a = ap.parse_args()

    import polars as pl
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import t3
    from ablate.base import resolve_base
    from ablate.base.embed import FrameEncoder
    from ablate.base.precision import resolve_precision
    from ablate.base.prompts import base_layout, chat_text
    from ablate.core import cache_root
    from ablate.world import default_world

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t_all = time.time()
    base = resolve_base(a.base)
    world = default_world()
    data = cache_root() / "research-t3data"
    if not (data / "train.parquet").exists():
        t3.synthesize(str(world / "captions" / "captions.json"), str(data), t3.SynthSpec(n=4000, probe_n=300, frames=4, seed=0))
    tok = AutoTokenizer.from_pretrained(base.lm_dir)
    lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32)
    bf16 = resolve_precision("auto") == "bf16"
    ac = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)  # noqa: E731

    # items: (kind, embeds [L, H] or token ids, answer letter, n options)
    enc = FrameEncoder(base)
    items = probe_items(tok, data / "probe.parquet", a.items)
    items += world_items(tok, enc, world, a.items, a.frames, a.layout or base_layout(base))

    def score(tag: str) -> dict:
        t = time.time()
        ok = score_items(lm, tok, items, bf16)
        res = {k: round(100 * sum(v) / len(v), 1) for k, v in sorted(ok.items())}
        print(f"[{tag}] " + "  ".join(f"{k} {v:.1f}%" for k, v in res.items()) + f"  ({time.time() - t:.0f} s)", flush=True)
        return res

    before = score("base")
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    n_layers = lm.config.num_hidden_layers
    layers = list(range(n_layers - a.lora_layers, n_layers)) if a.lora_layers else None
    lm = get_peft_model(lm, LoraConfig(r=a.rank, lora_alpha=2 * a.rank, target_modules=targets, layers_to_transform=layers,
                                       task_type="CAUSAL_LM"))
    rows = [(chat_text(tok, r["messages"][0]["content"]), r["messages"][1]["content"] + tok.eos_token)
            for r in pl.read_parquet(data / "train.parquet").head(a.rows).iter_rows(named=True)]
    random.Random(0).shuffle(rows)
    opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=a.lr)
    steps = max(1, len(rows) // a.batch)
    lm.train()
    t = time.time()
    inner = lm.get_base_model()
    for s in range(steps):
        for g in opt.param_groups:  # warm-up 5%, then linear decay
            g["lr"] = a.lr * min(1.0, (s + 1) / max(1, steps // 20)) * (1 - s / steps)
        batch = rows[s * a.batch:(s + 1) * a.batch]
        pairs = [(tok.encode(p, add_special_tokens=False), tok.encode(c, add_special_tokens=False)) for p, c in batch]
        L = max(len(p) + len(c) for p, c in pairs)
        ids = torch.full((len(pairs), L), tok.pad_token_id)
        att = torch.zeros_like(ids)
        for j, (p, c) in enumerate(pairs):
            ids[j, :len(p) + len(c)] = torch.tensor(p + c)
            att[j, :len(p) + len(c)] = 1
        with ac():
            h = inner.model(input_ids=ids, attention_mask=att).last_hidden_state  # [B, L, H]
            pos = [(j, i) for j, (p, c) in enumerate(pairs) for i in range(len(p) - 1, len(p) + len(c) - 1)]
            jj, ii = torch.tensor([x[0] for x in pos]), torch.tensor([x[1] for x in pos])
            logits = inner.lm_head(h[jj, ii]).float()  # only where a loss is taken
        loss = torch.nn.functional.cross_entropy(logits, ids[jj, ii + 1])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if s % 10 == 0 or s == steps - 1:
            print(f"  step {s + 1}/{steps} loss {loss.item():.3f} {(s + 1) * a.batch / (time.time() - t):.2f} samples/s", flush=True)
    train_s = time.time() - t
    after = score(f"after {len(rows)} rows")
    rec = {"tag": a.tag, "base": base.hash, "rows": len(rows), "lora_layers": a.lora_layers, "rank": a.rank, "lr": a.lr,
           "items": a.items, "before": before, "after": after, "train_s": round(train_s, 1),
           "samples_s": round(len(rows) / train_s, 2), "total_s": round(time.time() - t_all, 1), "bf16": bf16}
    with open(Path(__file__).with_suffix(".jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
