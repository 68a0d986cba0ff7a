"""Is there temporal content under the format moves? Forced choice on a finished sweep's own adapters.

    ABLATE_CACHE=... python research/forced_choice.py --runs-dir runs [--runs-dir OTHER_RUNS ...] \
        --recipe data_scale --world $ABLATE_CACHE/world/<hash>

The sweep generates replies and scores them with the TempCompass rules, so a trained adapter that merely
answers in the right form gains over a base that did not (research/pretrained_lm.md, E4). Forced choice
takes the form away: for every multiple-choice item, the option letter with the highest logit after the
prompt is the answer (as research/transfer_loop.py scores). Items: the sweep's own t3-probe
(synth dir's probe.parquet), and the world bench's multiple-choice questions, one per video, as video
(frames -> the base's tower -> prompt embeddings) and as their text twin. Per adapter: accuracy, and the
paired change against the base with a 95% bootstrap CI over items (the report's `paired_deltas`).
Appends one JSON line per run to research/forced_choice.jsonl. An indicator, not the product's scorer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


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
    from transfer_loop import probe_items, score_items, world_items  # research/, beside this script

    from ablate.base import resolve_base
    from ablate.base.embed import FrameEncoder
    from ablate.base.evaluate import mc_selection
    from ablate.base.precision import resolve_precision
    from ablate.base.prompts import base_layout
    from ablate.sweep.report_stats import paired_deltas  # the report's paired bootstrap

    torch.set_num_threads(2)
    base = resolve_base("smol")
    tok = AutoTokenizer.from_pretrained(base.lm_dir)
    lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32)
    bf16 = resolve_precision("auto") == "bf16"

    variants, synth = [], None
    for r in map(Path, a.runs_dir):
        v, s = sweep_adapters(r, a.recipe)
        variants += [(f"{r.name}:{lab}", d) for lab, d in v if d is not None or not variants]  # one base
        synth = synth or s
    world = Path(a.world)
    items = probe_items(tok, synth / "probe.parquet")
    items += world_items(tok, FrameEncoder(base), world, len(mc_selection(world, 10**6)), a.frames, base_layout(base))
    chance = {k: round(100 * sum(1 / n for kk, _, _, n in items if kk == k) / sum(1 for it in items if it[0] == k), 1)
              for k in ("t3-probe", "world-text", "world-video")}
    print(f"{len(items)} items; chance {chance}", flush=True)

    rows = []  # per item, as the eval stage's predictions (ablate.eval.outputs), for paired_deltas
    for label, adir in variants:
        t = time.time()
        if adir is None:
            ok = score_items(lm, tok, items, bf16)
        else:
            model = PeftModel.from_pretrained(lm, str(adir))
            ok = score_items(model, tok, items, bf16)
            lm = model.unload()
        rows += [{"variant": label, "benchmark": k, "item_id": str(i), "aspect": "mc", "modality": "-",
                  "correct": c, "error": None} for k, v in ok.items() for i, c in enumerate(v)]
        print(f"{label:28s} " + "  ".join(f"{k} {100 * sum(v) / len(v):.1f}%" for k, v in ok.items())
              + f"  {time.time() - t:.0f} s", flush=True)
    pred = pl.DataFrame(rows, schema_overrides={"error": pl.Utf8})
    acc = pred.group_by("variant", "benchmark").agg((pl.col("correct").mean() * 100).alias("acc"), pl.len().alias("n"))
    deltas = paired_deltas(pred, variants[0][0]).filter(pl.col("aspect") == "all")
    results: dict = {}
    for r in acc.join(deltas, on=["variant", "benchmark"], how="left").iter_rows(named=True):
        results.setdefault(r["variant"], {})[r["benchmark"]] = {
            "acc": round(r["acc"], 1), "delta": round(100 * (r["delta"] or 0.0), 1),
            "ci": [round(100 * (r["delta_ci_low"] or 0.0), 1), round(100 * (r["delta_ci_high"] or 0.0), 1)], "n": r["n"]}
    for label, _ in variants:
        print(f"{label:28s} " + "  ".join(f"{k} {x['acc']:.1f} ({x['delta']:+.1f} [{x['ci'][0]:+.1f}, {x['ci'][1]:+.1f}])"
                                          for k, x in sorted(results[label].items())), flush=True)
    with open(Path(__file__).with_suffix(".jsonl"), "a") as f:
        f.write(json.dumps({"tag": a.tag, "base": base.hash, "chance": chance, "results": results}) + "\n")


if __name__ == "__main__":
    main()
