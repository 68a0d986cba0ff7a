"""vLLM CPU engine dtype: float32 (shipped) vs bfloat16, same prompts, same LoRAs, one process each.

    python research/eval_dtype.py --lm LM_DIR --probe runs/synth/<key>/probe.parquet \
        --adapters runs/train/<k1>,runs/train/<k2> --items 300 --dtype bfloat16

Prints wall time of generate() (engine start excluded), requests/s and writes the replies to
--out (jsonl) so two runs can be compared for agreement (--compare A B).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def run(a) -> None:
    import polars as pl
    from transformers import AutoTokenizer

    import ablate  # noqa: F401 - hides the CUDA-only libraries
    from ablate.base.prompts import chat_text
    from ablate.eval.engines import Request, load_engine
    from ablate.eval.engines.base import SamplingParams

    tok = AutoTokenizer.from_pretrained(a.lm)
    rows = pl.read_parquet(a.probe).head(a.items).iter_rows(named=True)
    prompts = [tuple(tok(chat_text(tok, r["messages"][0]["content"]), add_special_tokens=False)["input_ids"]) for r in rows]
    adapters = {f"a{i}": Path(p) for i, p in enumerate(a.adapters.split(","))}
    t0 = time.perf_counter()
    eng = load_engine("vllm", a.lm, adapters, llm_kwargs={"dtype": a.dtype})
    start = time.perf_counter() - t0
    sp = SamplingParams(max_tokens=a.max_tokens)
    reqs = [Request(prompt_ids=p, adapter=k, sampling=sp) for k in adapters for p in prompts]
    t0 = time.perf_counter()
    gens = eng.generate(reqs)
    wall = time.perf_counter() - t0
    toks = sum(len(p) for p in prompts) * len(adapters)
    print(f"[{a.dtype}] engine start {start:.1f} s; {len(reqs)} requests in {wall:.1f} s = {len(reqs) / wall:.2f} req/s, "
          f"{toks / wall:.0f} prompt tokens/s", flush=True)
    with open(a.out, "w") as f:
        for g in gens:
            f.write(json.dumps({"text": g.text}) + "\n")


def compare(x: str, y: str) -> None:
    a = [json.loads(s)["text"] for s in open(x)]
    b = [json.loads(s)["text"] for s in open(y)]
    same = sum(p == q for p, q in zip(a, b))
    print(f"replies identical: {same}/{len(a)} ({100 * same / len(a):.1f}%)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        compare(sys.argv[2], sys.argv[3])
        sys.exit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--adapters", required=True)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--out", default="/tmp/eval_dtype.jsonl")
    run(ap.parse_args())
