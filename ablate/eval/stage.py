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

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ablate.eval.benchmarks import PROMPT_VERSION, REGISTRY, BenchSpec, Item, load_items
from ablate.core import UserError, node_cache_root, stable_hash, write_json
from ablate.eval.engines.base import Request, SamplingParams, adapter_sha256
from ablate.eval.scoring import SCORERS_VERSION, SCORING_MODES, score, scores_from_rows
from ablate.eval.video import VideoError, resolve_video, video_hash

EVAL_VERSION = 1  # bump when request construction (video prompt layout, chat template use) changes
CHUNK = 1024  # requests per engine call: big enough to keep vLLM's batch full, small for live progress
EMBED_BUDGET = 1 << 30  # bytes of video prompt embeddings held at once (one chunk)

PRED_COLUMNS = ["variant", "adapter_sha256", "benchmark", "item_id", "modality", "task", "aspect", "sub_dim", "reply",
                "parsed", "match_status", "match_rule", "correct", "prompt_tokens", "gen_tokens", "latency_s", "error",
                "answer", "options", "scorer", "scorer_version", "scoring", "cached"]


def _warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr, flush=True)


class GenCache:
    """Item-level generation cache: one SQLite table shared by every run on this machine."""

    def __init__(self, path: Path | None = None):
        path = path or node_cache_root() / "eval" / "generations.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self.db = self._open(path)
        except sqlite3.DatabaseError as e:  # a damaged cache is set aside, never fatal: it only saves time
            bad = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            path.replace(bad)
            _warn(f"{path}: not a usable SQLite database ({e}); moved to {bad.name}, starting an empty cache")
            self.db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), timeout=120)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS gen (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("SELECT key, value FROM gen LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        out = {}
        try:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                q = f"SELECT key, value FROM gen WHERE key IN ({','.join('?' * len(part))})"
                for k, v in self.db.execute(q, part):
                    try:
                        out[k] = json.loads(v)
                    except (TypeError, ValueError):
                        continue  # a damaged entry is a miss
        except sqlite3.DatabaseError as e:
            _warn(f"{self.path}: cannot read cached generations ({e}); generating them again")
        return {k: g for k, g in out.items() if isinstance(g, dict) and isinstance(g.get("reply"), str)
                and all(f in g for f in ("prompt_tokens", "gen_tokens", "latency_s"))}

    def put_many(self, entries: dict[str, dict]) -> None:
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO gen VALUES (?, ?)",
                                    [(k, json.dumps(v)) for k, v in entries.items()])
        except sqlite3.DatabaseError as e:
            _warn(f"{self.path}: cannot store generations ({e}); this run's results are unaffected")

    def close(self) -> None:
        self.db.close()


@dataclass
class _Prepared:
    item: Item
    ids: tuple[int, ...] | None = None
    video_path: Path | None = None
    vhash: str | None = None
    error: str | None = None


def _prepare(items: list[Item], tokenizer, frames: int) -> list[_Prepared]:
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
        if p.error is None:
            text = video_user_text(frames, it.prompt) if it.modality == "video" else it.prompt
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
    sampling = sampling or SamplingParams(max_tokens=max_tokens)
    shas = {v: adapter_sha256(Path(p) if p is not None else None) for v, p in adapters.items()}
    tokenizer = AutoTokenizer.from_pretrained(base.lm_dir)
    cache = GenCache()
    state = {"engine": None, "encoder": None, "features": None}

    def get_engine():
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
        from ablate.base.prompts import video_user_text

        return state["encoder"].prompt_embeds(feats, video_user_text(frames, p.item.prompt))

    # every benchmark file is read (and a malformed one reported) before any engine starts
    loaded = [(spec, _prepare(_shard(load_items(spec), items), tokenizer, frames)) for spec in benchmarks]
    grand_total = len(adapters) * sum(len(p) for _, p in loaded)
    grand_done = 0
    rows: list[dict] = []
    try:
        for spec, prepared in loaded:
            work = [(v, p, _key(base.hash, shas[v], p, frames, sampling)) for v in adapters for p in prepared]
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
                # dropped after their chunk, so memory stays bounded for real video LLMs too
                todo = [w for w in work_item_major(work) if w[1].error is None and w[2] not in hits]
                pos = 0
                while pos < len(todo):
                    reqs, keep, emb_cache, emb_bytes, start = [], [], {}, 0, pos
                    while pos < len(todo) and len(reqs) < CHUNK and emb_bytes < EMBED_BUDGET:
                        v, p, k = todo[pos]
                        pos += 1
                        if p.error is not None:  # its video failed for an earlier variant
                            continue
                        try:
                            if p.item.modality == "video":
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
            state["engine"].close()
        cache.close()
    return write_outputs(out, rows, {"base": str(getattr(base, "root", "")), "base_hash": base.hash,
                                     "adapters": {v: {"path": str(p) if p else None, "sha256": shas[v]} for v, p in adapters.items()},
                                     "benchmarks": [{"name": b.name, "path": str(b.path) if b.path else None, "options": b.options} for b in benchmarks],
                                     "engine": engine, "frames": frames, "sampling": sampling.key(),
                                     "scorers": SCORERS_VERSION, "scoring": scoring, "prompt_version": PROMPT_VERSION})


def work_item_major(work: list) -> list:
    """(variant, item, key) triples reordered item by item (stable within an item)."""
    order: dict[int, int] = {}
    for _, p, _k in work:
        order.setdefault(id(p), len(order))
    return sorted(work, key=lambda w: order[id(w[1])])


def _lane(adapters: dict, v: str) -> str | None:
    return v if adapters[v] is not None else None


def _row(variant: str, sha: str, p: _Prepared, gen: dict | None, cached: bool, scoring: str = "ablate") -> dict:
    it = p.item
    err = p.error if p.error is not None else (None if gen is not None else "no generation")
    reply = gen["reply"] if gen is not None and err is None else None
    parsed, status, correct, rule = score(it.scorer, reply, it.options, it.answer, scoring)
    return {"variant": variant, "adapter_sha256": sha, "benchmark": it.benchmark, "item_id": it.item_id,
            "modality": it.modality, "task": it.task, "aspect": it.aspect, "sub_dim": it.sub_dim, "reply": reply,
            "parsed": parsed, "match_status": status, "match_rule": rule, "correct": correct,
            "prompt_tokens": gen["prompt_tokens"] if reply is not None else None,
            "gen_tokens": gen["gen_tokens"] if reply is not None else None,
            "latency_s": gen["latency_s"] if reply is not None else None, "error": err, "answer": it.answer,
            "options": list(it.options), "scorer": it.scorer, "scorer_version": SCORERS_VERSION[it.scorer],
            "scoring": scoring, "cached": bool(cached and reply is not None)}


def _pred_schema():
    import polars as pl

    s = {c: pl.String for c in PRED_COLUMNS}
    s.update(correct=pl.Boolean, prompt_tokens=pl.Int64, gen_tokens=pl.Int64, latency_s=pl.Float64,
             options=pl.List(pl.String), scorer_version=pl.Int64, cached=pl.Boolean)
    return s


def write_outputs(out: Path, rows: list[dict], manifest: dict) -> Path:
    import polars as pl

    from ablate.eval.scoring import _SCHEMA

    out.mkdir(parents=True, exist_ok=True)
    preds = pl.DataFrame(rows, schema=_pred_schema())
    scores = pl.DataFrame(scores_from_rows(rows), schema=_SCHEMA())
    for name, df in (("predictions.parquet", preds), ("scores.parquet", scores)):
        tmp = out / f".{name}.tmp"
        df.write_parquet(tmp)
        tmp.replace(out / name)
    write_json(out / "eval.json", manifest)
    return out


def rescore_dir(d: str | Path, scoring: str | None = None) -> Path:
    """Recompute out/predictions.parquet (parsed, match_status, correct, match_rule, scorer_version,
    scoring) and out/scores.parquet from the stored replies with the current scorers (no inference).

    scoring None keeps the mode the predictions were scored with ("ablate" for older outputs)."""
    import polars as pl

    from ablate.eval.scoring import _SCHEMA, rescore_predictions

    d = Path(d)
    f = d / "predictions.parquet"
    if not f.exists():
        raise UserError(f"{f}: not found (is {d} an `ablate eval` output directory?)")
    try:
        preds = pl.read_parquet(f)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{f}: cannot read Parquet ({e})") from None
    missing = [c for c in ("variant", "benchmark", "reply", "answer", "options", "scorer", "error") if c not in preds.columns]
    if missing:
        raise UserError(f"{f}: missing column(s) {', '.join(missing)}")
    if scoring is None:
        modes = preds["scoring"].drop_nulls().unique().to_list() if "scoring" in preds.columns else []
        scoring = modes[0] if len(modes) == 1 else "ablate"
    if scoring not in SCORING_MODES:
        raise UserError(f"--scoring {scoring!r}: choose from {list(SCORING_MODES)}")
    preds = rescore_predictions(preds, scoring)
    preds = preds.select([c for c in PRED_COLUMNS if c in preds.columns] + [c for c in preds.columns if c not in PRED_COLUMNS])
    scores = pl.DataFrame(scores_from_rows(preds.to_dicts()), schema=_SCHEMA())
    for name, df in (("predictions.parquet", preds), ("scores.parquet", scores)):
        tmp = d / f".{name}.tmp"
        df.write_parquet(tmp)
        tmp.replace(d / name)
    m = d / "eval.json"
    if m.is_file():
        import json as _json

        manifest = _json.loads(m.read_text())
        manifest.update(scorers=SCORERS_VERSION, scoring=scoring)
        write_json(m, manifest)
    return d / "scores.parquet"


# ---- command line -------------------------------------------------------------------------------

def _parse_bench(values: list[str], opts: list[str], limit: int | None) -> list[BenchSpec]:
    options: dict[str, dict] = {}
    for o in opts or []:
        if "=" not in o or "." not in o.split("=", 1)[0]:
            raise UserError(f"--opt {o!r}: expected BENCH.KEY=VALUE, e.g. videomme.subset=temporal")
        k, v = o.split("=", 1)
        name, key = k.split(".", 1)
        options.setdefault(name, {})[key] = v.split(",") if key == "tasks" else v
    specs = []
    for b in values or []:
        name, _, path = b.partition("=")
        o = dict(options.get(name, {}))
        if limit is not None:
            o["limit"] = limit
        specs.append(BenchSpec(name, path or None, o))
    if not specs:
        raise UserError("give at least one --bench NAME[=PATH]")
    return specs


def _parse_adapters(values: list[str], with_base: bool) -> dict[str, Path | None]:
    out: dict[str, Path | None] = {"base": None} if with_base or not values else {}
    for a in values or []:
        name, sep, path = a.partition("=")
        if not sep:
            name, path = Path(a).name, a
        if name in out:
            raise UserError(f"--adapter {a!r}: variant id {name!r} given twice")
        from ablate.names import check_name

        check_name(name, "--adapter ID", "command line")
        out[name] = Path(path)
    return out


def _print_scores(scores_path: Path) -> None:
    import polars as pl
    from rich.table import Table

    from ablate.ui import console

    df = pl.read_parquet(scores_path).filter(pl.col("sub_dim") == "all")
    df = df.filter(~pl.col("aspect").str.starts_with("task:"))
    t = Table("variant", "benchmark", "aspect", "n", "accuracy", "95% CI", "errors", "unmatched")
    for r in df.iter_rows(named=True):
        t.add_row(r["variant"], r["benchmark"], r["aspect"], str(r["n"]), f"{100 * r['accuracy']:.1f}",
                  f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}", str(r["n_error"]), str(r["n_unmatched"]))
    console.print(t)
    pred = scores_path.parent / "predictions.parquet"
    if pred.is_file():
        p = pl.read_parquet(pred)
        if "match_rule" in p.columns:
            counts = (p.group_by("variant", "benchmark", "match_rule").len().sort("variant", "benchmark", "match_rule"))
            t = Table("variant", "benchmark", "match rule", "replies",
                      title=f"match rules (scoring: {', '.join(p['scoring'].unique().to_list()) if 'scoring' in p.columns else '?'})")
            for r in counts.iter_rows(named=True):
                t.add_row(r["variant"], r["benchmark"], r["match_rule"] or "-", str(r["len"]))
            console.print(t)


def _cmd_eval(args) -> int:
    specs = _parse_bench(args.bench, args.opt, args.limit)
    adapters = _parse_adapters(args.adapter, args.with_base)
    out = evaluate(args.base, adapters, specs, Path(args.out), engine=args.engine, frames=args.frames,
                   max_tokens=args.max_tokens, scoring=args.scoring)
    _print_scores(out / "scores.parquet")
    print(f"wrote {out}/predictions.parquet, {out}/scores.parquet")
    return 0


def _cmd_rescore(args) -> int:
    path = rescore_dir(args.dir, args.scoring)
    _print_scores(path)
    print(f"wrote {path}")
    return 0


def _cmd_bench(args) -> int:
    import runpy
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_eval.py"
    if not script.exists():
        raise UserError(f"{script}: benchmark script not found (run from a source checkout)")
    sys.argv = [str(script), *args.bench_args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("eval", help="evaluate adapters on text probes and video benchmarks (one engine)")
    p.add_argument("--base", default="tiny", help="base model: 'tiny' or a local model directory")
    p.add_argument("--adapter", action="append", metavar="ID=DIR", help="a variant's LoRA adapter dir (repeat)")
    p.add_argument("--with-base", action="store_true", help="also evaluate the base model (variant 'base')")
    p.add_argument("--bench", action="append", metavar="NAME[=PATH]",
                   help="t3-probe, world-video, world-text, tempcompass, videomme, mlvu, t3-text (repeat)")
    p.add_argument("--opt", action="append", metavar="BENCH.KEY=VALUE",
                   help="benchmark option, e.g. videomme.subset=temporal, tempcompass.tasks=multi-choice")
    p.add_argument("--limit", type=int, default=None, help="first N items of each benchmark")
    p.add_argument("--frames", type=int, default=8, help="frames sampled uniformly per video")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--engine", default="vllm", choices=["vllm", "hf"])
    p.add_argument("--out", required=True, help="output dir for predictions.parquet and scores.parquet")
    p.add_argument("--scoring", default="ablate", choices=SCORING_MODES,
                   help="ablate: official rules, then judge-free fallbacks; official: official rules only")
    p.set_defaults(func=_cmd_eval)
    r = sub.add_parser("rescore", help="recompute predictions' scores and scores.parquet from the replies (no inference)")
    r.add_argument("dir")
    r.add_argument("--scoring", default=None, choices=SCORING_MODES,
                   help="scoring mode (default: the one the predictions were scored with)")
    r.set_defaults(func=_cmd_rescore)
    bench = sub.choices.get("bench")
    if bench is None:
        bench = sub.add_parser("bench", help="speed benchmarks printed side by side with their baselines")
    bsub = next((a for a in bench._actions if a.__class__.__name__ == "_SubParsersAction"), None)
    if bsub is None:
        bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    b = bsub.add_parser("eval", help="this stage vs per-variant HF generate vs one vLLM engine per variant")
    b.add_argument("bench_args", nargs="*", help="arguments for benchmarks/bench_eval.py (see --help there)")
    b.set_defaults(func=_cmd_bench)
