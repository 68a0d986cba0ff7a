"""MLVU dev, the 7 multiple-choice tasks, in both published shapes:
- GitHub: json/<n>_<task>.json (records: video, question, candidates, answer = candidate text,
  question_type) with videos under video/<n>_<task>/;
- HF `sy1998/MLVU_dev`: Parquet (video_name, question = stem + options, candidates, answer = letter,
  task_type, question_id).

    from ablate.eval.benchmarks import BenchSpec, load_items
    items = load_items(BenchSpec("mlvu", "data/MLVU"))

Videos are found by file name anywhere under the root (one index per load). Aspect = task; the
scores add the M-Avg row (macro mean of the 7 task accuracies).
"""

from __future__ import annotations

import re
from pathlib import Path

from ablate.eval.benchmarks import BenchSpec, Item, need_path, read_parquet
from ablate.core import UserError, read_json

TASKS = ("plotQA", "needle", "ego", "count", "order", "anomaly_reco", "topic_reasoning")
ALIASES = {"findneedle": "needle", "plotqa": "plotQA", "anomaly": "anomaly_reco", "topic": "topic_reasoning"}
CLOSING = "Only give the best option."


def _task(name: str) -> str | None:
    n = re.sub(r"^\d+_", "", name)
    n = ALIASES.get(n.lower(), n)
    return n if n in TASKS else None


def _prompt(question: str, candidates: list[str]) -> str:
    if re.search(r"\(A\)", question):  # HF shape: options already in the question
        return f"{question}\n{CLOSING}"
    opts = "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(candidates))
    return f"Question: {question}\nOptions:\n{opts}\n{CLOSING}"


def _video_index(root: Path) -> dict[str, str]:
    idx: dict[str, str] = {}
    for v in sorted(root.rglob("*")):
        if v.suffix.lower() in (".mp4", ".mkv", ".webm", ".avi") and not v.is_dir():
            idx.setdefault(v.name, v.relative_to(root).as_posix())
    return idx


def load(spec: BenchSpec) -> list[Item]:
    root = need_path(spec)
    if root.is_file():
        root = root.parent
    jsons = [f for f in sorted(root.rglob("*.json")) if re.match(r"^\d+_", f.stem)]
    parquets = sorted(root.rglob("*.parquet"))
    if not jsons and not parquets:
        raise UserError(f"{root}: no MLVU json/<n>_<task>.json or Parquet files found")
    videos = _video_index(root)
    items = []
    for f in jsons:
        task = _task(f.stem)
        if task is None:
            continue  # generation tasks (subPlot, summary) are judged by an LLM; we skip them
        data = read_json(f, "MLVU task file")
        if not isinstance(data, list):
            raise UserError(f"{f}: expected a JSON list of questions")
        for k, r in enumerate(data):
            iid = f"{task}/{k}"
            ok = isinstance(r, dict) and all(x in r for x in ("video", "question", "candidates", "answer"))
            if not ok or r["answer"] not in r["candidates"]:
                items.append(Item("mlvu", iid, "video", task, "", (), "", "mlvu", aspect=task,
                                  error=f"{f}: record {k}: needs video, question, candidates and an answer among them"))
                continue
            cands = [str(c) for c in r["candidates"]]
            items.append(Item("mlvu", iid, "video", task, _prompt(r["question"], cands), tuple(cands),
                              chr(65 + cands.index(r["answer"])), "mlvu", aspect=task,
                              video=videos.get(Path(r["video"]).name, str(r["video"])), root=str(root)))
    for f in parquets:
        df = read_parquet(f, ("video_name", "question", "candidates", "answer", "task_type"))
        for k, r in enumerate(df.iter_rows(named=True)):
            task = _task(str(r["task_type"]))
            if task is None:
                continue
            cands = [str(c) for c in (r["candidates"] or ())]
            iid = f"{task}/{r.get('question_id', k)}"
            items.append(Item("mlvu", iid, "video", task, _prompt(str(r["question"]), cands), tuple(cands),
                              str(r["answer"]).strip().strip("()"), "mlvu", aspect=task,
                              video=videos.get(Path(str(r["video_name"])).name, str(r["video_name"])), root=str(root)))
    return items
