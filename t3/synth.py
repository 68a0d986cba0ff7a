"""Synthesize a T3 train set and a held-out probe set from a caption corpus.

    >>> import t3
    >>> spec = t3.SynthSpec(mix={"order": 1, "attribute": 1}, n=1000, probe_n=200, frames=4, seed=0)
    >>> manifest = t3.synthesize("captions.json", "out/t3", spec)          # doctest: +SKIP
    >>> manifest["content_hash"]                                            # doctest: +SKIP

Guarantees:
- Deterministic: the same corpus, spec and seed give byte-identical files.
- Nested: sample i depends only on (seed, split, i) and the corpus, never on n: the family and
  subtask of sample i come from a deterministic schedule over the mix, its correct letter from a
  seeded permutation per block of `n_options` items of that subtask (so letters are exactly balanced
  per block), and its random draws from an RNG re-seeded every 1024 samples. So the first k rows of
  an n-row set are the k-row set.
- Train and probe items draw on disjoint caption pools (split by caption, see t3.pool).
"""

from __future__ import annotations

import itertools
import random
import zlib
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from pathlib import Path

from t3.util import UserError
from t3.families import FAMILIES
from t3.layout import LETTERS
from t3.paraphrase import CLOSINGS, INTROS

GENERATOR_VERSION = "t3-synth-1"
_BLOCK = 1024  # the RNG is re-seeded every _BLOCK samples (cheap, and keeps sample i independent of n)


@dataclass(frozen=True)
class SynthSpec:
    """What to synthesize. Everything here (plus the corpus) determines the output bytes."""

    mix: dict[str, float] = field(default_factory=lambda: {f: 1.0 for f in FAMILIES})  # family -> weight
    n: int = 10_000  # training samples
    probe_n: int = 1_000  # held-out probe samples (captions disjoint from training)
    frames: int = 4  # base number of captions (frames) per sample, >= 3
    length_scale: int = 1  # the paper's 1x/2x/4x/8x: frames per sample = frames * length_scale
    seed: int = 0
    probe_fraction: float = 0.1  # share of the corpus's captions reserved for the probe set
    first_sentence: bool = True  # cut captions to their first sentence, as the paper does
    max_chars: int = 400  # captions longer than this (after the cut) are dropped

    def __post_init__(self):
        if not isinstance(self.mix, dict) or not self.mix:
            raise UserError("mix: give at least one family, e.g. order=1,attribute=1")
        for k, v in self.mix.items():
            if k not in FAMILIES:
                raise UserError(f"mix: unknown family `{k}` (known: {', '.join(FAMILIES)})")
            if not isinstance(v, (int, float)) or v < 0:
                raise UserError(f"mix: weight of `{k}` must be a number >= 0, got {v!r}")
        if sum(self.mix.values()) <= 0:
            raise UserError("mix: at least one family needs a weight > 0")
        for name, lo in (("n", 0), ("probe_n", 0), ("frames", 3), ("length_scale", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < lo:
                raise UserError(f"{name}: must be an integer >= {lo}, got {v!r}")
        if not 0 < self.probe_fraction < 1:
            raise UserError(f"probe_fraction: must be in (0, 1), got {self.probe_fraction}")
        # normalise so that {"order": 1} and {"order": 1.0} hash alike; drop zero weights
        object.__setattr__(self, "mix", {k: float(self.mix[k]) for k in FAMILIES if self.mix.get(k, 0) > 0})

    @property
    def n_frames(self) -> int:
        return self.frames * self.length_scale


def parse_mix(text: str) -> dict[str, float]:
    """"order=1,attribute=2" -> {"order": 1.0, "attribute": 2.0}; "all" = every family, weight 1."""
    if text.strip() == "all":
        return {f: 1.0 for f in FAMILIES}
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, val = part.partition("=")
        name = name.strip()
        if name not in FAMILIES:
            raise UserError(f"--mix: unknown family `{name}` in `{text}` (known: {', '.join(FAMILIES)})")
        try:
            mix[name] = float(val) if eq else 1.0
        except ValueError:
            raise UserError(f"--mix: weight of `{name}` is not a number: `{val}`") from None
    if not mix:
        raise UserError(f"--mix: no family in `{text}` (e.g. order=1,attribute=1)")
    return mix


def _h(*parts) -> int:
    """A stable 32-bit hash of small values (Python's hash() is salted per process)."""
    return zlib.crc32(repr(parts).encode())


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a well-mixed 64-bit hash of an int, in a few integer operations."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def schedule(mix: dict[str, float], n: int, subtasks: dict[str, tuple[str, ...]]):
    """Yield (si, k) for samples 0..n-1: si indexes the (family, subtask) pairs in mix order, k counts
    the earlier samples of that pair.

    The family of sample i is the one furthest behind its target share after i samples (ties: mix
    order), so every prefix follows the mix as closely as integers allow, and nothing depends on n.
    A family's subtasks take turns.
    """
    fams = list(mix)
    total = sum(mix.values())
    share = [mix[f] / total for f in fams]
    first = [0]  # index of each family's first pair
    for f in fams:
        first.append(first[-1] + len(subtasks[f]))
    n_sub = [len(subtasks[f]) for f in fams]
    fam_count = [0] * len(fams)
    pair_count = [0] * first[-1]
    nf = range(len(fams))
    for i in range(1, n + 1):
        best, j = -1e18, 0
        for f in nf:
            d = share[f] * i - fam_count[f]
            if d > best + 1e-9:  # strict: ties go to the earlier family
                best, j = d, f
        si = first[j] + fam_count[j] % n_sub[j]
        fam_count[j] += 1
        k = pair_count[si]
        pair_count[si] = k + 1
        yield si, k


MAX_OPTIONS = 4
_PAD = {m: [None] * (MAX_OPTIONS - m) for m in range(1, MAX_OPTIONS)}
_LETTER_PERMS = {m: list(itertools.permutations(range(m))) for m in (1, 2, 3, 4)}


def _letter_order(m: int, pos: int, dperm: tuple[int, ...]):
    """A getter: builder options (correct first) -> the options in letter order, the distractors in
    the order `dperm` and the correct one at letter `pos`."""
    order = [1 + j for j in dperm]
    order.insert(pos, 0)
    return itemgetter(*order)


# _IN_LETTER_ORDER[m][pos][d]: the getter for m options, correct at letter pos, distractor permutation d
_IN_LETTER_ORDER = {m: [[_letter_order(m, pos, dp) for dp in _LETTER_PERMS[m - 1]] for pos in range(m)]
                    for m in (2, 3, 4)}


def generate(pool, spec: SynthSpec, split: str, n: int) -> dict[str, list]:
    """Build n samples from a pool as columns (lists); see the module docstring for the guarantees.

    Only the per-sample choices are made here; the prompt strings are assembled column-wise in _frame
    (formatting them here was a fifth of the run time).
    """
    frames = spec.n_frames
    need = frames + 1 if "referring" in spec.mix else frames
    if len(pool.by_phrase) < need:
        raise UserError(f"the {split} split of the corpus has only {len(pool.by_phrase)} distinct key phrases; "
                        f"{need} are needed for {frames} frames (use fewer frames or a larger corpus)")
    subtasks = {f: FAMILIES[f].subtasks for f in spec.mix}
    if "attribute" in spec.mix:
        if not pool.attr:
            raise UserError(f"the {split} split of the corpus has no caption with a known attribute word "
                            "(colour, size, lighting, ...), so the attribute family cannot be built")
        if not pool.ordinal:
            subtasks["attribute"] = ("from_to",)
    names = ("task", "subtask", "question", "correct", "answer", "intro", "closing", "options_flat", "frames_flat")
    cols: dict[str, list] = {k: [] for k in names}
    a_task, a_sub, a_q, a_correct, a_ans, a_intro, a_close = (cols[k].append for k in names[:7])
    o_flat, f_flat = cols["options_flat"], cols["frames_flat"]
    rng = random.Random()
    rand = rng.random
    n_intro, n_close = len(INTROS), len(CLOSINGS)
    # per (family, subtask) state, indexed by the schedule's `si`: builder, option count, letter salt
    pairs = [(f, sb) for f in spec.mix for sb in subtasks[f]]
    builder = [FAMILIES[f].build for f, _ in pairs]
    salt = [_h(spec.seed, split, f, sb) << 32 for f, sb in pairs]
    perm_of: list[tuple[int, ...]] = [()] * len(pairs)
    for i, (si, k) in enumerate(schedule(spec.mix, n, subtasks)):
        if i % _BLOCK == 0:
            rng.seed(_h(spec.seed, split, i // _BLOCK))
        fam, sub = pairs[si]
        frame_ids, question, options, _ = builder[si](rng, pool, frames, sub)
        m = len(options)
        if k % m == 0:  # a new block of m items of this subtask: a fresh seeded letter permutation
            perms = _LETTER_PERMS[m]
            perm_of[si] = perms[_mix64(salt[si] + k // m) % len(perms)]
        pos = perm_of[si][k % m]
        # the options in letter order: distractors in a random order, the correct one at its scheduled letter
        getters = _IN_LETTER_ORDER[m][pos]
        o_flat += getters[int(rand() * len(getters))](options)
        if m < MAX_OPTIONS:
            o_flat += _PAD[m]
        a_intro(int(rand() * n_intro))  # which paraphrase of the prompt's first and last line
        a_close(int(rand() * n_close))
        a_ans(LETTERS[pos])
        a_correct(options[0])
        a_q(question)
        f_flat += frame_ids
        a_task(fam)
        a_sub(sub)
    cols["id_prefix"] = "t3" if split == "train" else "probe"  # ids are "<prefix>-0000042", made in _frame
    cols["text"] = pool.text
    return cols


def _frame(cols: dict[str, list], n_frames: int):
    """Columns (lists) -> the Parquet table.

    Everything is built column-wise by Polars from the flat lists: list columns from flat columns
    reshaped to fixed width (options padded to 4 with nulls, then dropped; captions gathered from the
    pool's text by frame index), and the prompt strings by concatenating columns. Building them in
    Python (lists of lists, str.format per sample) costs more than generating the samples. No
    pyarrow/numpy: their imports alone cost a tenth of a 200k-sample run.
    """
    import polars as pl

    n = len(cols["answer"])
    msg_type = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
    if n == 0:
        return pl.DataFrame(schema={"id": pl.String, "task": pl.String, "subtask": pl.String, "messages": msg_type,
                                    "options": pl.List(pl.String), "answer": pl.String,
                                    "captions": pl.List(pl.String), "n_frames": pl.Int64})

    def strings(name: str) -> pl.Series:
        return pl.Series(name, cols[name], dtype=pl.String)

    def pick(table, name: str) -> pl.Series:  # table[j] for each index j in cols[name]
        return pl.Series(name, table, dtype=pl.String).gather(pl.Series(cols[name], dtype=pl.UInt32))

    parts = pl.DataFrame([
        strings("task"), strings("subtask"), strings("question"), strings("correct"), strings("answer"),
        pick(INTROS, "intro"), pick(CLOSINGS, "closing"),
        strings("options_flat").reshape((n, MAX_OPTIONS)).alias("options"),  # Array(String, 4), nulls pad
        pick(cols["text"], "frames_flat").reshape((n, n_frames)).alias("captions"),  # Array(String, n_frames)
    ])
    opts, caps = pl.col("options"), pl.col("captions")
    # == t3.layout.text_video_prompt(captions, question, options, intro, closing) (tested equal), as one
    # concatenation of columns (each intermediate string column costs a copy): intro, captions one per
    # line, question, "(A) option" lines, closing. A padding option (null) nulls its line, which the
    # outer concatenation skips.
    option_lines = [pl.concat_str([pl.lit(f"({LETTERS[j]}) "), opts.arr.get(j), pl.lit("\n")])
                    for j in range(MAX_OPTIONS)]
    user = pl.concat_str([pl.col("intro"), pl.lit("\n\nCaptions:\n")]
                         + [x for t in range(n_frames) for x in (caps.arr.get(t), pl.lit("\n"))]
                         + [pl.lit("Question: "), pl.col("question"), pl.lit("\n"), *option_lines, pl.col("closing")],
                         ignore_nulls=True)
    assistant = pl.concat_str([pl.lit("("), pl.col("answer"), pl.lit(") "), pl.col("correct")])  # == answer_text
    turns = parts.select(user=user, assistant=assistant)
    # messages: the 2n turns user_0, assistant_0, user_1, ... reshaped to n rows of 2 (a concat_list
    # of two struct columns is 10x slower). Rechunked first: a gather from two chunks copies the strings,
    # from one it only moves their 16-byte views.
    j = pl.int_range(2 * n, dtype=pl.Int64)
    content = (pl.concat([turns["user"], turns["assistant"]]).rechunk()
               .gather(pl.select(j // 2 + j % 2 * n).to_series()))
    messages = pl.select(role=pl.when(j % 2 == 0).then(pl.lit("user")).otherwise(pl.lit("assistant")),
                         content=content).to_struct("messages").reshape((n, 2)).cast(msg_type)
    return parts.select(
        id=pl.lit(cols["id_prefix"] + "-") + pl.int_range(n, dtype=pl.Int64).cast(pl.String).str.zfill(7),
        task="task",
        subtask="subtask",
        messages=pl.lit(messages),
        options=opts.arr.to_list().list.drop_nulls(),
        answer="answer",
        captions=caps.arr.to_list(),
        n_frames=pl.lit(n_frames, dtype=pl.Int64),
    )


def counts(cols: dict[str, list]) -> dict:
    """Counts per family, subtask and letter (for the manifest and the CLI's summary table)."""
    from collections import Counter

    per_item = Counter(zip(cols["task"], cols["subtask"], cols["answer"]))  # one pass; the rest sums it
    per_family, per_subtask, per_letter, per_fl = Counter(), Counter(), Counter(), Counter()
    for (task, sub, letter), c in per_item.items():
        per_family[task] += c
        per_subtask[task, sub] += c
        per_letter[letter] += c
        per_fl[task, letter] += c
    return {
        "n": len(cols["answer"]),
        "per_family": dict(sorted(per_family.items())),
        "per_subtask": {f"{a}/{b}": c for (a, b), c in sorted(per_subtask.items())},
        "per_letter": dict(sorted(per_letter.items())),
        "per_family_letter": {f: {l: c for (ff, l), c in sorted(per_fl.items()) if ff == f}
                              for f in sorted(per_family)},
    }


def spec_dict(spec: SynthSpec) -> dict:
    return asdict(spec)


def corpus_sha256(files: list[str]) -> str:
    """sha256 of the corpus files' bytes (one file: its own sha256)."""
    import hashlib

    from t3.util import file_sha256

    shas = [file_sha256(f) for f in files]
    return shas[0] if len(shas) == 1 else hashlib.sha256("\n".join(shas).encode()).hexdigest()


def synthesize(corpus, out, spec: SynthSpec, corpus_format: str = "auto", caption_field: str | None = None,
               export: tuple[str, ...] = (), overwrite: bool = False) -> dict:
    """Write out/train.parquet, out/probe.parquet, out/manifest.json (atomically); return the manifest.

    If `out` already holds a finished set with the same content_hash it is returned as is, unless
    overwrite=True. `export=("llava",)` also writes train_llava.json / probe_llava.json.
    """
    import json

    from t3.util import read_json, stable_hash, atomic_dir, write_json
    from t3.corpus import read_captions
    from t3.pool import build_pools

    for e in export:
        if e != "llava":
            raise UserError(f"--export: unknown format `{e}` (known: llava)")
    out = Path(out)
    corpus_obj = read_captions(corpus, corpus_format, caption_field, spec.first_sentence, spec.max_chars)
    sha = corpus_sha256(corpus_obj.files)
    content_hash = stable_hash({"spec": spec_dict(spec), "corpus_sha256": sha, "format": corpus_obj.format,
                                "caption_field": caption_field, "export": sorted(export),
                                "version": GENERATOR_VERSION})
    if (out / "manifest.json").exists() and not overwrite:
        old = read_json(out / "manifest.json")
        if old.get("content_hash") == content_hash:
            return old
    train_pool, probe_pool = build_pools(corpus_obj.captions, spec.seed, spec.probe_fraction)
    train = generate(train_pool, spec, "train", spec.n)
    probe = generate(probe_pool, spec, "probe", spec.probe_n) if spec.probe_n else None
    manifest = {
        "content_hash": content_hash,
        "generator_version": GENERATOR_VERSION,
        "spec": spec_dict(spec),
        "n_frames": spec.n_frames,
        "corpus": {
            "path": corpus_obj.path, "format": corpus_obj.format, "caption_field": caption_field,
            "sha256": sha, "n_records": corpus_obj.n_records, "n_captions": len(corpus_obj.captions),
            "dropped": corpus_obj.dropped,
            "train_pool": {"captions": len(train_pool.captions), "phrases": len(train_pool.phrases),
                           "with_attribute": len(train_pool.attr)},
            "probe_pool": {"captions": len(probe_pool.captions), "phrases": len(probe_pool.phrases),
                           "with_attribute": len(probe_pool.attr)},
        },
        "train": counts(train),
        "probe": counts(probe) if probe else {"n": 0},
        "files": ["train.parquet", "probe.parquet"] + [f"{s}_llava.json" for s in ("train", "probe") if export],
    }
    empty = {k: [] for k in train}
    empty["id_prefix"] = "probe"
    with atomic_dir(out, overwrite=True) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it 0700; the result is shared like any output directory
        for name, cols in (("train", train), ("probe", probe or empty)):
            df = _frame(cols, spec.n_frames)
            df.write_parquet(tmp / f"{name}.parquet", compression="lz4", statistics=False)
            if "llava" in export:
                import polars as pl

                turns = df.select("id", user=pl.col("messages").list.get(0).struct.field("content"),
                                  assistant=pl.col("messages").list.get(1).struct.field("content"))
                rows = [{"id": i, "conversations": [{"from": "human", "value": u}, {"from": "gpt", "value": a}]}
                        for i, u, a in turns.iter_rows()]
                (tmp / f"{name}_llava.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        write_json(tmp / "manifest.json", manifest)
    return manifest
