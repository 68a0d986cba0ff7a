"""The evaluation stage: every variant's adapter in one engine, text and video benchmarks, offline scores.

    from ablate.eval.benchmarks import BenchSpec
    from ablate.eval.stage import evaluate
    evaluate("smol", {"base": None, "t3": Path("runs/train/abc")},
             [BenchSpec("t3-probe", "runs/synth/x"), BenchSpec("world-video")], out=Path("runs/eval/y"))

    $ ablate eval --base smol --adapter t3=runs/train/abc --bench t3-probe=runs/synth/x --bench world-video
    $ ablate rescore runs/eval/y

`evaluate` is four steps: build requests (ablate.eval.requests: the embedded prompt-embedding path or
a VLM checkpoint's served path, chosen once), wrap the engine in the generation cache
(ablate.eval.gencache.CachingEngine), generate in chunks (`generate_chunks`), write rows
(ablate.eval.outputs).

Writes out/predictions.parquet (one row per variant x benchmark x item), out/scores.parquet
(ablate.eval.scoring) and out/eval.json (what was evaluated). Generations are cached per item under
node_cache_root()/eval/generations.sqlite, keyed by (base hash, adapter weights sha256, item content
hash, frames, sampling, prompt version): a rerun answers from the cache without starting an
engine, and retraining an adapter in place changes its sha256 and so misses. Scores are always
recomputed from replies, so a scorer change never serves stale scores.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ablate.core import UserError, stable_hash
from ablate.eval.benchmarks import PROMPT_VERSION, REGISTRY, BenchSpec, load_items
from ablate.eval.engines.base import SamplingParams, adapter_sha256
from ablate.eval.gencache import CachingEngine
from ablate.eval.outputs import prediction_row, write_outputs
from ablate.eval.requests import Prepared, RequestBuilder, request_builder
from ablate.eval.reuse import reuse_order
from ablate.eval.scoring import SCORERS_VERSION, SCORING_MODES
from ablate.eval.video import VideoError

EVAL_VERSION = 1  # bump when request construction (video prompt layout, chat template use) changes
CHUNK = 1024  # requests per engine call: big enough to keep vLLM's batch full, small for live progress
MIN_CHUNK = 64  # a smaller evaluation still reports progress in quarters: chunks of a quarter of it, at least this
EMBED_BUDGET = 1 << 30  # bytes of video prompt embeddings held at once (one chunk)


def evaluate(base, adapters: dict[str, Path | None], benchmarks: list[BenchSpec], out: str | Path,
             engine: str = "vllm", frames: int = 8, max_tokens: int = 24, progress_cb: Callable | None = None,
             sampling: SamplingParams | None = None, show_progress: bool = True, scoring: str = "ablate",
             items: tuple[int, int] | None = None) -> Path:
    """Evaluate every variant on every benchmark; write predictions/scores Parquet into `out`.

    scoring: "ablate" (official rules, then judge-free fallbacks) or "official" (official rules only);
    recorded in every prediction row and in eval.json.
    items=(i, n): only the items at positions i, i+n, ... of each benchmark (one of n item shards,
    whose predictions together are those of the whole benchmark).

    progress_cb(benchmark, done, total, info) is called after each engine chunk, with done/total counted
    over all benchmarks x variants of this call (for the sweep's live table); info has hits, requests_per_s.
    """
    from ablate.base import resolve_base

    if not adapters:
        raise UserError("evaluate: no variants given (adapters is empty)")
    if scoring not in SCORING_MODES:
        raise UserError(f"evaluate: scoring {scoring!r} is not one of {list(SCORING_MODES)}")
    base, sampling = resolve_base(base), sampling or SamplingParams(max_tokens=max_tokens)
    _check_inputs(base, adapters, engine)
    paths = {v: (Path(p) if p is not None else None) for v, p in adapters.items()}
    shas = {v: adapter_sha256(p) for v, p in paths.items()}
    lanes = {v: v if p is not None else None for v, p in paths.items()}  # the engine's adapter name; None: base
    rb = request_builder(base, engine, frames, any(p is not None for p in paths.values()),
                         video=any(REGISTRY[b.name].modality == "video" for b in benchmarks))
    # every benchmark file is read (and a malformed one reported) before any engine starts
    loaded = [(spec, rb.prepare(_shard(load_items(spec), items))) for spec in benchmarks]
    tally, rows = _Tally(len(paths) * sum(len(p) for _, p in loaded), progress_cb, show_progress), []
    with CachingEngine(lambda: rb.engine(paths)) as ce:
        for spec, prepared in loaded:
            work = [(v, p, _key(rb.cache_key, shas[v], p, frames, sampling)) for v in paths for p in prepared]
            with tally.bench(spec.name, len(work)):
                replies, hits = generate_chunks(work, rb, ce, lanes, sampling, tally)
            rows += [prediction_row(v, shas[v], p, replies.get(k), k in hits, scoring) for v, p, k in work]
    return write_outputs(out, rows, {"base": str(getattr(base, "root", "")), "base_hash": base.hash,
                                     "adapters": {v: {"path": str(p) if p else None, "sha256": shas[v]} for v, p in adapters.items()},
                                     "benchmarks": [{"name": b.name, "path": str(b.path) if b.path else None, "options": b.options} for b in benchmarks],
                                     "engine": engine, "route": rb.route, "route_notice": rb.notice, "frames": frames,
                                     "sampling": sampling.key(), "scorers": SCORERS_VERSION, "scoring": scoring,
                                     "prompt_version": PROMPT_VERSION, "engine_stats": ce.stats})


def generate_chunks(work: list, rb: RequestBuilder, ce: CachingEngine, lanes: dict, sampling: SamplingParams,
                    tally: "_Tally") -> tuple[dict, set]:
    """Replies for (variant, item, key) triples: cached ones first, then the rest in chunks of at most
    CHUNK requests (a quarter of the work for smaller evaluations, so progress shows) / EMBED_BUDGET bytes of
    video input; returns (key -> reply, keys served from the cache).

    Item-major order: an item's prompt embeddings serve all variants back to back and are dropped after
    their chunk, so memory stays bounded for real video LLMs too; items that share a prompt prefix sit next
    to each other (ablate.eval.reuse) for the engine's prefix cache. An item whose video fails becomes an
    error row (its Prepared.error) for every variant.
    """
    hits = ce.cached([k for _, p, k in work if p.error is None])
    tally.advance(sum(1 for _, p, k in work if p.error is not None or k in hits), len(hits))
    todo = [w for w in reuse_order(work) if w[1].error is None and w[2] not in hits]
    replies, pos, n0, s0 = dict(hits), 0, ce.requests, ce.seconds
    size = min(CHUNK, max(MIN_CHUNK, -(-len(todo) // 4)))  # at least four progress reports where it is long enough
    while pos < len(todo):
        reqs, keys, memo, nbytes, start = [], [], {}, 0, pos
        while pos < len(todo) and len(reqs) < size and nbytes < EMBED_BUDGET:
            v, p, k = todo[pos]
            pos += 1
            if p.error is not None:  # its video failed for an earlier variant
                continue
            try:
                req, added = rb.request(p, lanes[v], sampling, memo)
            except VideoError as e:
                p.error = str(e)
                continue
            reqs.append(req)
            keys.append(k)
            nbytes += added
        replies.update(ce.generate(keys, reqs))
        rate = (ce.requests - n0) / max(ce.seconds - s0, 1e-9)  # engine start and feature extraction excluded
        tally.advance(pos - start, len(hits), rate)
    return replies, set(hits)


def _check_inputs(base, adapters: dict[str, Path | None], engine: str) -> None:
    """Before any engine starts: the base dir is what its config says and every adapter fits it
    (shapes, target modules, the engine's LoRA rank limit); UserError naming them otherwise."""
    from ablate.eval.engines import engine_max_lora_rank
    from ablate.models.checks import adapter_problems, check_base

    check_base(base)
    bad = adapter_problems(base, adapters, engine_max_lora_rank(engine), engine)
    if bad:
        raise UserError("\n".join(f"variant {v}: {why}" for v, why in bad.items()))


class _Tally:
    """Progress over all benchmarks x variants of one evaluate() call: one bar per benchmark, and the
    caller's progress_cb(benchmark, done, total, info)."""

    def __init__(self, total: int, cb: Callable | None, show: bool):
        self.total, self.cb, self.show, self.done = total, cb, show, 0

    @contextmanager
    def bench(self, name: str, total: int):
        from ablate.ui import progress

        with progress(f"eval {name}", total=total, enabled=self.show) as self.bar:
            self.name = name
            yield self

    def advance(self, n: int, hits: int, rate: float | None = None) -> None:
        self.done += n
        self.bar.advance(n, hits=hits, **({} if rate is None else {"req_s": f"{rate:.1f}"}))
        if self.cb:
            self.cb(self.name, self.done, self.total, {"hits": hits, "requests_per_s": rate or 0.0})


def _key(base_key: str, sha: str, p: Prepared, frames: int, sampling: SamplingParams) -> str:
    frames = frames if p.item.modality == "video" else 0
    return stable_hash([base_key, sha, p.item.content_hash(p.vhash), frames, sampling.key(), PROMPT_VERSION,
                        EVAL_VERSION], n=32)


def _shard(xs: list, items: tuple[int, int] | None) -> list:
    return xs[items[0]::items[1]] if items else xs
