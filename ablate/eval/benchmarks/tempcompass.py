"""TempCompass (and the synthetic world bench, laid out the same way): multi-choice, yes/no and
caption matching questions over videos/<video_id>.mp4, aspects from the question files and
sub-dimensions from meta_info.json.

    from ablate.eval.benchmarks import BenchSpec, load_items
    items = load_items(BenchSpec("tempcompass", "data/TempCompass", {"tasks": ["multi-choice"]}))

Question files: {video_id: {aspect: [{"question": ..., "answer": ...}]}}. Prompts end with the
official suffixes. Item ids are `<video_id>/<task>/<aspect>/<k>`, the same ids the world's text
twin uses, so a video question and its text twin can be paired.
"""

from __future__ import annotations

from pathlib import Path

from ablate.eval.benchmarks import BenchSpec, Item, need_path
from ablate.core import UserError, read_json

TASKS = ("multi-choice", "yes_no", "caption_matching")
SUFFIX = {"multi-choice": "\nPlease directly give the best option:",
          "caption_matching": "\nPlease directly give the best option:",
          "yes_no": "\nPlease answer yes or no:"}
SCORER = {"multi-choice": "tempcompass-mc", "yes_no": "yes_no", "caption_matching": "tempcompass-cm"}


def _sub_dims(root: Path) -> dict[tuple[str, str], str]:
    f = root / "meta_info.json"
    if not f.exists():
        return {}
    meta = read_json(f, "TempCompass meta_info.json")
    if not isinstance(meta, dict):
        raise UserError(f"{f}: expected an object {{video_id: {{eval_dim: ...}}}}")
    out = {}
    for vid, info in meta.items():
        dims = (info or {}).get("eval_dim") or {} if isinstance(info, dict) else {}
        for aspect, d in dims.items():
            out[(vid, aspect)] = (d or {}).get("type") if isinstance(d, dict) and d.get("type") else aspect
    return out


def _options(question: str, task: str) -> tuple[str, ...]:
    if task == "yes_no":
        return ()
    return tuple(line.strip() for line in question.split("\n")[1:] if line.strip())


def load(spec: BenchSpec) -> list[Item]:
    if spec.name == "world-video" and spec.path is None:
        from ablate.world import default_world

        root = default_world() / "bench"
    else:
        root = need_path(spec)
        if spec.name == "world-video" and (root / "bench" / "questions").is_dir():
            root = root / "bench"
    tasks = spec.options.get("tasks") or [t for t in TASKS if (root / "questions" / f"{t}.json").exists()]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise UserError(f"benchmark {spec.name}: unknown task(s) {bad} (key `tasks`); choose from {list(TASKS)}")
    if not tasks:
        raise UserError(f"{root}: no questions/{{multi-choice,yes_no,caption_matching}}.json found")
    sub = _sub_dims(root)
    items = []
    for task in tasks:
        f = root / "questions" / f"{task}.json"
        data = read_json(f, f"TempCompass {task} questions")
        if not isinstance(data, dict):
            raise UserError(f"{f}: expected an object {{video_id: {{aspect: [questions]}}}}")
        for vid, by_aspect in data.items():
            if not isinstance(by_aspect, dict):
                raise UserError(f"{f}: video {vid!r}: expected {{aspect: [questions]}}")
            for aspect, qs in by_aspect.items():
                if not isinstance(qs, list):
                    raise UserError(f"{f}: video {vid!r} aspect {aspect!r}: expected a list of questions")
                for k, q in enumerate(qs):
                    iid = f"{vid}/{task}/{aspect}/{k}"
                    ok = isinstance(q, dict) and isinstance(q.get("question"), str) and isinstance(q.get("answer"), str)
                    question = q["question"] if ok else ""
                    items.append(Item(
                        spec.name, iid, "video", task, question + SUFFIX[task] if ok else "",
                        _options(question, task), q["answer"] if ok else "", SCORER[task], aspect=aspect,
                        sub_dim=sub.get((vid, aspect), aspect if aspect == "order" else "unknown"),
                        video=f"videos/{vid}.mp4", root=str(root),
                        error=None if ok else f"{f}: {iid}: needs string `question` and `answer`"))
    return items
