# Needs ablate at commit b57ac87 (`git checkout b57ac87`): it uses the binding drills, letter weights and tiny-t3 base removed since (issue #23 item 5).
"""What can a base's LM do? Forced-choice accuracy on the skills T3 transfer needs, before and after T3 text.

    python research/probe_skills.py --base tiny-t3                          # the base's skills only (~1 min)
    python research/probe_skills.py --base tiny-t3 --t3 4000 --epochs 2     # + full fine-tune on T3 text (~7 min)
    python research/probe_skills.py --base tiny-t3 --t3 4000 --lora 64      # + LoRA (all linear layers) instead

No vLLM and no reply parsing: every item is scored by the LM's next-token logits after the prompt,
restricted to the item's choices (the option letters "(A".."(D" / "A".."D", or yes / no), so what the model
knows is measured apart from the format of its replies (bench_transfer.py measures the whole pipeline).
Rows:
- `binding/*`: held-out option-binding drills (ablate.base.binding): pick the letter of the option that
  holds the answer. A model at chance here cannot answer any multiple-choice benchmark, whatever it knows.
- `slots/txt_*`, `slots/frm_*`: the base's own stage-2 questions over caption lists / frame lists.
- `t3-probe`, `world-text` (the bench's text twin), `world-video` (frames -> vision tower -> LM):
  multiple-choice and yes/no items.
Fine-tuning trains the LM on the first `--t3` rows of T3 data synthesized from the world's captions
(the token embeddings stay frozen, so video prompt embeddings stay exact).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import numpy as np

LETTERS = "ABCD"


def _distinct(ids: list[int], texts: list[str]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise SystemExit(f"this tokenizer starts {texts} with the same token; forced choice needs distinct first tokens")
    return ids


def choice_ids(tok, answer: str) -> tuple[list[int], int]:
    """(candidate first-token ids, index of the right one) for an answer "(B) x", "B. x", "B" or yes / no."""
    from ablate.base.evaluate import first_token_ids, option_letter_ids

    if answer in ("yes", "no"):
        return _distinct(first_token_ids(tok, ["yes", "no"]), ["yes", "no"]), int(answer == "no")
    paren = answer.startswith("(")
    ids = _distinct(option_letter_ids(tok, paren), [f"({c})" if paren else f"{c}." for c in LETTERS])
    return ids, LETTERS.index(answer[1] if paren else answer[0])


def pick(lm, inputs: list, choices: list[list[int]], bf16: bool, bs: int = 16) -> list[int]:
    """Argmax over each item's choice ids of the next-token logits; inputs are [L, hidden] embeddings."""
    import torch

    out = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(inputs), bs):
            es = inputs[i:i + bs]
            n = max(e.shape[0] for e in es)
            x = torch.zeros(len(es), n, es[0].shape[1])
            att = torch.zeros(len(es), n, dtype=torch.long)
            for j, e in enumerate(es):  # left padding: the last position is every prompt's end
                x[j, n - e.shape[0]:] = e
                att[j, n - e.shape[0]:] = 1
            logits = lm(inputs_embeds=x, attention_mask=att).logits[:, -1].float()
            out += [int(torch.argmax(logits[j, ch])) for j, ch in enumerate(choices[i:i + bs])]
    return out


class Items:
    """Scored items: prompt embeddings, choices, right index and a group name."""

    def __init__(self):
        self.emb, self.choices, self.gold, self.group = [], [], [], []
        self.tokenizer = None  # the base's tokenizer, set by build_items (fine-tuning reuses it)

    def add(self, emb, answer: str, group: str, tok):
        ch, g = choice_ids(tok, answer)
        self.emb.append(emb)
        self.choices.append(ch)
        self.gold.append(g)
        self.group.append(group)

    def accuracy(self, lm, bf16: bool) -> dict[str, float]:
        pred = pick(lm, self.emb, self.choices, bf16)
        ok = np.array([p == g for p, g in zip(pred, self.gold)])
        grp = np.array(self.group)
        return {k: float(ok[grp == k].mean()) for k in sorted(set(self.group))}


def build_items(base, world, synth_probe, n_skill: int, seed: int = 999) -> Items:
    import polars as pl

    from ablate.base.binding import KINDS, binding_sample
    from ablate.base.embed import FrameEncoder
    from ablate.base.prompts import base_layout, video_user_text
    from ablate.base.slots import slot_sample
    from ablate.eval.benchmarks.tempcompass import SUFFIX
    from ablate.eval.video import load_raw_frames

    enc = FrameEncoder(base)
    tok = enc.tokenizer
    items = Items()
    items.tokenizer = tok
    text = lambda user: enc.prompt_embeds([], user)  # noqa: E731
    rng = random.Random(seed)
    for kind in KINDS:
        for _ in range(n_skill):
            s = binding_sample(rng, kind)
            items.add(text(s.user), s.answer, f"binding/{kind}", tok)
    for share, tag in ((0.0, "txt"), (1.0, "frm")):
        k = 0
        while k < 2 * n_skill:
            s = slot_sample(rng, enc.frame_size, frame_share=share)
            if s.task == "slots_describe_k" or s.answer.startswith("Caption"):
                continue
            feats = enc.encode(s.images) if len(s.images) else []
            items.add(enc.prompt_embeds(feats, s.user), s.answer, f"slots/{tag}_{s.task[6:]}", tok)
            k += 1
    for r in pl.read_parquet(synth_probe).iter_rows(named=True):
        items.add(text(r["messages"][0]["content"]), r["messages"][1]["content"], f"t3-probe/{r['task']}", tok)
    twin = pl.read_parquet(world / "bench" / "text_twin.parquet")
    for r in twin.filter(pl.col("task").is_in(["multi-choice", "yes_no"])).iter_rows(named=True):
        ans = f"({r['answer']})" if r["task"] == "multi-choice" else r["answer"]
        items.add(text(r["prompt"]), ans, f"world-text/{r['task']}/{r['aspect']}", tok)
    layout = base_layout(base)
    feats: dict = {}
    for task in ("multi-choice", "yes_no"):
        q = json.loads((world / "bench" / "questions" / f"{task}.json").read_text())
        for vid, by_aspect in q.items():
            for aspect, lst in by_aspect.items():
                for it in lst:
                    if vid not in feats:
                        feats[vid] = enc.encode(load_raw_frames(world / "bench" / "videos" / f"{vid}.mp4", 8))
                    user = video_user_text(8, it["question"] + SUFFIX[task], layout)
                    items.add(enc.prompt_embeds(feats[vid], user), it["answer"], f"world-video/{task}/{aspect}", tok)
    return items


def report(items: Items, acc: dict[str, float]) -> dict[str, float]:
    """Item groups -> printed rows: each skill group, the probe per family, and per benchmark all / task / MC aspect."""
    n = {g: items.group.count(g) for g in acc}
    out = {g: a for g, a in acc.items() if g.split("/")[0] in ("binding", "slots", "t3-probe")}

    def pooled(gs):
        return sum(acc[g] * n[g] for g in gs) / sum(n[g] for g in gs)

    for bench in ("t3-probe", "world-text", "world-video"):
        gs = [g for g in acc if g.startswith(bench + "/")]
        if not gs:
            continue
        out[f"{bench}/all"] = pooled(gs)
        for task in ("multi-choice", "yes_no"):
            if any(f"/{task}/" in g for g in gs):
                out[f"{bench}/{task}"] = pooled([g for g in gs if f"/{task}/" in g])
        out |= {g.replace("/multi-choice", "/mc"): acc[g] for g in sorted(gs) if "/multi-choice/" in g}
    return out


def finetune(lm, tok, rows, epochs: float, lr: float, lora: int, bf16: bool, bs: int = 16, seed: int = 0,
             letter_weight: float = 1.0):
    """Train on (user, answer) rows; `letter_weight` multiplies the loss of the option letter, the first token
    of "(B) x" / "B. x" answers, with the base build's own weighting (ablate.base.pretrain.letter_weights)."""
    import torch

    from ablate.base.pretrain import letter_weights, weighted_loss
    from ablate.base.prompts import chat_text

    if lora:
        from peft import LoraConfig, get_peft_model

        lm = get_peft_model(lm, LoraConfig(r=lora, lora_alpha=2 * lora, target_modules="all-linear", lora_dropout=0.0))
    else:
        lm.get_input_embeddings().weight.requires_grad_(False)
    enc = []
    for user, answer in rows:
        p = tok(chat_text(tok, user), add_special_tokens=False)["input_ids"]
        full = tok(chat_text(tok, user, answer), add_special_tokens=False)["input_ids"]
        enc.append((full, [-100] * len(p) + full[len(p):], answer))
    params = [p for p in lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    steps = int(math.ceil(len(enc) / bs) * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * max(0.0, 1 - s / steps))
    rng = random.Random(seed)
    lm.train()
    step, losses, t0 = 0, [], time.perf_counter()
    while step < steps:
        order = list(range(len(enc)))
        rng.shuffle(order)
        for i in range(0, len(order), bs):
            b = [enc[j] for j in order[i:i + bs]]
            n = max(len(x) for x, _, _ in b)
            ids = torch.zeros(len(b), n, dtype=torch.long)
            lab = torch.full((len(b), n), -100, dtype=torch.long)
            att = torch.zeros(len(b), n, dtype=torch.long)
            for k, (x, y, _) in enumerate(b):
                ids[k, :len(x)], lab[k, :len(y)], att[k, :len(x)] = torch.tensor(x), torch.tensor(y), 1
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                if letter_weight == 1.0:
                    loss = lm(input_ids=ids, attention_mask=att, labels=lab).loss
                else:
                    w = letter_weights([a for _, _, a in b], lab, letter_weight)
                    loss = weighted_loss(lm(input_ids=ids, attention_mask=att).logits, lab, w)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(float(loss.detach()))
            step += 1
            if step % 100 == 0:
                print(f"  step {step}/{steps} loss {np.mean(losses[-100:]):.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)
            if step >= steps:
                break
    lm.eval()
    return lm, float(np.mean(losses[-50:]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="tiny-t3", help="an embedded config (built or cached) or a base directory")
    ap.add_argument("--skill-items", type=int, default=150, help="held-out items per binding drill (x2 per slot list kind)")
    ap.add_argument("--t3", type=int, default=0, help="fine-tune on this many T3 rows (0: measure the base only)")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lora", type=int, default=0, help="LoRA rank on all linear layers (0: full fine-tune)")
    ap.add_argument("--letter-weight", type=float, default=1.0, help="loss weight of the option letter (the first token of \"(B) x\" answers)")
    ap.add_argument("--probe", type=int, default=400)
    args = ap.parse_args(argv)

    import tempfile
    from pathlib import Path

    import polars as pl
    import torch
    from transformers import AutoModelForCausalLM

    import t3
    from ablate.base import resolve_base
    from ablate.base.precision import resolve_precision
    from ablate.world import default_world

    torch.manual_seed(0)
    bf16 = resolve_precision("auto") == "bf16"
    base = resolve_base(args.base)
    world = default_world()
    synth = Path(tempfile.mkdtemp(prefix="probe-skills-"))
    t3.synthesize(world / "captions" / "captions.json", synth,
                  t3.SynthSpec(n=max(args.t3, 1), probe_n=args.probe, frames=4, seed=0))
    t0 = time.perf_counter()
    items = build_items(base, world, synth / "probe.parquet", args.skill_items)
    lm = AutoModelForCausalLM.from_pretrained(base.lm_dir, dtype=torch.float32).eval()
    before = report(items, items.accuracy(lm, bf16))
    print(f"base {base.hash}: {len(items.gold)} items scored in {time.perf_counter() - t0:.0f}s", flush=True)
    after, note = None, ""
    if args.t3:
        rows = [(r["messages"][0]["content"], r["messages"][1]["content"])
                for r in pl.read_parquet(synth / "train.parquet").head(args.t3).iter_rows(named=True)]
        t1 = time.perf_counter()
        lm, loss = finetune(lm, items.tokenizer, rows, args.epochs, args.lr, args.lora, bf16, letter_weight=args.letter_weight)
        after = report(items, items.accuracy(lm, bf16))
        note = (f"{'LoRA r' + str(args.lora) if args.lora else 'full fine-tune'}, {args.t3} T3 rows x {args.epochs} epochs, "
                f"lr {args.lr}, letter weight {args.letter_weight}: final loss {loss:.3f}, {time.perf_counter() - t1:.0f}s")
    print(f"\n| group | base |{' after T3 |' if after else ''}\n|---|---|{'---|' if after else ''}")
    for k in before:
        print(f"| {k} | {100 * before[k]:.1f} |" + (f" {100 * after[k]:.1f} |" if after else ""))
    if note:
        print(f"\nafter T3: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
