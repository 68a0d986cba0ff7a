"""The world's video benchmark, laid out exactly like TempCompass, plus its text twin.

    from ablate.world.bench import plan_bench, write_bench
    items = plan_bench(videos=40, frames=8, seed=0)      # clips + questions, no I/O
    counts = write_bench(items, "out/bench", size=64)    # mp4s, question JSONs, meta_info, text twin

Layout of `bench/` (see /work/shared/FORMATS.md, TempCompass):
    videos/<video_id>.mp4            mp4v, `frames` frames; decord reads exactly that many
    questions/multi-choice.json      {video_id: {aspect: [{"question": "stem\\nA. ..\\nB. ..", "answer": "B. .."}]}}
    questions/yes_no.json            answers "yes" / "no"
    questions/caption_matching.json  "stem\\nCaption A: ..\\nCaption B: ..", answer = the full line
    meta_info.json                   {video_id: {"eval_dim": {aspect: null | {"type": sub_dim}}, "content": [..]}}
    text_twin.parquet                one row per question: the same question over frame captions (T3 layout)
    clips.jsonl                      per video: kind, event, frame scenes, frame captions

Videos come in pairs `<id>` / `<id>_reverse` (the same frames backwards). Each video gets one
multiple-choice, two yes/no (both statements of the pair: one true, one false) and one caption-matching
question. Correct letters go round-robin per format, so letters and yes/no are balanced exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.world.captions import describe
from ablate.world.clips import ASPECT_KINDS, KINDS, Clip, reverse, sample_event
from ablate.world.questions import facts

ASPECTS = ("action", "direction", "speed", "order", "attribute_change", "referring", "grounding")
TEMPCOMPASS_ASPECTS = ("action", "direction", "speed", "order", "attribute_change")
MC_SUFFIX = "\nPlease directly give the best option:"
YN_SUFFIX = "\nPlease answer yes or no:"
YN_CLOSING = "Please answer yes or no:"
YN_STEM = "Is the following statement about the video true? {}"
CM_STEM = "Which caption matches the video best?"
LETTERS = "ABCD"


@dataclass(frozen=True)
class Question:
    qid: str
    video_id: str
    task: str  # multi-choice | yes_no | caption_matching
    aspect: str
    sub_dim: str
    stem: str
    options: tuple[str, ...]  # empty for yes/no
    answer: str  # letter, or "yes"/"no"

    def tempcompass(self) -> dict[str, str]:
        """The question as TempCompass stores it: option lines inside `question`, full-line answers."""
        if self.task == "yes_no":
            return {"question": self.stem, "answer": self.answer}
        prefix = "{}. " if self.task == "multi-choice" else "Caption {}: "
        lines = [prefix.format(LETTERS[i]) + o for i, o in enumerate(self.options)]
        return {"question": "\n".join([self.stem, *lines]), "answer": lines[LETTERS.index(self.answer)]}


@dataclass(frozen=True)
class VideoItem:
    video_id: str
    clip: Clip
    questions: tuple[Question, ...]


def _place(options: tuple[str, ...], answer: str, letter: int, rng: random.Random) -> tuple[tuple[str, ...], str]:
    """Shuffle options with the answer at position `letter` (round-robin keeps letters balanced)."""
    rest = [o for o in options if o != answer]
    rng.shuffle(rest)
    rest.insert(letter, answer)
    return tuple(rest), LETTERS[letter]


def _questions(video_id: str, clip: Clip, counters: dict[str, int], rng: random.Random) -> tuple[Question, ...]:
    f = facts(clip)
    qs = []

    def qid(task, k=0):
        return f"{video_id}/{task}/{f.aspect}/{k}"

    n = len(f.options)
    opts, letter = _place(f.options, f.answer, counters["mc"] % n, rng)
    counters["mc"] += 1
    qs.append(Question(qid("multi-choice"), video_id, "multi-choice", f.aspect, f.sub_dim, f.stem, opts, letter))
    for k, (st, true) in enumerate(zip(f.statements, f.truth)):
        qs.append(Question(qid("yes_no", k), video_id, "yes_no", f.aspect, f.sub_dim, YN_STEM.format(st), (), "yes" if true else "no"))
    right = f.statements[f.truth.index(True)]
    opts, letter = _place(f.statements, right, counters["cm"] % 2, rng)
    counters["cm"] += 1
    qs.append(Question(qid("caption_matching"), video_id, "caption_matching", f.aspect, f.sub_dim, CM_STEM, opts, letter))
    return tuple(qs)


def plan_kinds(pairs: int) -> list[str]:
    """Clip kinds for `pairs` video pairs: aspects round-robin, kinds round-robin within an aspect."""
    seen = {a: 0 for a in ASPECTS}
    out = []
    for i in range(pairs):
        a = ASPECTS[i % len(ASPECTS)]
        kinds = ASPECT_KINDS[a]
        out.append(kinds[seen[a] % len(kinds)])
        seen[a] += 1
    return out


def plan_bench(videos: int, frames: int, seed: int) -> list[VideoItem]:
    """Clips and questions for `videos` videos (an even number: forward + reversed pairs)."""
    if videos < 2 or videos % 2:
        raise ValueError(f"videos must be an even number >= 2 (pairs of a clip and its reversal), got {videos}")
    counters = {"mc": 0, "cm": 0}
    items = []
    for i, kind in enumerate(plan_kinds(videos // 2)):
        rng = random.Random(f"world-bench-{seed}-{i}")
        clip = sample_event(rng, frames, kind)
        vid = f"w{i:04d}"
        for video_id, c in ((vid, clip), (f"{vid}_reverse", reverse(clip))):
            items.append(VideoItem(video_id, c, _questions(video_id, c, counters, rng)))
    return items


def write_video(path: str | Path, frames, fps: int = 4) -> None:
    """Write RGB uint8 frames [T,H,W,3] as mp4v with OpenCV (decord reads back exactly T frames)."""
    import cv2

    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot open an mp4v writer for {path}")
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def render_video_job(job: tuple[str, list[dict], int]) -> str:
    """Worker: render one clip's frames and write its mp4 (picklable for multiprocessing)."""
    from ablate.world.render import render
    from ablate.world.scene import Scene

    path, scenes, size = job
    write_video(path, [render(Scene.from_dict(s), size) for s in scenes])
    return path


def twin_rows(items: list[VideoItem]) -> list[dict[str, Any]]:
    """The text twin: every video question over the captions of its frames, in the T3 layout."""
    from t3.layout import DEFAULT_CLOSING, text_video_prompt

    rows = []
    for it in items:
        caps = [describe(s) for s in it.clip.frames]
        for q in it.questions:
            yn = q.task == "yes_no"
            prompt = text_video_prompt(caps, q.stem, list(q.options) or None, closing=YN_CLOSING if yn else DEFAULT_CLOSING)
            rows.append({"qid": q.qid, "video_id": q.video_id, "task": q.task, "aspect": q.aspect, "sub_dim": q.sub_dim,
                         "prompt": prompt, "options": list(q.options), "answer": q.answer})
    return rows


def write_bench_files(items: list[VideoItem], bench: Path) -> dict[str, Any]:
    """Question JSONs, meta_info, text twin and clips.jsonl (videos are written separately)."""
    import polars as pl

    from ablate.core import write_json

    files = {"multi-choice": {}, "yes_no": {}, "caption_matching": {}}
    meta: dict[str, Any] = {}
    counts: dict[str, dict[str, int]] = {"task": {}, "aspect": {}, "sub_dim": {}, "task/aspect": {}, "kind": {}}
    for it in items:
        f = facts(it.clip)
        for q in it.questions:
            files[q.task].setdefault(q.video_id, {}).setdefault(q.aspect, []).append(q.tempcompass())
            for key, val in (("task", q.task), ("aspect", q.aspect), ("sub_dim", f"{q.aspect}/{q.sub_dim}"),
                             ("task/aspect", f"{q.task}/{q.aspect}")):
                counts[key][val] = counts[key].get(val, 0) + 1
        counts["kind"][it.clip.kind] = counts["kind"].get(it.clip.kind, 0) + 1
        dims: dict[str, Any] = {a: None for a in ASPECTS}
        dims[f.aspect] = {"type": f.sub_dim}
        meta[it.video_id] = {"eval_dim": dims, "content": [f.statements[f.truth.index(True)]],
                             "kind": it.clip.kind, "reverse_of": it.video_id[: -len("_reverse")] if it.video_id.endswith("_reverse") else None}
    qdir = bench / "questions"
    qdir.mkdir(parents=True, exist_ok=True)
    for task, d in files.items():
        write_json(qdir / f"{task}.json", d)
    write_json(bench / "meta_info.json", meta)
    pl.DataFrame(twin_rows(items), schema={"qid": pl.Utf8, "video_id": pl.Utf8, "task": pl.Utf8, "aspect": pl.Utf8,
                                           "sub_dim": pl.Utf8, "prompt": pl.Utf8, "options": pl.List(pl.Utf8),
                                           "answer": pl.Utf8}).write_parquet(bench / "text_twin.parquet")
    with open(bench / "clips.jsonl", "w", encoding="utf-8") as fh:
        for it in items:
            rec = {"video_id": it.video_id, **it.clip.to_dict(), "captions": [describe(s) for s in it.clip.frames]}
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
    return {"videos": len(items), "questions": sum(len(it.questions) for it in items), **counts}


def load_questions(bench: str | Path) -> list[dict[str, Any]]:
    """Read a TempCompass-layout bench back as flat rows (video_id, task, aspect, sub_dim, question, answer)."""
    from ablate.core import read_json

    bench = Path(bench)
    meta = read_json(bench / "meta_info.json")
    rows = []
    for task in ("multi-choice", "yes_no", "caption_matching"):
        for vid, by_aspect in read_json(bench / "questions" / f"{task}.json").items():
            for aspect, qs in by_aspect.items():
                dim = meta[vid]["eval_dim"].get(aspect) or {}
                for q in qs:
                    rows.append({"video_id": vid, "task": task, "aspect": aspect, "sub_dim": dim.get("type", aspect), **q})
    return rows


assert set(a for a, _ in KINDS.values()) == set(ASPECTS)
