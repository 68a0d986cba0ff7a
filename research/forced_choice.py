"""Is there temporal content under the format moves? Forced choice on a finished sweep's own adapters.

    ABLATE_CACHE=... python research/forced_choice.py --runs-dir runs --recipe data_scale [--runs-dir2 ...]

The sweep generates replies and scores them with the TempCompass rules, so a trained adapter that merely
answers in the right form gains over a base that did not (research/pretrained_lm.md, E4). Forced choice
takes the form away: for every multiple-choice item, the option letter with the highest logit after the
prompt is the answer (as research/transfer_loop.py scores). Items: the sweep's own t3-probe
(synth dir's probe.parquet), and the world bench's multiple-choice questions, one per video, as video
(frames -> the base's tower -> prompt embeddings) and as their text twin. Per adapter: accuracy, and the
paired change against the base with a 95% bootstrap CI over items. Appends one JSON line per run to
research/forced_choice.jsonl. An indicator, not the product's scorer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def bootstrap_ci(a: list[bool], b: list[bool], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    import numpy as np

    d = np.array(b, float) - np.array(a, float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n, len(d)))].mean(1)
    return float(np.percentile(means, 2.5) * 100), float(np.percentile(means, 97.5) * 100)


def sweep_adapters(runs: Path, recipe: str) -> tuple[list[tuple[str, Path | None]], Path | None]:
    """[(label, adapter dir or None for the base)] of a sweep's variants (its sweep.json), and its synthesis dir."""
    out, synth = [], None
    for v in json.loads((runs / "sweeps" / recipe / "sweep.json").read_text())["variants"]:
        st = v.get("stages") or {}
        out.append((v["label"], runs / "train" / st["train"] if st.get("train") else None))
        if st.get("synth"):
            synth = runs / "synth" / st["synth"]
    return out, synth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-dir", action="append", required=True, help="a sweep's runs dir (repeatable)")
    ap.add_argument("--recipe", default="data_scale")
    ap.add_argument("--world", required=True, help="the sweep's world dir (ABLATE_CACHE/world/<hash>)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()

    import polars as pl
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ablate.base import resolve_base
    from ablate.base.embed import FrameEncoder
    from ablate.base.evaluate import bench_mc_items, bench_text_items, mc_selection
    from ablate.base.precision import resolve_precision
    from ablate.base.prompts import base_layout, chat_text

    torch.set_num_threads(2)
    base = resolve_base("smol")
    tok = AutoTokenizer.from_pretrained(base.lm_dir)
    lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32)
    bf16 = resolve_precision("auto") == "bf16"
    letters = [tok.encode(c, add_special_tokens=False)[0] for c in "ABCDEFGHIJ"]

    runs = [Path(r) for r in a.runs_dir]
    variants, synth = [], None
    for r in runs:
        v, s = sweep_adapters(r, a.recipe)
        variants += [(f"{r.name}:{lab}", d) for lab, d in v if d is not None or not variants]
        synth = synth or s
    items: list[tuple[str, object, str, int]] = []
    for r in pl.read_parquet(synth / "probe.parquet").iter_rows(named=True):
        if r["options"]:
            letter = r["answer"].strip()[1] if r["answer"].startswith("(") else r["answer"].strip()[0]
            ids = tok(chat_text(tok, r["messages"][0]["content"]) + "(", add_special_tokens=False)["input_ids"]
            items.append(("t3-probe", ids, letter, len(r["options"])))
    world = Path(a.world)
    n_mc = len(mc_selection(world, 10**6))
    vids = [v for v, _ in mc_selection(world, n_mc)]
    for u, _, ans, n in bench_text_items(world, vids):
        items.append(("world-text", tok(chat_text(tok, u) + "(", add_special_tokens=False)["input_ids"], ans, n))
    enc = FrameEncoder(base)
    for u, frames, ans, n in bench_mc_items(world, n_mc, frames=a.frames, layout=base_layout(base)):
        items.append(("world-video", enc.prompt_embeds(enc.encode(frames), u), ans, n))
    chance = {k: round(100 * sum(1 / n for kk, _, _, n in items if kk == k) / sum(1 for it in items if it[0] == k), 1)
              for k in ("t3-probe", "world-text", "world-video")}
    print(f"{len(items)} items; chance {chance}", flush=True)

    @torch.no_grad()
    def score(model) -> dict[str, list[bool]]:
        model.eval()
        ok: dict[str, list[bool]] = {}
        emb = model.get_input_embeddings().weight
        for kind, x, ans, n in items:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                if isinstance(x, list):
                    logits = model(input_ids=torch.tensor([x])).logits[0, -1]
                else:
                    logits = model(inputs_embeds=x[None].to(emb.dtype)).logits[0, -1]
            ok.setdefault(kind, []).append("ABCDEFGHIJ"[int(logits.float()[letters[:n]].argmax())] == ans)
        return ok

    results, base_ok = {}, None
    for label, adir in variants:
        t = time.time()
        if adir is None:
            ok = base_ok = score(lm)
        else:
            model = PeftModel.from_pretrained(lm, str(adir))
            ok = score(model)
            lm = model.unload()
        row = {}
        for k, v in ok.items():
            acc = 100 * sum(v) / len(v)
            lo, hi = bootstrap_ci(base_ok[k], v) if adir is not None else (0.0, 0.0)
            row[k] = {"acc": round(acc, 1), "delta": round(acc - 100 * sum(base_ok[k]) / len(v), 1),
                      "ci": [round(lo, 1), round(hi, 1)], "n": len(v)}
        results[label] = row
        print(f"{label:28s} " + "  ".join(f"{k} {r['acc']:.1f} ({r['delta']:+.1f} [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}])"
                                          for k, r in row.items()) + f"  {time.time() - t:.0f} s", flush=True)
    with open(Path(__file__).with_suffix(".jsonl"), "a") as f:
        f.write(json.dumps({"tag": a.tag, "base": base.hash, "chance": chance, "results": results}) + "\n")


if __name__ == "__main__":
    main()
