"""Held-out quality of the base: captions, describe-each-frame, temporal multiple choice (baseline).

    from ablate.base.evaluate import caption_scores
    caption_scores("A large red circle in the top left corner.", scene)   # {'color': True, ...}

Held-out scenes and clips come from RNG streams the pretraining never draws from. The bench figure
reads the world benchmark (`ablate.world.default_world()`), decodes 8 frames per video with decord
and asks its multiple-choice questions with TempCompass's suffix; the base never saw temporal
questions, so it should sit near chance. Generation here is HF greedy (batched, left padded).
"""

from __future__ import annotations

import random
import re

import numpy as np

from ablate.base.prompts import chat_text, video_user_text

HELDOUT_SEED = 1_000_003  # RNG streams for evaluation; training uses cfg.seed + 1
MC_SUFFIX = "\nPlease directly give the best option:"


def _position_phrases() -> list[tuple[str, str]]:
    from ablate.world.captions import POSITION_WORDS
    from ablate.world.scene import POSITIONS

    pairs = [(f"at the {p}", p) for p in POSITIONS] + [(w, p) for p, ws in POSITION_WORDS.items() for w in ws]
    return sorted(set(pairs), key=lambda x: -len(x[0]))


def mentioned(text: str) -> dict[str, set[str]]:
    """Attribute values a text names: colours, shapes, sizes, positions, lighting."""
    from ablate.world.captions import LIGHT_WORDS, SIZE_WORDS
    from ablate.world.scene import COLOR_NAMES, SHAPES

    low = text.lower()
    words = set(re.findall(r"[a-z]+", low))
    positions = set()
    for phrase, pos in _position_phrases():
        if phrase in low:
            positions.add(pos)
            low = low.replace(phrase, " ")
    light = {k for k, ws in LIGHT_WORDS.items() for w in ws if re.search(rf"\b{re.escape(w)}\b", text.lower())}
    return {
        "color": words & set(COLOR_NAMES), "shape": words & set(SHAPES),
        "size": {k for k, ws in SIZE_WORDS.items() if words & set(ws)}, "position": positions, "lighting": light,
    }


def scene_values(scene) -> dict[str, set[str]]:
    return {"color": {o.color for o in scene.objects}, "shape": {o.shape for o in scene.objects},
            "size": {o.size for o in scene.objects}, "position": {o.position for o in scene.objects},
            "lighting": {scene.lighting}}


def caption_scores(text: str, scene) -> dict[str, bool]:
    """Per attribute: does the set of values the text names equal the scene's set exactly?"""
    got, want = mentioned(text), scene_values(scene)
    return {k: got[k] == want[k] for k in want}


def left_pad(rows: list[list[int]], pad_id: int):
    """(input_ids, attention_mask) [B, L] with each row right-aligned: every row's last token is its prompt's end."""
    import torch

    n = max(map(len, rows))
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for j, r in enumerate(rows):
        ids[j, n - len(r):] = torch.tensor(r)
        mask[j, n - len(r):] = 1
    return ids, mask


def hf_generate(model, tokenizer, items, max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy replies of a Llava model for items = [(user_text, frames uint8 [T,S,S,3])]."""
    import torch

    from ablate.base.embed import preprocess
    from ablate.base.model import CLIP_MEAN, CLIP_STD

    image_id = tokenizer.convert_tokens_to_ids("<image>")
    tpf = int(model.config.image_seq_length)
    out: list[str] = []
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        rows = []
        for user, _ in chunk:
            ids = tokenizer(chat_text(tokenizer, user), add_special_tokens=False)["input_ids"]
            rows.append([t for x in ids for t in ([x] * tpf if x == image_id else [x])])
        input_ids, mask = left_pad(rows, tokenizer.pad_token_id)
        L = input_ids.shape[1]
        frames = [f for _, f in chunk if len(f)]
        pv = (torch.from_numpy(preprocess(np.concatenate(frames), int(model.config.vision_config.image_size), CLIP_MEAN, CLIP_STD))
              if frames else None)  # text-only items (the bench's text twin) have no frames
        vision = {"pixel_values": pv} if pv is not None else {}  # Llava's generate() reads a None as an image
        with torch.no_grad():
            gen = model.generate(input_ids=input_ids, attention_mask=mask, **vision, do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        out += tokenizer.batch_decode(gen[:, L:], skip_special_tokens=True)
    return out


def parse_frames(text: str) -> dict[int, str]:
    """{frame number: description} from "Frame k: ..." lines."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"Frame (\d+):\s*(.*)", text)}


def mc_selection(world_dir, n: int, seed: int = 0) -> list[tuple[str, dict]]:
    """(video id, question) of n multiple-choice bench questions, a seeded shuffle of them all."""
    import json
    from pathlib import Path

    qs = json.loads((Path(world_dir) / "bench" / "questions" / "multi-choice.json").read_text())
    flat = [(vid, q) for vid, aspects in sorted(qs.items()) for _, ql in sorted(aspects.items()) for q in ql]
    random.Random(seed).shuffle(flat)
    return flat[:n]


def bench_mc_items(world_dir, n: int, frames: int = 8, seed: int = 0, layout: str = "frame_k") -> list[tuple[str, np.ndarray, str, int]]:
    """(user text, frames, answer letter, n options) for up to n multiple-choice bench questions."""
    import json
    from pathlib import Path

    from ablate.base.video import read_frames

    bench = Path(world_dir) / "bench"
    items = []
    for vid, q in mc_selection(world_dir, n, seed):
        video = read_frames(bench / "videos" / f"{vid}.mp4", frames)
        n_opts = len(re.findall(r"^[A-J]\.", q["question"], flags=re.M))
        items.append((video_user_text(len(video), q["question"] + MC_SUFFIX, layout), video, q["answer"].strip()[0], n_opts))
    return items


def bench_text_items(world_dir, video_ids: list[str]) -> list[tuple[str, np.ndarray, str, int]]:
    """The text twins (frame captions in the T3 layout) of these videos' multiple-choice questions, as
    bench_mc_items gives them: the base's world-text figure next to its world-video one."""
    import polars as pl
    from pathlib import Path

    twin = pl.read_parquet(Path(world_dir) / "bench" / "text_twin.parquet").filter(pl.col("task") == "multi-choice")
    by_video = {r["video_id"]: r for r in twin.iter_rows(named=True)}
    items = []
    for vid in video_ids:
        r = by_video[vid]
        letter = "ABCDEFGHIJ"[r["options"].index(r["answer"])] if r["answer"] in r["options"] else r["answer"].strip("() ")[0]
        items.append((r["prompt"], np.zeros((0, 1, 1, 3), np.uint8), letter, len(r["options"])))
    return items


def letter_of(reply: str) -> str | None:
    m = re.match(r"\s*\(?([A-J])(?:[\.\):]|$|\s)", reply)
    return m.group(1) if m else None


def heldout_metrics(model, tokenizer, cfg, verbose: bool = True) -> dict:
    """The three quality figures of issue 4 (plus details), on held-out data."""
    from ablate.base.data import describe_each_answer
    from ablate.world.captions import describe  # noqa: F401  (the answer format parse_frames reads)
    from ablate.world.clips import sample_clip
    from ablate.world.render import render, render_clip
    from ablate.world.scene import sample_scene
    from ablate.ui import console

    rng = random.Random(HELDOUT_SEED + cfg.seed)
    scenes = [sample_scene(rng) for _ in range(cfg.eval_images)]
    replies = hf_generate(model, tokenizer, [("<image>\nDescribe the image.", render(s, cfg.render_size)[None]) for s in scenes], 64)
    cap = {k: float(np.mean([caption_scores(r, s)[k] for r, s in zip(replies, scenes)])) if scenes else 0.0
           for k in ("color", "shape", "position", "size", "lighting")}
    clips = [sample_clip(rng, cfg.clip_frames) for _ in range(cfg.eval_clips)]
    user = video_user_text(cfg.clip_frames, "Describe each frame in order.", cfg.layout)
    replies_c = hf_generate(model, tokenizer, [(user, render_clip(c, cfg.render_size)) for c in clips],
                            max_new_tokens=40 * cfg.clip_frames, batch_size=8)
    per_attr: dict[str, list[bool]] = {k: [] for k in ("color", "shape", "size", "position", "lighting")}
    exact = []
    for reply, clip in zip(replies_c, clips):
        got = parse_frames(reply)
        for t, scene in enumerate(clip):
            for k, ok in caption_scores(got.get(t + 1, ""), scene).items():
                per_attr[k].append(ok)
        exact.append(reply.strip() == describe_each_answer(clip))
    each = {k: float(np.mean(v)) if v else 0.0 for k, v in per_attr.items()}
    metrics = {
        "caption": {**cap, "n": len(scenes), "example": replies[0] if replies else ""},
        "describe_each_frame": {"per_frame_attribute_accuracy": float(np.mean(list(each.values()))) if clips else 0.0,
                                **each, "exact_match": float(np.mean(exact)) if exact else 0.0,
                                "n_clips": len(clips), "frames": cfg.clip_frames},
    }
    if cfg.eval_bench:
        from ablate.world import default_world

        world = default_world()
        video_items = bench_mc_items(world, cfg.eval_bench, frames=cfg.clip_frames, layout=cfg.layout)
        text_items = bench_text_items(world, [vid for vid, _ in mc_selection(world, cfg.eval_bench)])
        for key, items in (("bench_temporal_mc", video_items), ("bench_text_mc", text_items)):
            rep = hf_generate(model, tokenizer, [(u, f) for u, f, _, _ in items], 16, batch_size=8)
            correct = [letter_of(r) == a for r, (_, _, a, _) in zip(rep, items)]
            metrics[key] = {
                "accuracy": float(np.mean(correct)), "chance": float(np.mean([1 / max(1, k) for *_, k in items])),
                "n": len(items), "unparsed": sum(letter_of(r) is None for r in rep), "example": rep[0] if rep else ""}
    if verbose:
        console.print(f"held-out: caption colour {cap['color']:.1%} shape {cap['shape']:.1%} position {cap['position']:.1%}; "
                      f"describe-each-frame attribute accuracy {metrics['describe_each_frame']['per_frame_attribute_accuracy']:.1%}"
                      + (f"; bench temporal MC video {metrics['bench_temporal_mc']['accuracy']:.1%}, its text twin "
                         f"{metrics['bench_text_mc']['accuracy']:.1%} (chance {metrics['bench_temporal_mc']['chance']:.1%})"
                         if "bench_temporal_mc" in metrics else ""))
    return metrics
