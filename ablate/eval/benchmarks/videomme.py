"""Video-MME: one Parquet of questions (videomme/test-*.parquet) and videos data/<videoID>.mp4.

    from ablate.eval.benchmarks import BenchSpec, load_items
    items = load_items(BenchSpec("videomme", "data/Video-MME", {"subset": "temporal"}))

subset "temporal" keeps task_type Temporal Perception and Temporal Reasoning; "full" (default) all.
Aspect = task_type, sub-dimension = duration (short / medium / long). The prompt is the official
one (no subtitles); options arrive already prefixed "A. ...".
"""

from __future__ import annotations

from ablate.eval.benchmarks import BenchSpec, Item, need_path, read_parquet
from ablate.core import UserError

TEMPORAL = ("Temporal Perception", "Temporal Reasoning")
INTRO = ("Select the best answer to the following multiple-choice question based on the video. "
         "Respond with only the letter (A, B, C, or D) of the correct option.")
EXTS = (".mp4", ".MP4", ".mkv", ".webm")


def load(spec: BenchSpec) -> list[Item]:
    p = need_path(spec)
    if p.is_dir():
        files = sorted(p.glob("videomme/*.parquet")) or sorted(p.glob("*.parquet"))
        if not files:
            raise UserError(f"{p}: no videomme/*.parquet for benchmark videomme")
        root = p
    else:
        files, root = [p], p.parent.parent if p.parent.name == "videomme" else p.parent
    subset = spec.options.get("subset", "full")
    if subset not in ("full", "temporal"):
        raise UserError(f"benchmark videomme: subset must be 'full' or 'temporal' (key `subset`), got {subset!r}")
    items = []
    for f in files:
        df = read_parquet(f, ("videoID", "question_id", "task_type", "question", "options", "answer"))
        for r in df.iter_rows(named=True):
            if subset == "temporal" and r["task_type"] not in TEMPORAL:
                continue
            stem = str(r["videoID"])
            video = next((f"data/{stem}{e}" for e in EXTS if (root / "data" / f"{stem}{e}").exists()), f"data/{stem}.mp4")
            opts = tuple(str(o) for o in (r["options"] or ()))
            prompt = "\n".join([INTRO, str(r["question"]), *opts, "The best answer is:"])
            items.append(Item("videomme", str(r["question_id"]), "video", "videomme", prompt, opts,
                              str(r["answer"]).strip(), "videomme", aspect=str(r["task_type"]),
                              sub_dim=str(r.get("duration") or "all"), video=video, root=str(root)))
    return items
