"""The sweep runner: recipe -> synth -> train -> eval -> report, resumable and content-addressed.

    from ablate.sweep.recipe import load_recipe
    from ablate.sweep.runner import run_sweep
    record = run_sweep(load_recipe("recipes/smoke.toml"), runs_dir="runs", reports_dir="reports")

Layout of the runs dir (every stage directory is named by the hash of everything that determines it,
and appears only complete, via an atomic rename):

    runs/.lock                      held (flock) by the one sweep using this runs dir
    runs/synth/<key>/               t3.synthesize output (train/probe parquet, manifest)
    runs/train/<key>/  <key>.log    one LoRA adapter per variant + the training subprocess log
    runs/eval/<key>/   <key>.log    predictions/scores of every variant of one evaluate() call
    runs/variants/<variant id>.json the variant's stage keys and status (read by `ablate plan`)
    runs/sweeps/<recipe name>/sweep.json   the sweep record the report is built from

Training and evaluation run in a child process each (`python -m ablate.sweep.worker`): a crash, an
out-of-memory kill or a library abort in one variant cannot take the sweep down, each gets a log file
the report links to, and killing the sweep kills the child too (PDEATHSIG), so a restart only redoes
the unfinished step. The child's import of torch costs a few seconds per variant, small next to
training and evaluation. Synthesis is pure Python and runs in-process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import ablate
from ablate.core import UserError, atomic_dir, file_sha256, stable_hash, tree_hash, write_json
from ablate.names import check_name, child_path
from ablate.sweep.live import Live
from ablate.sweep.lock import RunsLock
from ablate.sweep.plan import Variant, expand
from ablate.sweep.recipe import FAMILIES, GENERIC, Recipe
from ablate.sweep.records import discard_if_broken, read_manifest

FORCEABLE = ("synth", "train", "eval", "report")
TRAIN_FILES = ("manifest.json", "adapter_model.safetensors", "adapter_config.json")
EVAL_FILES = ("predictions.parquet", "scores.parquet", "eval.json")


@dataclasses.dataclass
class Ctx:
    recipe: Recipe
    runs: Path
    force: tuple
    live: Live
    record: dict
    base: object = None
    world: Path | None = None
    corpus: Path | None = None
    corpus_sha: str = ""
    executed: dict = dataclasses.field(default_factory=lambda: {"synth": 0, "train": 0, "eval": 0})


def _world_needed(recipe: Recipe) -> bool:
    return recipe.data.corpus == "world" or any(b.name.startswith("world-") and not b.path
                                                for b in recipe.benchmark_specs())


def _prepare(ctx: Ctx) -> None:
    """World (if the recipe uses it) and the base model: built once, cached under cache_root()."""
    t0 = time.perf_counter()
    r = ctx.recipe
    if _world_needed(r):
        from ablate.world import default_world

        ctx.world = Path(default_world(**r.world.params()))
        ctx.record["world"] = str(ctx.world)
        man = ctx.world / "manifest.json"
        if man.is_file():
            ctx.record["world_hash"] = (read_manifest(man) or {}).get("content_hash")
    ctx.corpus = ctx.world / "captions" / "captions.json" if r.data.corpus == "world" else Path(r.data.corpus)
    if r.data.corpus != "world":  # a corpus that cannot be read stops the sweep now, naming the file
        import t3

        t3.read_captions(ctx.corpus, format=r.data.corpus_format, caption_field=r.data.caption_field)
    ctx.corpus_sha = tree_hash(ctx.corpus, n=64) if ctx.corpus.is_dir() else file_sha256(ctx.corpus)
    from ablate.base import resolve_base

    ctx.base = resolve_base(r.base.model)
    # children get the resolved directory, never the spec: they must use exactly this base
    ctx.record["base"] = r.base.model
    ctx.record["base_hash"] = ctx.base.hash
    ctx.record["timings"]["prepare"] = time.perf_counter() - t0


def _force(ctx: Ctx, stage: str, d: Path) -> None:
    if stage in ctx.force and d.exists() and str(d) not in ctx.record.setdefault("_forced", []):
        shutil.rmtree(d)
        ctx.record["_forced"].append(str(d))  # force once per sweep, not once per variant sharing it


def _synth(ctx: Ctx, weights: dict, data, seed: int) -> Path:
    """Synthesis dir for (mix, data config, seed); generic mixes get plain caption text instead."""
    import t3

    spec_d = {"mix": weights, "n": data.pool, "probe_n": data.probe, "frames": data.frames,
              "length_scale": data.length_scale, "seed": seed}
    key = stable_hash({"corpus": ctx.corpus_sha, "format": data.corpus_format, "field": data.caption_field,
                       "spec": spec_d, "t3": getattr(t3, "__version__", "0"), "ablate": ablate.__version__})
    d = ctx.runs / "synth" / key
    _force(ctx, "synth", d)
    files = ("manifest.json", "train.parquet") + (() if GENERIC in weights else ("probe.parquet",))
    if not discard_if_broken(d, files, lambda m: ctx.live.summary("synth", m)):
        ctx.executed["synth"] += 1
        if GENERIC in weights:
            from ablate.synth.generic import write_generic

            write_generic(ctx.corpus, d, n=data.pool, seed=seed, corpus_format=data.corpus_format,
                          caption_field=data.caption_field)
        else:
            spec = t3.SynthSpec(**spec_d)
            t3.synthesize(ctx.corpus, d, spec, corpus_format=data.corpus_format, caption_field=data.caption_field)
    return d


def _train_options(v: Variant) -> dict:
    opts = {k: v for k, v in dataclasses.asdict(v.train).items() if v is not None}
    if "target_modules" in opts:
        opts["target_modules"] = tuple(opts["target_modules"])
    opts["seed"] = v.seed
    return opts


def _worker(ctx: Ctx, job: dict, log: Path, vid_for_progress: list[str], stage: str) -> tuple[bool, str]:
    """Run one stage job in a child process; stream its progress events to the live table."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "ablate.sweep.worker", json.dumps(job)]
    with open(log, "w", encoding="utf-8") as logf:
        logf.write(f"$ {' '.join(cmd[:3])} '<job>'\n{json.dumps(job, indent=1)}\n")
        logf.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                preexec_fn=_die_with_parent, bufsize=1)
        tail: list[str] = []
        for line in proc.stdout:
            if line.startswith("@@progress "):
                try:
                    ev = json.loads(line[11:])
                except ValueError:
                    continue
                for vid in vid_for_progress:
                    ctx.live.update(vid, stage=stage, **ev)
                continue
            logf.write(line)
            tail = (tail + [line.rstrip()])[-15:]
        rc = proc.wait()
    if rc == 0:
        return True, ""
    err = next((t for t in reversed(tail) if t.startswith("@@error ")), None)
    msg = err[8:] if err else ("\n".join(tail[-5:]) or f"exit status {rc}")
    return False, msg


def _die_with_parent() -> None:
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _vrec(ctx: Ctx, v: Variant) -> dict:
    return ctx.record["variants"][[x["id"] for x in ctx.record["variants"]].index(v.id)]


def _fail(ctx: Ctx, v: Variant, stage: str, error: str, log: Path | None) -> None:
    rec = _vrec(ctx, v)
    rec.update(status="failed", failed_stage=stage, error=error, log=str(log) if log else None)
    ctx.live.update(v.id, stage=f"failed:{stage}", note=error.splitlines()[-1][:60] if error else "")
    _save(ctx, v)


def _save(ctx: Ctx, v: Variant | None = None) -> None:
    if v is not None:
        write_json(child_path(ctx.runs, "variants", f"{check_name(v.id, 'variant id', ctx.recipe.path)}.json"), _vrec(ctx, v))
    write_json(child_path(ctx.runs, "sweeps", check_name(ctx.recipe.name, "recipe.name", ctx.recipe.path), "sweep.json"),
               {k: val for k, val in ctx.record.items() if not k.startswith("_")})


def _train_all(ctx: Ctx, variants: list[Variant]) -> None:
    t0 = time.perf_counter()
    done = cached = failed = 0
    for v in variants:
        rec = _vrec(ctx, v)
        if v.is_base:
            continue
        ts = time.perf_counter()
        ctx.live.update(v.id, stage="synth", progress=None)
        try:
            sdir = _synth(ctx, v.mix_weights, v.data, v.seed)
        except Exception as e:  # noqa: BLE001 - one variant's bad data must not stop the others
            _fail(ctx, v, "synth", str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}", None)
            failed += 1
            continue
        rec["stages"]["synth"] = sdir.name
        rec["timings"]["synth"] = time.perf_counter() - ts
        opts = _train_options(v)
        replay = v.data.replay
        key = stable_hash({"base": ctx.base.hash, "data": json.loads((sdir / "manifest.json").read_text()).get("content_hash"),
                           "n": v.volume, "options": opts, "replay": file_sha256(replay) if replay else None,
                           "ablate": ablate.__version__})
        tdir = ctx.runs / "train" / key
        _force(ctx, "train", tdir)
        log = ctx.runs / "train" / f"{key}.log"
        ts = time.perf_counter()
        if discard_if_broken(tdir, TRAIN_FILES, lambda m: ctx.live.summary("train", m)):
            cached += 1
        else:
            ctx.live.update(v.id, stage="train", progress=0.0, started=time.time())
            ctx.executed["train"] += 1
            job = {"stage": "train", "base": str(ctx.base.root), "data": str(sdir), "out": str(tdir),
                   "n": v.volume, "options": opts, "replay": replay}
            ok, err = _worker(ctx, job, log, [v.id], "train")
            if not ok:
                _fail(ctx, v, "train", err, log)
                failed += 1
                continue
            done += 1
        man = json.loads((tdir / "manifest.json").read_text())
        rec["stages"]["train"] = key
        rec["adapter"] = str(tdir)
        rec["adapter_sha256"] = man.get("adapter_sha256")
        rec["timings"]["train"] = time.perf_counter() - ts
        rec["log"] = str(log) if log.exists() else None
        ctx.live.update(v.id, stage="trained", progress=1.0, loss=_final_loss(tdir))
        _save(ctx, v)
    ctx.record["timings"]["train"] = time.perf_counter() - t0
    ctx.live.summary("train", f"{done} trained, {cached} cached, {failed} failed in {time.perf_counter() - t0:.1f}s")


def _final_loss(tdir: Path):
    try:
        import polars as pl

        df = pl.read_parquet(tdir / "loss.parquet")
        return float(df["loss"][-1])
    except Exception:  # noqa: BLE001 - cosmetic only
        return None


def _bench_identity(ctx: Ctx, b) -> dict:
    if b.name == "t3-probe":
        return {"name": b.name, "probe": ctx.record.get("probe_hash")}
    if b.name.startswith("world-") and not b.path:
        return {"name": b.name, "world": ctx.record.get("world_hash") or str(ctx.world)}
    p = Path(b.path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    return {"name": b.name, "path": str(p.resolve()),
            "files": stable_hash([(str(f.relative_to(p) if p.is_dir() else f.name), f.stat().st_size, f.stat().st_mtime_ns)
                                  for f in files if f.is_file()])}


def _bench_specs(ctx: Ctx, probe_dir: Path | None) -> list[dict]:
    out = []
    for b in ctx.recipe.benchmark_specs():
        if b.name == "t3-probe":
            out.append({"name": b.name, "path": str(probe_dir / "probe.parquet")})
        elif b.name.startswith("world-") and not b.path:
            out.append({"name": b.name, "path": str(ctx.world / "bench")})
        else:
            out.append({"name": b.name, "path": b.path})
    return out


def _eval_all(ctx: Ctx, variants: list[Variant]) -> list[Path]:
    t0 = time.perf_counter()
    r = ctx.recipe
    probe_dir = None
    if any(b.name == "t3-probe" for b in r.benchmark_specs()):
        # One fixed probe for every variant: all four families, the recipe's own data settings.
        probe_dir = _synth(ctx, {f: 1.0 for f in FAMILIES}, r.data, r.recipe.seed)
        ctx.record["probe_hash"] = json.loads((probe_dir / "manifest.json").read_text()).get("content_hash")
    benches = _bench_specs(ctx, probe_dir)
    groups: dict[str, list[Variant]] = {}
    for v in variants:
        if _vrec(ctx, v)["status"] != "failed":
            groups.setdefault(stable_hash(v.eval_key), []).append(v)
    eval_dirs = []
    for vs in groups.values():
        ev = vs[0].eval
        adapters = {v.id: _vrec(ctx, v).get("adapter") for v in vs}
        key = stable_hash({"base": ctx.base.hash, "adapters": {v.id: _vrec(ctx, v).get("adapter_sha256") for v in vs},
                           "benchmarks": [_bench_identity(ctx, b) for b in r.benchmark_specs()],
                           "eval": vs[0].eval_key, "ablate": ablate.__version__})
        edir = ctx.runs / "eval" / key
        _force(ctx, "eval", edir)
        log = ctx.runs / "eval" / f"{key}.log"
        ts = time.perf_counter()
        if not discard_if_broken(edir, EVAL_FILES, lambda m: ctx.live.summary("eval", m)):
            ctx.executed["eval"] += 1
            for v in vs:
                ctx.live.update(v.id, stage="eval", progress=0.0, started=time.time())
            job = {"stage": "eval", "base": str(ctx.base.root), "adapters": adapters, "benchmarks": benches,
                   "out": str(edir), "engine": ev.engine, "frames": ev.frames, "max_tokens": ev.max_tokens}
            ok, err = _worker(ctx, job, log, [v.id for v in vs], "eval")
            if not ok:
                for v in vs:
                    _fail(ctx, v, "eval", err, log)
                continue
        eval_dirs.append(edir)
        accs = _variant_accs(edir)
        for v in vs:
            rec = _vrec(ctx, v)
            rec["stages"]["eval"] = key
            rec["timings"]["eval"] = time.perf_counter() - ts
            rec["status"] = "done"
            rec.update(accs.get(v.id, {}))
            ctx.live.update(v.id, stage="done", progress=1.0, **accs.get(v.id, {}))
            _save(ctx, v)
    ctx.record["eval_dirs"] = [str(d) for d in eval_dirs]
    ctx.record["timings"]["eval"] = time.perf_counter() - t0
    ctx.live.summary("eval", f"{len(groups)} engine call(s), {ctx.executed['eval']} run, "
                             f"{len(eval_dirs)} ok in {time.perf_counter() - t0:.1f}s")
    return eval_dirs


def _variant_accs(edir: Path) -> dict:
    """Per variant: mean accuracy over text benchmarks and over video benchmarks (live table)."""
    import polars as pl

    p = pl.read_parquet(edir / "predictions.parquet")
    g = (p.group_by("variant", "benchmark", "modality").agg(pl.col("correct").fill_null(False).mean().alias("a"))
         .group_by("variant", "modality").agg(pl.col("a").mean()))
    out: dict = {}
    for row in g.to_dicts():
        out.setdefault(row["variant"], {})[f"{row['modality']}_acc"] = row["a"]
    return out


def run_sweep(recipe: Recipe, runs_dir: str | Path = "runs", reports_dir: str | Path = "reports",
              force: tuple | list = (), live: Live | None = None) -> dict:
    """Run (or resume) every variant of the recipe; write the report; return the sweep record."""
    bad = [f for f in force if f not in FORCEABLE]
    if bad:
        raise UserError(f"--force {bad[0]}: unknown stage; choose from {list(FORCEABLE)}")
    runs = Path(runs_dir)
    check_name(recipe.name, "recipe.name", recipe.path)  # it becomes runs/sweeps/<name>/, reports/<name>/
    for root, parts in ((runs, ("sweeps", recipe.name)), (runs, ("variants",)), (Path(reports_dir), (recipe.name,))):
        child_path(root, *parts)  # a symlink leading out of the runs / reports dir stops us before any work
    t_start = time.perf_counter()
    variants = expand(recipe)
    live = live or Live([(v.id, v.label) for v in variants])
    with RunsLock(runs, recipe.name):
        _clean_tmp(runs)
        record = {"name": recipe.name, "recipe_path": recipe.path, "description": recipe.recipe.description,
                  "recipe_hash": stable_hash(dataclasses.asdict(recipe)), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "versions": _versions(), "timings": {},
                  "variants": [{"id": v.id, "label": v.label, "mix": v.mix, "volume": v.volume, "seed": v.seed,
                                "axes": v.axes, "status": "pending", "stages": {}, "timings": {}} for v in variants]}
        ctx = Ctx(recipe, runs, tuple(force), live, record)
        _prepare(ctx)  # before the live table: world/base builds draw their own rich progress bars
        with live:
            live.summary("prepare", f"base {ctx.base.hash} world {record.get('world_hash', '-')} "
                                    f"in {record['timings']['prepare']:.1f}s")
            _train_all(ctx, variants)
            eval_dirs = _eval_all(ctx, variants)
            record["executed"] = dict(ctx.executed)
            record["timings"]["total_before_report"] = time.perf_counter() - t_start
            record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            _save(ctx)
            t0 = time.perf_counter()
            from ablate.sweep.report import report_from_record

            path = report_from_record(record, child_path(reports_dir, recipe.name), eval_dirs)
            live.summary("report", f"{path} in {time.perf_counter() - t0:.1f}s")
        record["report"] = str(path)
        _save(ctx)
    return record


def _clean_tmp(runs: Path) -> None:
    """Remove temp dirs a killed run left behind (safe: we hold the lock on this runs dir)."""
    for stage in ("synth", "train", "eval"):
        for p in [*(runs / stage).glob(".*.tmp-*"), *(runs / stage).glob(".*.old-*")] if (runs / stage).is_dir() else []:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _versions() -> str:
    import importlib.metadata as md

    out = [f"ablate {ablate.__version__}"]
    for d in ("torch", "transformers", "peft", "trl", "vllm", "polars"):
        try:
            out.append(f"{d} {md.version(d)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)
