"""The generic-text control: plain caption-description chat data with no temporal structure.

    from ablate.synth.generic import write_generic
    write_generic("captions.json", "runs/synth/<key>", n=2000, seed=0)

The paper's control trains on HotpotQA (generic long text) instead of T3, to show that gains come from
temporal content, not from more text. Our analogue uses the same caption corpus T3 draws from: the
user turn gives a caption's content words in alphabetical order (no order, no change, no time), the
assistant writes the caption. Same chat format and volume as a T3 mix; written like a synthesis dir
(train.parquet + manifest.json with a content_hash) so the trainer takes it unchanged.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from ablate.core import atomic_dir, stable_hash, write_json

VERSION = "generic-1"
_STOP = {"a", "an", "the", "of", "in", "on", "at", "to", "and", "is", "are", "with", "there", "this",
         "image", "shows", "picture", "photo", "scene", "it", "its", "by", "into", "for", "from"}
INSTRUCTIONS = ["Write one sentence describing a picture that contains: {w}.",
                "Describe an image with these elements: {w}.",
                "Compose a short image caption using the words: {w}."]


def write_generic(corpus: str | Path, out: str | Path, n: int, seed: int = 0, corpus_format: str = "auto",
                  caption_field: str | None = None) -> dict:
    import polars as pl
    import t3

    caps = t3.read_captions(corpus, format=corpus_format, caption_field=caption_field)
    caps = caps.captions
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cap = caps[rng.randrange(len(caps))]
        words = sorted({w for w in re.findall(r"[a-z]+", cap.lower()) if w not in _STOP})
        user = rng.choice(INSTRUCTIONS).format(w=", ".join(words))
        rows.append({"id": f"generic-{i}", "task": "generic", "subtask": "describe",
                     "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": cap}],
                     "options": [], "answer": "", "captions": [cap], "n_frames": 1})
    manifest = {"kind": "generic", "version": VERSION, "n": n, "seed": seed,
                "content_hash": stable_hash({"v": VERSION, "n": n, "seed": seed, "rows": [r["messages"] for r in rows]})}
    with atomic_dir(out) as tmp:
        pl.DataFrame(rows).write_parquet(tmp / "train.parquet")
        write_json(tmp / "manifest.json", manifest)
    return manifest
