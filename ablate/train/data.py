"""Training data for `ablate train`: read a T3 pool, pick the nested prefix, mix in replay data.

    from ablate.train.data import select_examples
    sel = select_examples("runs/t3", n=1000, mix={"order": 1, "attribute": 1}, replay=None, replay_ratio=0)
    sel.examples[0]   # {"prompt": [{"role": "user", ...}], "completion": [{"role": "assistant", ...}]}
    sel.content_hash  # sha256 of exactly the examples that will be trained on, in order

No torch here. The examples are in TRL's *conversational prompt-completion* format, so SFTTrainer
applies the base's chat template and puts the loss on the completion (the assistant turn) only.

Selection rules (they make volumes nested, see issue 5):
- without `mix`, the first `n` rows of the pool, in file order;
- with `mix` (family -> weight), one interleaved sequence is built over the whole pool (at each
  position take the family furthest below its weighted share, rows of a family in file order), and
  the first `n` of that sequence are used; a family with weight 0 is dropped. Because it is a single
  sequence, the n=1k selection is a prefix of the n=2k selection for every mix;
- replay rows (JSONL or Parquet with `messages`) are the first `replay_count(n, replay_ratio)` rows of the
  replay file (replay_ratio = replay samples per T3 sample; the paper used 2.0), interleaved: after the k-th
  T3 row come the replay rows that bring their count to replay_count(k, ratio). So the selection of n rows is
  a prefix of that of 2n with replay too, and a run that keeps this order meets replay rows throughout.

Training order (`training_order`): a wsd run takes the selection in this order; with group_by_length it
sorts the rows by length inside fixed windows of the pool (`length_windows`), so the order of n rows is a
prefix of the order of 2n whenever n is a multiple of the window (what nested volumes need).
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from dataclasses import dataclass, field
from pathlib import Path

from ablate.core import UserError


@dataclass(frozen=True)
class Selection:
    """The exact training examples and a description of how they were chosen."""

    examples: list = field(repr=False)
    content_hash: str
    n_t3: int
    n_replay: int
    families: dict
    pool_file: str
    pool_rows: int
    replay_file: str | None = None


def data_file(data: str | Path) -> Path:
    """DIR (holding train.parquet) or a Parquet/JSONL file -> the file to read."""
    path = Path(data)
    if path.is_dir():
        path = path / "train.parquet"
    if not path.exists():
        raise UserError(f"{path}: training data not found (give a synthesis dir with train.parquet, or a .parquet file)")
    return path


def _read_table(path: Path, what: str):
    import polars as pl

    try:
        if path.suffix in (".jsonl", ".json"):
            return pl.read_ndjson(path)
        return pl.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - polars raises many kinds; all mean "not readable"
        raise UserError(f"{path}: cannot read {what} ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None


def _to_example(messages, path: Path, row: int) -> dict:
    """A `messages` list (user ..., assistant) -> {"prompt": [...], "completion": [last assistant turn]}."""
    if not messages or not isinstance(messages, list):
        raise UserError(f"{path}: row {row}: `messages` is empty")
    msgs = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise UserError(f"{path}: row {row}: each message needs string `role` and `content`")
        msgs.append({"role": m["role"], "content": m["content"]})
    if msgs[-1]["role"] != "assistant" or len(msgs) < 2:
        raise UserError(f"{path}: row {row}: `messages` must end with an assistant turn after a user turn")
    return {"prompt": msgs[:-1], "completion": msgs[-1:]}


def _read_messages(path: Path, what: str, need: tuple[str, ...] = ("messages",)):
    table = _read_table(path, what)
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise UserError(
            f"{path}: {what} lacks column(s) {', '.join(f'`{c}`' for c in missing)} "
            f"(has: {', '.join(table.columns) or 'none'})"
        )
    return table


def _mix_order(tasks: list[str], mix: dict[str, float], path: Path) -> list[int]:
    """Row indices in one interleaved sequence whose every prefix follows the mix weights."""
    weights = {str(k): float(v) for k, v in mix.items()}
    bad = {k: v for k, v in weights.items() if v < 0}
    if bad or not any(v > 0 for v in weights.values()):
        raise UserError(f"mix: weights must be >= 0 with at least one > 0 (got {mix})")
    present = set(tasks)
    unknown = [k for k, v in weights.items() if v > 0 and k not in present]
    if unknown:
        raise UserError(f"mix: famil{'y' if len(unknown) == 1 else 'ies'} {unknown} not in {path} (has {sorted(present)})")
    queues = {k: [i for i, t in enumerate(tasks) if t == k] for k, v in weights.items() if v > 0}
    taken = {k: 0 for k in queues}
    total = sum(weights[k] for k in queues)
    order: list[int] = []
    while True:
        live = [k for k in queues if taken[k] < len(queues[k])]
        if not live:
            return order
        k_pos = len(order) + 1
        # largest deficit against the weighted share; ties broken by name so the order is stable
        k = max(live, key=lambda f: (weights[f] / total * k_pos - taken[f], f))
        order.append(queues[k][taken[k]])
        taken[k] += 1


def replay_count(k: int, ratio: float) -> int:
    """Replay rows that go with the first k T3 rows: k x ratio rounded half up (exact for decimal ratios)."""
    return math.floor(k * Fraction(str(ratio)) + Fraction(1, 2)) if ratio > 0 else 0


def select_examples(
    data: str | Path,
    n: int | None,
    mix: dict | None = None,
    replay: str | Path | None = None,
    replay_ratio: float = 0.0,
) -> Selection:
    """Read the pool and return the nested selection (see module docstring)."""
    path = data_file(data)
    need = ("messages", "task") if mix else ("messages",)
    table = _read_messages(path, "training data", need)
    messages = table["messages"].to_list()
    if mix:
        order = _mix_order(table["task"].cast(str).to_list(), mix, path)
    else:
        order = list(range(len(messages)))
    if n is None:
        n = len(order)
    if n < 0:
        raise UserError(f"--n must be >= 0 (got {n})")
    if n == 0:
        raise UserError("n=0 means the base model itself: there is no adapter to train (the sweep uses the base for volume 0)")
    if n > len(order):
        raise UserError(f"{path}: asked for n={n} samples{' with mix ' + str(mix) if mix else ''} but only {len(order)} are available")
    chosen = order[:n]
    families: dict[str, int] = {}
    if "task" in table.columns:
        tasks = table["task"].cast(str).to_list()
        for i in chosen:
            families[tasks[i]] = families.get(tasks[i], 0) + 1

    rmsgs, replay_path = [], None
    if replay is not None and replay_ratio > 0:
        replay_path = Path(replay)
        if not replay_path.is_file():
            raise UserError(f"{replay_path}: replay file not found")
        rmsgs = _read_messages(replay_path, "replay data")["messages"].to_list()
        if replay_count(n, replay_ratio) > len(rmsgs):
            raise UserError(f"{replay_path}: replay ratio {replay_ratio} x n={n} needs "
                            f"{replay_count(n, replay_ratio)} rows but the file has {len(rmsgs)}")
    elif replay_ratio > 0:
        raise UserError("replay_ratio > 0 needs a replay file (--replay FILE)")
    examples, n_replay = [], 0  # replay_count is 0 without a replay file (a ratio > 0 without one raised above)
    for k, i in enumerate(chosen, 1):
        examples.append(_to_example(messages[i], path, i))
        upto = replay_count(k, replay_ratio)
        examples += [_to_example(rmsgs[j], replay_path, j) for j in range(n_replay, upto)]
        n_replay = upto

    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return Selection(
        examples=examples,
        content_hash=h.hexdigest()[:16],
        n_t3=n,
        n_replay=n_replay,
        families=families,
        pool_file=str(path),
        pool_rows=len(messages),
        replay_file=str(replay_path) if replay_path else None,
    )


def example_length(ex: dict) -> int:
    """Characters of an example's messages: the length proxy of `length_windows` (no tokenizer needed, and the
    same in every process; token counts follow characters closely on T3 rows)."""
    return sum(len(m["content"]) for part in ("prompt", "completion") for m in ex.get(part, ()))


def length_windows(examples: list, window: int) -> list:
    """The examples sorted by length, longest first, inside consecutive windows of `window` rows (rows
    [0, w), [w, 2w) ...; ties keep pool order). Rows never cross a window, so for n a multiple of `window`
    length_windows(ex[:n], w) == length_windows(ex, w)[:n]: the prefix property nested volumes rely on."""
    out = []
    for at in range(0, len(examples), window):
        chunk = examples[at:at + window]
        out += [chunk[i] for i in sorted(range(len(chunk)), key=lambda i: (-example_length(chunk[i]), i))]
    return out


def training_order(examples: list, options) -> list:
    """The rows in the order a wsd run trains them: pool order, or with group_by_length length-sorted
    windows of group_window optimizer steps (options.batch_size x grad_accum x group_window rows).
    Other schedules shuffle in the trainer (transformers' samplers): the selection is returned as it is."""
    if options.lr_scheduler == "wsd" and options.group_by_length:
        return length_windows(examples, options.batch_size * options.grad_accum * options.group_window)
    return examples
