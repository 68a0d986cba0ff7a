"""Text benchmarks: t3-probe (probe.parquet from `ablate synth`), world-text (the world bench's
text twin) and t3-text (the paper's released probe JSONL).

    from ablate.eval.benchmarks import BenchSpec, load_items
    items = load_items(BenchSpec("t3-probe", "runs/synth/abc123"))   # dir or probe.parquet

t3-text JSONL fields are partly unverified, so each is read with fallbacks: `question|prompt`,
`answer|label` (a string or a list of accepted strings), `qid|id`; the aspect is the file stem
before `_` (order_val.jsonl -> order). Options are the "(A) x" lines of the question, if any.
"""

from __future__ import annotations

import re

from ablate.eval.benchmarks import BenchSpec, Item, need_path, read_parquet
from ablate.core import UserError, iter_jsonl

_OPT = re.compile(r"^\(([A-J])\)\s*(.*)$")


def _options_from_text(text: str) -> tuple[str, ...]:
    opts = []
    for line in text.splitlines():
        for part in re.split(r"\s(?=\([A-J]\)\s)", line.strip()):  # "(A) x (B) y" on one line too
            m = _OPT.match(part.strip())
            if m:
                opts.append(m.group(2).strip())
    return tuple(opts)


def _t3_probe(spec: BenchSpec) -> list[Item]:
    if spec.path is None:
        raise UserError("benchmark t3-probe: a path is required (the synth output dir or probe.parquet)")
    p = need_path(spec)
    f = p / "probe.parquet" if p.is_dir() else p
    df = read_parquet(f, ("id", "task", "messages", "options", "answer"))
    items = []
    for r in df.iter_rows(named=True):
        user = next((m["content"] for m in (r["messages"] or []) if m["role"] == "user"), None)
        err = None if user else "no user message"
        items.append(Item("t3-probe", str(r["id"]), "text", str(r["task"]), user or "", tuple(r["options"] or ()),
                          str(r["answer"]), "t3", aspect=str(r["task"]), sub_dim=str(r.get("subtask") or "all"),
                          error=err))
    return items


def _world_text(spec: BenchSpec) -> list[Item]:
    if spec.path is None:
        from ablate.world import default_world

        p = default_world() / "bench"
    else:
        p = need_path(spec)
    if p.is_dir():
        p = p / "text_twin.parquet" if (p / "text_twin.parquet").exists() else p / "bench" / "text_twin.parquet"
    df = read_parquet(p, ("qid", "task", "aspect", "prompt", "options", "answer"))
    items = []
    for r in df.iter_rows(named=True):
        task = str(r["task"])
        scorer = "yes_no" if task == "yes_no" else "t3"
        items.append(Item("world-text", str(r["qid"]), "text", task, str(r["prompt"]), tuple(r["options"] or ()),
                          str(r["answer"]), scorer, aspect=str(r["aspect"]), sub_dim=str(r.get("sub_dim") or "all")))
    return items


def _t3_text(spec: BenchSpec) -> list[Item]:
    p = need_path(spec)
    files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    if not files:
        raise UserError(f"{p}: no .jsonl files for benchmark t3-text")
    items = []
    for f in files:
        aspect = f.stem.split("_")[0]
        for lineno, rec in iter_jsonl(f):
            q = rec.get("question", rec.get("prompt"))
            a = rec.get("answer", rec.get("label"))
            iid = f"{f.stem}/{rec.get('qid', rec.get('id', lineno))}"
            if not isinstance(q, str) or a is None:
                items.append(Item("t3-text", iid, "text", aspect, "", (), "", "t3", aspect=aspect,
                                  error=f"{f}:{lineno}: needs `question` (or `prompt`) and `answer` (or `label`)"))
                continue
            accepted = [str(x) for x in a] if isinstance(a, list) else [str(a)]
            items.append(Item("t3-text", iid, "text", aspect, q, _options_from_text(q), "\n".join(accepted), "t3",
                              aspect=aspect))
    return items


def load(spec: BenchSpec) -> list[Item]:
    return {"t3-probe": _t3_probe, "world-text": _world_text, "t3-text": _t3_text}[spec.name](spec)
