"""The base's own non-temporal instruction data as text chat rows: what T3 training cells replay.

    >>> from ablate.base.replay import replay_rows
    >>> rows = replay_rows(3, seed=0)
    >>> [m["role"] for m in rows[0]["messages"]]
    ['user', 'assistant']

The paper mixes T3 with the instruction data the model was trained on (Open-LLaVA-NeXT, at 2x the T3
volume) so the model keeps what it knew. Training here is text-only (the LM alone), so the replay is
the text half of the base's stage 2: non-temporal questions over caption lists (ablate.base.slots with
every slot a caption), in the TempCompass and T3 option layouts, yes/no and caption matching. It holds
no temporal question and no frame (tests/test_base_guards.py). `ablate base build` writes
`replay.jsonl` into the base directory; a recipe uses it with `data.replay = "base"`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

REPLAY_SEED = 7_000_003  # disjoint from the pretraining streams


def replay_rows(n: int, seed: int = 0) -> list[dict]:
    from ablate.base.slots import slot_sample

    rng = random.Random(REPLAY_SEED + seed)
    rows = []
    for _ in range(n):
        s = slot_sample(rng, size=8, frame_share=0.0)
        rows.append({"messages": [{"role": "user", "content": s.user}, {"role": "assistant", "content": s.answer}],
                     "task": s.task})
    return rows


def write_replay(path: str | Path, n: int, seed: int = 0) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        for row in replay_rows(n, seed):
            fh.write(json.dumps(row) + "\n")
    return path
