"""What LoRA on the top N decoder layers costs in accuracy: same rows, same steps, forced-choice t3-probe.

    PYTHONPATH=. .venv/bin/python research/lora_layers_probe.py --lm LM_DIR --data T3_DIR --rows 320 --layers 0,8

For each `lora_layers` value (0 = all layers) it trains one adapter with ablate.train.train_adapter on the
first `--rows` rows of the pool (batch 8, LoRA r16 on all linear modules, lr 5e-4, bf16 where native), then
scores `--items` probe items by forced choice as ../shared/experiments/smollm2_t3_probe.py does (next-token
logits after the prompt + "(", restricted to the option letters). The base (no adapter) is scored first.
Prints accuracy, training samples/s and the adapter's trainable-parameter count. Figures: research/train_speed.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ablate  # noqa: F401 - before transformers


def score(model, tok, items: list[tuple[str, str, int]]) -> float:
    import torch

    letters = [tok.convert_tokens_to_ids(t) for t in "ABCD"]
    tok.padding_side = "left"
    ok = 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(items), 16):
            b = items[i:i + 16]
            enc = tok([x[0] for x in b], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                last = model(**enc).logits[:, -1].float()
            ok += sum("ABCD"[int(l[letters[:n]].argmax())] == ans for (_, ans, n), l in zip(b, last))
    return 100 * ok / len(items)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", required=True)
    ap.add_argument("--data", required=True, help="synthesis dir with train.parquet and probe.parquet")
    ap.add_argument("--rows", type=int, default=320)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--layers", default="0,8")
    ap.add_argument("--lr", type=float, default=5e-4)
    a = ap.parse_args()
    import polars as pl
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ablate.train import TrainOptions, train_adapter

    tok = AutoTokenizer.from_pretrained(a.lm)
    chat = lambda u: tok.apply_chat_template([{"role": "user", "content": u}], add_generation_prompt=True, tokenize=False)
    items = [(chat(r["messages"][0]["content"]) + "(", r["answer"], len(r["options"]))
             for r in pl.read_parquet(Path(a.data) / "probe.parquet").head(a.items).iter_rows(named=True)]
    lm = lambda: AutoModelForCausalLM.from_pretrained(a.lm, dtype=torch.float32)
    print(f"base: probe {score(lm(), tok, items):.1f}% on {len(items)} items", flush=True)
    work = Path(tempfile.mkdtemp(prefix="lora-layers-"))
    for k in (int(x) for x in a.layers.split(",")):
        t0 = time.perf_counter()
        m = train_adapter(a.lm, a.data, work / f"l{k}", n=a.rows, show_progress=False, report_to="none",
                          options=TrainOptions(batch_size=8, lora_rank=16, lora_alpha=32.0, learning_rate=a.lr,
                                               group_by_length=True, lora_layers=k))
        model = PeftModel.from_pretrained(lm(), work / f"l{k}")
        n_train = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
        print(f"lora_layers={k}: probe {score(model, tok, items):.1f}% after {a.rows} rows; train "
              f"{m['samples_per_s']:.2f} samples/s ({m['precision']}), final loss {m['final_loss']:.3f}, "
              f"{n_train / 1e6:.2f}M LoRA params, {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
