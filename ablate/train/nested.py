"""Nested volumes in one run: the adapters of n1 < n2 < ... rows, each equal to its own warmup-stable-decay run.

    from ablate.train import TrainOptions
    from ablate.train.nested import train_nested
    opts = TrainOptions(lr_scheduler="wsd", warmup_steps=10, decay_ratio=0.1, batch_size=8)
    manifests = train_nested("micro", "runs/t3", {500: "runs/a500", 1000: "runs/a1000"}, opts)

Why it is exact. A wsd run of T steps (ablate.train.loop, lr_scheduler = "wsd") takes the rows in pool order
and uses the learning-rate factor `wsd_factor(s, W, T, D)`: a warmup over W = warmup_steps steps, 1.0 (stable)
until step T - D, then a linear decay over D = ceil(decay_ratio * T) steps. Up to step T - D the run does not
depend on T at all: same rows, same factors, same optimizer. So one *trunk* runs the stable phase, and at
S_k = T_k - D_k it branches: the LoRA weights, AdamW's state and the RNG state are copied, the branch trains
rows [S_k, T_k) with the decaying factors of a T_k-step run, its adapter is saved as volume k, and the copy
is restored so the trunk goes on from S_k as if the branch had never run. Every saved adapter is the one an
independent `train_adapter(..., n=v_k)` with the same options gives (same rows, same steps, same factors,
same arithmetic), so its manifest carries that run's `hash` and a later train_adapter call returns it as
done. tests/test_train_nested.py checks the adapter tensors against independent runs.

Replay (options.replay_ratio > 0 with a replay file) is interleaved into the pool order (ablate.train.data:
after the k-th T3 row, the replay rows that bring their count to replay_count(k, ratio)), so a volume of v T3
rows is the first v + replay_count(v, ratio) rows of the stream, and those row counts are what the steps,
the nest unit and the segments are counted in.

Cost: T_max + sum(D_k for k < K) steps instead of sum(T_k): with decay_ratio 0.1 and volumes doubling,
about 0.6x. The run is one TRL SFTTrainer over a row stream that lists the trunk and branch segments in
order (the branch rows come twice: once in the branch, once in the trunk); a TrainerCallback snapshots
and restores at the segment ends. Requirements (UserError otherwise): lr_scheduler = "wsd", epochs = 1,
no max_steps, each volume a multiple of `nest_unit(options)` (batch_size * grad_accum, times group_window
with group_by_length: length-sorted windows never straddle a volume), warmup_steps + D_k <= T_k.

Time: each manifest's `train_seconds` is the run's wall time until that adapter was saved (the trunk so far
and every earlier branch); `nested.own_seconds` is the part that volume adds (the trunk since the previous
branch, plus its own branch): over the volumes of one run they sum to the run's training time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from ablate.core import UserError
from ablate.train.schedule import decay_steps, wsd_factor, wsd_lambda  # noqa: F401  (public here too)


@dataclass(frozen=True)
class Segment:
    """A stretch of the nested run: run steps [start, start + length) of a wsd run of `total` steps
    (inf: the trunk); `volume` is the index of the volume a branch saves (None for the trunk)."""

    start: int
    length: int
    total: float
    volume: int | None


def nest_unit(options) -> int:
    """Rows every nested volume is a multiple of: one optimizer step (batch_size x grad_accum), times
    group_window with group_by_length (a volume must end where a length-sorted window ends)."""
    per_step = options.batch_size * options.grad_accum
    return per_step * options.group_window if options.group_by_length else per_step


def nest_unit_text(options) -> str:
    """How nest_unit is made up, for error messages."""
    if options.group_by_length:
        return f"batch_size x grad_accum x group_window = {nest_unit(options)}"
    return f"batch_size x grad_accum = {nest_unit(options)}"


def plan_segments(options, volumes: list[int]) -> list[Segment]:
    """Trunk and branch segments, in the order the run trains them, for sorted `volumes` (rows trained on,
    replay rows included)."""
    per_step = options.batch_size * options.grad_accum
    segments, at = [], 0
    for k, v in enumerate(volumes):
        if v % nest_unit(options):
            raise UserError(f"nested volume of {v} rows: not a multiple of {nest_unit_text(options)} (each volume must "
                            "end on an optimizer step" + (", and on a length window" if options.group_by_length
                                                         else "") + ")")
        total = v // per_step
        wsd_lambda(options, total)  # warmup + decay fit
        stable_end = total - decay_steps(options, total)
        segments.append(Segment(at, stable_end - at, math.inf, None))
        segments.append(Segment(stable_end, total - stable_end, total, k))
        at = stable_end
    return [s for s in segments if s.length > 0]


def stream_lambda(options, segments: list[Segment]):
    """Global step of the nested run -> the factor its run step has in its segment's wsd run."""
    table = [wsd_factor(seg.start + j, options.warmup_steps, seg.total, decay_steps(options, seg.total)
                        if seg.total != math.inf else 0)
             for seg in segments for j in range(seg.length)]
    return lambda g: table[min(g, len(table) - 1)]


def train_nested(base, data, outs: dict, options, mix: dict | None = None, show_progress: bool = True,
                 on_step=None, replay=None) -> dict:
    """Train the adapters of every volume in `outs` ({rows: out dir}) in one wsd run; {rows: manifest}.

    Each adapter, its manifest and hash are those train_adapter(base, data, out, n=rows, options, mix, replay)
    writes (rows: T3 rows; replay rows come on top at options.replay_ratio); finished ones (same hash) are kept and the run is skipped when all are finished (the sweep
    passes only the volumes whose directories are not done). on_step(step, total_steps, loss, samples_per_s)
    after every optimizer step of the run (trunk and branches), as train_adapter's.
    """
    from ablate.base import resolve_base
    from ablate.core import read_json, stable_hash
    from ablate.train.data import select_examples
    from ablate.train.loop import device_and_precision
    from ablate.train.stage import adapter_done, run_identity

    if options.lr_scheduler != "wsd":
        raise UserError(f"nested volumes need lr_scheduler = \"wsd\" (got {options.lr_scheduler!r}): only a "
                        "warmup-stable-decay run shares its steps with the shorter runs")
    if options.max_steps is not None or options.epochs != 1:
        raise UserError("nested volumes train one epoch: leave max_steps unset and epochs = 1")
    if not outs or any(not isinstance(v, int) or v < 1 for v in outs):
        raise UserError(f"nested volumes must be integers >= 1 (got {sorted(outs)})")
    volumes = sorted(outs)
    sels = {v: select_examples(data, v, mix=mix, replay=replay, replay_ratio=options.replay_ratio) for v in volumes}
    segments = plan_segments(options, [len(sels[v].examples) for v in volumes])
    for v in volumes:
        out = Path(outs[v])
        if out.exists() and not (out / "manifest.json").is_file() and any(out.iterdir()):
            raise UserError(f"{out}: exists and is not an adapter directory; refusing to overwrite it")
    tbase = resolve_base(base)
    from ablate.models.checks import check_base

    check_base(tbase)  # before the trainer: a broken base says so at once
    device, precision = device_and_precision(options.precision)
    full = sels[volumes[-1]].examples
    for v in volumes:
        if sels[v].examples != full[:len(sels[v].examples)]:
            raise UserError(f"{data}: the selection of {v} rows is not a prefix of the selection of {volumes[-1]}")
    idents = {v: run_identity(tbase, sels[v], options, mix, precision) for v in volumes}
    hashes = {v: stable_hash(idents[v]) for v in volumes}
    done = {v: read_json(Path(outs[v]) / "manifest.json") for v in volumes if adapter_done(outs[v])}
    done = {v: m for v, m in done.items() if m.get("hash") == hashes[v]}
    if len(done) == len(volumes):
        return done
    return _run(tbase, sels, outs, options, idents, hashes, segments, device, precision, show_progress, on_step)


def _run(tbase, sels, outs, options, idents, hashes, segments, device, precision, show_progress, on_step) -> dict:
    import ablate  # noqa: F401 - before transformers / peft / trl
    import tempfile

    from ablate.train.data import training_order
    from ablate.train.loop import make_trainer
    from ablate.ui import progress

    per_step = options.batch_size * options.grad_accum
    volumes = sorted(outs)
    full = training_order(sels[volumes[-1]].examples, options)  # its first rows: a smaller volume's order
    stream = [ex for seg in segments for ex in full[seg.start * per_step:(seg.start + seg.length) * per_step]]
    total = sum(seg.length for seg in segments)
    manifests: dict = {}
    cb = _nested_callback(tbase, sels, outs, options, idents, hashes, segments, device, precision, manifests)
    cb.on_step = on_step
    with tempfile.TemporaryDirectory(prefix="ablate-nested-") as work:
        trainer, targets = make_trainer(tbase.lm_dir, stream, options, Path(work), device, precision, [cb])
        trainer.lr_lambda_for = lambda steps: _checked(stream_lambda(options, segments), steps, total)
        cb.targets, cb.lengths = targets, [len(x) for x in trainer.train_dataset["input_ids"]]
        with progress("train (nested)", total=total, enabled=show_progress) as bar:
            cb.bar = bar if show_progress else None
            trainer.train()
    return manifests


def _checked(fn, steps: int, total: int):
    if steps != total:
        raise UserError(f"nested run: the trainer plans {steps} steps, the segments {total} (rows dropped?)")
    return fn


def _nested_callback(tbase, sels, outs, options, idents, hashes, segments, device, precision, manifests):
    """Snapshot at each trunk end, save + restore at each branch end (in on_log: after the step's loss row)."""
    import torch
    from transformers import TrainerCallback

    ends, g = {}, 0
    for seg in segments:
        g += seg.length
        ends[g] = seg
    per_step = options.batch_size * options.grad_accum

    class _Nested(TrainerCallback):
        bar = targets = lengths = on_step = None

        def on_train_begin(self, args, state, control, **kw):
            self.t0, self.rows, self.saved = time.perf_counter(), [], None
            self.last_save = self.t0  # own_seconds: the time since the previous branch's save

        def on_log(self, args, state, control, logs=None, model=None, optimizer=None, **kw):
            if not logs or "loss" not in logs:
                return
            g = state.global_step
            seg_start = max([e for e in ends if e < g], default=0)
            seg = ends[min(e for e in ends if e >= g)]
            self.rows.append({"step": seg.start + g - seg_start, "loss": float(logs["loss"]),
                              "learning_rate": float(logs.get("learning_rate", 0.0)),
                              "grad_norm": float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
                              "tokens": int(logs.get("num_tokens", 0)), "elapsed_s": time.perf_counter() - self.t0,
                              "volume": seg.volume})
            if self.bar is not None:
                self.bar.advance(1, loss=f"{logs['loss']:.4f}")
            if self.on_step is not None:
                sps = g * per_step / max(time.perf_counter() - self.t0, 1e-9)
                self.on_step(g, state.max_steps, float(logs["loss"]), sps)
            if g not in ends:
                return
            opt = getattr(optimizer, "optimizer", optimizer)
            params = [p for p in model.parameters() if p.requires_grad]
            if seg.volume is None:  # trunk end: what the branch must not change
                self.saved = ([p.detach().clone() for p in params],
                              [{k: v.clone() if torch.is_tensor(v) else v for k, v in opt.state[p].items()} for p in params],
                              torch.get_rng_state())
                return
            v = sorted(outs)[seg.volume]
            manifests[v] = self.write(model, v, g)
            if self.saved is not None and seg.volume < len(outs) - 1:
                weights, states, rng = self.saved
                with torch.no_grad():
                    for p, w, st in zip(params, weights, states):
                        p.copy_(w)
                        opt.state[p] = {k: x.clone() if torch.is_tensor(x) else x for k, x in st.items()}
                torch.set_rng_state(rng)

        def write(self, model, v: int, g: int) -> dict:
            import polars as pl

            from ablate.core import atomic_dir, file_sha256, write_json
            from ablate.train.loop import library_versions, save_adapter

            out, sel = Path(outs[v]), sels[v]
            steps = len(sel.examples) // per_step
            stable_end = steps - decay_steps(options, steps)
            k = sorted(outs).index(v)  # this volume's loss rows: the trunk up to its branch, then the branch
            rows = [{x: r[x] for x in r if x != "volume"} for r in self.rows
                    if (r["volume"] is None and r["step"] <= stable_end) or r["volume"] == k]
            now = time.perf_counter()
            elapsed, own, self.last_save = now - self.t0, now - self.last_save, now
            tokens = _tokens(self.lengths, segments, per_step, len(sel.examples))
            with atomic_dir(out, overwrite=(out / "manifest.json").is_file()) as tmp:
                save_adapter(model, tmp, tbase.lm_dir)
                pl.DataFrame(rows, schema_overrides={"grad_norm": pl.Float64}).write_parquet(tmp / "loss.parquet")
                manifest = {
                    "kind": "lora-adapter", "hash": hashes[v],
                    "adapter_sha256": file_sha256(tmp / "adapter_model.safetensors"),
                    "base": {"spec": str(getattr(tbase, "root", tbase.lm_dir)), "hash": tbase.hash,
                             "lm_dir": str(tbase.lm_dir)},
                    "data": {"source": sel.pool_file, "pool_rows": sel.pool_rows, "content_hash": sel.content_hash,
                             "n": sel.n_t3, "families": sel.families, "replay": sel.replay_file,
                             "n_replay": sel.n_replay},
                    "options": idents[v]["options"], "code_version": idents[v]["code_version"],
                    "precision": precision, "device": device, "batching": options.batching,
                    "target_modules": self.targets, "steps": steps, "samples": len(sel.examples), "epochs": 1.0,
                    "train_tokens": tokens, "final_loss": rows[-1]["loss"],
                    "train_seconds": elapsed, "samples_per_s": g * per_step / max(elapsed, 1e-9),
                    "tokens_per_s": sum(self.lengths[:g * per_step]) / max(elapsed, 1e-9),
                    "nested": {"volumes": sorted(outs), "run_step": g, "own_seconds": own,
                               "note": "saved on the way of one wsd run; equal to an independent run of these rows"},
                    "versions": library_versions(),
                }
                write_json(tmp / "manifest.json", manifest)
            return manifest

    return _Nested()


def _tokens(lengths: list[int], segments: list[Segment], per_step: int, v: int) -> int:
    """Tokens of the first v rows of the run's order (replay included), read off the stream (whose segments
    cover them in order)."""
    seen, at, total = set(), 0, 0
    for seg in segments:
        for j in range(seg.length * per_step):
            row = seg.start * per_step + j
            if row < v and row not in seen:
                seen.add(row)
                total += lengths[at + j]
        at += seg.length * per_step
    return total
