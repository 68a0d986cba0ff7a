"""The evaluation stage: every variant's adapter in one engine, text and video benchmarks, offline scores.

    from ablate.eval.benchmarks import BenchSpec
    from ablate.eval.stage import evaluate
    evaluate("tiny", {"base": None, "t3": Path("runs/train/abc")},
             [BenchSpec("t3-probe", "runs/synth/x"), BenchSpec("world-video")], out=Path("runs/eval/y"))

    $ ablate eval --base tiny --adapter t3=runs/train/abc --bench t3-probe=runs/synth/x --bench world-video
    $ ablate rescore runs/eval/y

Writes out/predictions.parquet (one row per variant x benchmark x item), out/scores.parquet
(ablate.eval.scoring) and out/eval.json (what was evaluated). Generations are cached per item under
node_cache_root()/eval/generations.sqlite, keyed by (base hash, adapter weights sha256, item content
hash, frames, sampling, prompt version): a rerun answers from the cache without starting an
engine, and retraining an adapter in place changes its sha256 and so misses. Scores are always
recomputed from replies, so a scorer change never serves stale scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ablate.eval.benchmarks import PROMPT_VERSION, REGISTRY, BenchSpec, Item, load_items
from ablate.core import UserError, stable_hash
from ablate.eval.engines.base import Request, SamplingParams, adapter_sha256
from ablate.eval.gencache import GenCache
from ablate.eval.outputs import _row, write_outputs
from ablate.eval.reuse import reuse_order
from ablate.eval.scoring import SCORERS_VERSION, SCORING_MODES
from ablate.eval.video import VideoError, resolve_video, video_hash

EVAL_VERSION = 1  # bump when request construction (video prompt layout, chat template use) changes
CHUNK = 1024  # requests per engine call: big enough to keep vLLM's batch full, small for live progress
EMBED_BUDGET = 1 << 30  # bytes of video prompt embeddings held at once (one chunk)


@dataclass
class _Prepared:
    item: Item
    ids: tuple[int, ...] | None = None
    video_path: Path | None = None
    vhash: str | None = None
    error: str | None = None


def _prepare(items: list[Item], tokenizer, frames: int, server=None, layout: str = "frame_k") -> list[_Prepared]:
    from ablate.base.prompts import chat_token_ids, video_user_text

    out = []
    for it in items:
        p = _Prepared(it, error=it.error)
        if p.error is None and it.modality == "video":
            try:
                p.video_path = resolve_video(it.root or ".", it.video or "")
                p.vhash = video_hash(p.video_path)
            except VideoError as e:
                p.error = str(e)
        if p.error is None and server is not None:  # ablate.models VLM: its own template (video ids built later)
            p.ids = tuple(server.text_ids(it.prompt)) if it.modality != "video" else ()
        elif p.error is None:
            text = video_user_text(frames, it.prompt, layout) if it.modality == "video" else it.prompt
            p.ids = tuple(chat_token_ids(tokenizer, text))
        out.append(p)
    return out


def _key(base_hash: str, sha: str, p: _Prepared, frames: int, sampling: SamplingParams) -> str:
    frames = frames if p.item.modality == "video" else 0
    return stable_hash([base_hash, sha, p.item.content_hash(p.vhash), frames, sampling.key(), PROMPT_VERSION,
                        EVAL_VERSION], n=32)


def _shard(xs: list, items: tuple[int, int] | None) -> list:
    return xs[items[0]::items[1]] if items else xs


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
    from transformers import AutoTokenizer

    from ablate.ui import progress

    out = Path(out)
    if not adapters:
        raise UserError("evaluate: no variants given (adapters is empty)")
    if scoring not in SCORING_MODES:
        raise UserError(f"evaluate: scoring {scoring!r} is not one of {list(SCORING_MODES)}")
    from ablate.base import resolve_base

    base = resolve_base(base)
    _check_inputs(base, adapters, engine)
    sampling = sampling or SamplingParams(max_tokens=max_tokens)
    shas = {v: adapter_sha256(Path(p) if p is not None else None) for v, p in adapters.items()}
    server = _model_server(base, engine, frames, any(p is not None for p in adapters.values()))
    tokenizer = server.tok if server else AutoTokenizer.from_pretrained(base.lm_dir)
    base_key = base.hash if server is None else f"{base.hash}:{server.key()}"
    cache = GenCache()
    state = {"engine": None, "encoder": None, "features": None}

    def get_engine():
        if state["engine"] is None and server is not None:
            state["engine"] = server.engine({v: (Path(p) if p else None) for v, p in adapters.items()})
        if state["engine"] is None:
            from ablate.eval.engines import load_engine

            video = any(REGISTRY[b.name].modality == "video" for b in benchmarks)
            state["engine"] = load_engine(engine, base.lm_dir, {v: (Path(p) if p else None) for v, p in adapters.items()},
                                          prompt_embeds=video)
        return state["engine"]

    def embeds_for(p: _Prepared):
        if state["features"] is None:
            from ablate.base.embed import FrameEncoder
            from ablate.eval.video import FeatureCache

            state["encoder"] = FrameEncoder(base)
            state["features"] = FeatureCache(state["encoder"], base.hash, frames)
        feats = state["features"].features(p.video_path, p.vhash)
        from ablate.base.prompts import base_layout, video_user_text

        return state["encoder"].prompt_embeds(feats, video_user_text(frames, p.item.prompt, base_layout(base)))

    # every benchmark file is read (and a malformed one reported) before any engine starts
    from ablate.base.prompts import base_layout

    layout = base_layout(base)
    loaded = [(spec, _prepare(_shard(load_items(spec), items), tokenizer, frames, server, layout)) for spec in benchmarks]
    grand_total = len(adapters) * sum(len(p) for _, p in loaded)
    grand_done = 0
    rows: list[dict] = []
    try:
        for spec, prepared in loaded:
            work = [(v, p, _key(base_key, shas[v], p, frames, sampling)) for v in adapters for p in prepared]
            hits = cache.get_many([k for _, p, k in work if p.error is None])
            total, done, gen_s, n_req = len(work), 0, 0.0, 0
            results: dict[str, dict] = {}
            label = f"eval {spec.name}"
            with progress(label, total=total, enabled=show_progress) as bar:
                ready = [w for w in work if w[1].error is not None or w[2] in hits]
                done += len(ready)
                grand_done += len(ready)
                bar.advance(len(ready), hits=len(hits))
                if progress_cb:
                    progress_cb(spec.name, grand_done, grand_total, {"hits": len(hits), "requests_per_s": 0.0})
                # item-major order: an item's prompt embeddings serve all variants back to back and are
                # dropped after their chunk, so memory stays bounded for real video LLMs too; items that
                # share a prompt prefix next to each other (ablate.eval.reuse)
                todo = [w for w in reuse_order(work) if w[1].error is None and w[2] not in hits]
                pos = 0
                while pos < len(todo):
                    reqs, keep, emb_cache, emb_bytes, start = [], [], {}, 0, pos
                    while pos < len(todo) and len(reqs) < CHUNK and emb_bytes < EMBED_BUDGET:
                        v, p, k = todo[pos]
                        pos += 1
                        if p.error is not None:  # its video failed for an earlier variant
                            continue
                        try:
                            if p.item.modality == "video" and server is not None:
                                req = server.video_request(p.video_path, p.vhash, p.item.prompt, _lane(adapters, v), sampling)
                                emb_bytes += server.nbytes(req)
                            elif p.item.modality == "video":
                                if p.item.item_id not in emb_cache:
                                    emb = emb_cache[p.item.item_id] = embeds_for(p)
                                    emb_bytes += emb.numel() * emb.element_size()
                                req = Request(prompt_embeds=emb_cache[p.item.item_id], adapter=_lane(adapters, v), sampling=sampling)
                            else:
                                req = Request(prompt_ids=p.ids, adapter=_lane(adapters, v), sampling=sampling)
                        except VideoError as e:
                            p.error = str(e)
                            continue
                        reqs.append(req)
                        keep.append(k)
                    chunk = todo[start:pos]
                    eng = get_engine() if reqs else None
                    t_gen = time.perf_counter()
                    gens = eng.generate(reqs) if reqs else []
                    gen_s += time.perf_counter() - t_gen
                    new = {k: {"reply": g.text, "prompt_tokens": g.prompt_tokens, "gen_tokens": g.gen_tokens,
                               "latency_s": g.latency_s} for k, g in zip(keep, gens)}
                    cache.put_many(new)
                    results.update(new)
                    n_req += len(reqs)
                    done += len(chunk)
                    grand_done += len(chunk)
                    rate = n_req / max(gen_s, 1e-9)  # engine start and feature extraction excluded
                    bar.advance(len(chunk), hits=len(hits), req_s=f"{rate:.1f}")
                    if progress_cb:
                        progress_cb(spec.name, grand_done, grand_total, {"hits": len(hits), "requests_per_s": rate})
            for v, p, k in work:
                rows.append(_row(v, shas[v], p, hits.get(k) or results.get(k), k in hits, scoring))
    finally:
        if state["engine"] is not None:
            state["stats"] = getattr(state["engine"], "stats", None)  # prefill tokens, prefix-cache hits
            state["engine"].close()
        cache.close()
    return write_outputs(out, rows, {"base": str(getattr(base, "root", "")), "base_hash": base.hash,
                                     "adapters": {v: {"path": str(p) if p else None, "sha256": shas[v]} for v, p in adapters.items()},
                                     "benchmarks": [{"name": b.name, "path": str(b.path) if b.path else None, "options": b.options} for b in benchmarks],
                                     "engine": engine, "route": server.route if server else engine,
                                     "route_notice": server.notice if server else None, "frames": frames, "sampling": sampling.key(),
                                     "scorers": SCORERS_VERSION, "scoring": scoring, "prompt_version": PROMPT_VERSION,
                                     "engine_stats": state.get("stats")})


def _check_inputs(base, adapters: dict[str, Path | None], engine: str) -> None:
    """Before any engine starts: the base dir is what its config says and every adapter fits it
    (shapes, target modules, the engine's LoRA rank limit); UserError naming them otherwise."""
    from ablate.eval.engines import engine_max_lora_rank
    from ablate.models.checks import adapter_problems, check_base

    check_base(base)
    bad = adapter_problems(base, adapters, engine_max_lora_rank(engine), engine)
    if bad:
        raise UserError("\n".join(f"variant {v}: {why}" for v, why in bad.items()))


def _model_server(base, engine: str, frames: int, has_adapters: bool):
    """A VLM checkpoint (Qwen2-VL, LLaVA-NeXT-Video, LLaVA-OneVision) is served through ablate.models;
    the tiny base and LLaVA-1.5 go through ablate.base.embed (None)."""
    from ablate.models import family_of_base

    fam = family_of_base(base)
    if not fam.is_vlm:
        return None
    from ablate.eval.vlm import VideoServer

    server = VideoServer(base, fam, engine, frames, has_adapters)
    if server.notice:
        from ablate.ui import console

        console.print(f"note: {server.notice}", highlight=False)
    return server


def _lane(adapters: dict, v: str) -> str | None:
    return v if adapters[v] is not None else None
