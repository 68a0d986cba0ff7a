"""The sweep runner: recipe -> synth -> train -> eval -> report, resumable and content-addressed.

    from ablate.sweep.recipe import load_recipe
    from ablate.sweep.runner import run_sweep
    record = run_sweep(load_recipe("recipes/smoke.toml"), runs_dir="runs", reports_dir="reports")

Layout of the runs dir (every stage directory is named by its stage key, ablate.sweep.stage, and
appears only complete, via an atomic rename):

    runs/.lock                      held (flock) by the one sweep using this runs dir
    runs/synth/<key>/  <key>.log    t3.synthesize output (train/probe parquet, manifest)
    runs/train/<key>/  <key>.log    one LoRA adapter per variant + its worker's log
    runs/eval/<key>/   <key>.log    predictions/scores of every variant of one evaluate() call
    runs/<stage>/<key>.job.json     the job as the worker got it
    runs/<stage>/<key>.run.json     wall time and date of the run that computed that directory
    runs/variants/<variant id>.json the variant's stage keys, jobs and status (read by `ablate plan`)
    runs/sweeps/<recipe name>/sweep.json   the sweep record the report is built from

The runner only builds typed jobs, asks each stage for its key and whether that directory is done,
and hands the rest to an executor (ablate.sweep.executor; LocalExecutor by default: one child
process per job, so a crash in one variant cannot take the sweep down). It never knows which
executor it has. World and base are built first (the world in-process, an embedded base in a child
process); their builds draw their own progress.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from ablate.core import UserError, stable_hash
from ablate.fs import doing
from ablate.eval.benchmarks import REGISTRY, default_path
from ablate.names import check_name, child_path
from ablate.sweep.bookkeeping import (Ctx, Ran, SweepRecord, clean_tmp, stage_run, write_nested_runs,
                                      write_stage_run)
from ablate.sweep.eval_shards import shard_eval, variant_accuracies
from ablate.sweep.executor import Executor
from ablate.sweep.live import Live
from ablate.sweep.lock import RunsLock
from ablate.sweep.plan import Variant, expand, nest_train_jobs
from ablate.sweep.records import dir_problem, read_manifest
from ablate.sweep.sections import Recipe, train_ident
from ablate.sweep.stage import EVAL, SYNTH, TRAIN, EvalJob, Progress, SynthJob, TrainJob
from ablate.train.tracking import DEFAULT_REPORT_TO

FORCEABLE = ("synth", "train", "eval", "report")


def _world_needed(recipe: Recipe) -> bool:
    return recipe.data.corpus == "world" or any(REGISTRY[b.name].default == "world" and not b.path
                                                for b in recipe.benchmark_specs())


def _prepare(ctx: Ctx) -> None:
    """World (if the recipe uses it) and the base model: built once, cached under cache_root()."""
    t0 = time.perf_counter()
    r = ctx.recipe
    if _world_needed(r):
        from ablate.world import default_world

        ctx.world = Path(default_world(**r.world.params()))
        ctx.record.world = str(ctx.world)
        man = ctx.world / "manifest.json"
        if man.is_file():
            ctx.record.world_hash = (read_manifest(man) or {}).get("content_hash")
    ctx.corpus = ctx.world / "captions" / "captions.json" if r.data.corpus == "world" else Path(r.data.corpus)
    if r.data.corpus != "world":  # a corpus that cannot be read stops the sweep now, naming the file
        import t3

        t3.read_captions(ctx.corpus, format=r.data.corpus_format, caption_field=r.data.caption_field)
    ctx.base = _resolve_base(r.base.model)
    from ablate.models.checks import check_base

    check_base(ctx.base)  # a base dir that is not what its config.json says stops the sweep before any stage
    # children get the resolved directory, never the spec: they must use exactly this base
    ctx.record.base = r.base.model
    ctx.record.base_hash = ctx.base.hash
    ctx.record.timings["prepare"] = time.perf_counter() - t0


def _resolve_base(spec: str):
    """The recipe's base; an embedded one that is not cached yet is built first, in a child process.

    Built in this process, the pretraining's freed memory stays with it (the sweep process held 5.5 GiB
    RSS for the rest of a fresh main job while its training and evaluation children ran); a child's goes
    back to the system when it exits. The child draws its own progress bars on this terminal.
    """
    import subprocess
    import sys

    from ablate.base import EMBEDDED, resolve_base
    from ablate.sweep.executor import die_with_parent

    if spec in EMBEDDED:
        try:
            return resolve_base(spec, build=False)
        except UserError:  # not built yet
            rc = subprocess.run([sys.executable, "-m", "ablate", "base", "build", spec], preexec_fn=die_with_parent).returncode
            if rc != 0:
                raise UserError(f"building the embedded base {spec!r} failed (`ablate base build {spec}` exited {rc}; "
                                "its output is above)") from None
            return resolve_base(spec, build=False)
    return resolve_base(spec)


def _run_stage(ctx: Ctx, stage, jobs: list[tuple[object, list[Variant]]]) -> dict[int, Ran]:
    """Run every job (deduplicated by key) whose directory is not done; job index -> Ran.

    `jobs` pairs each job with the variants it serves (their live-table rows get its progress). A
    directory computed now gets its runs/<stage>/<key>.run.json; one found done keeps the one it has.
    Train jobs that differ only in volume may run as one nested job (ablate.sweep.plan.nest_train_jobs).
    """
    results: dict[int, Ran] = {}
    by_key: dict[str, list[int]] = {}
    for i, (job, _) in enumerate(jobs):
        try:
            key = stage.key(job)
        except (UserError, OSError, ValueError, KeyError) as e:  # an input is missing or unreadable
            results[i] = Ran(None, str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}")
            continue
        by_key.setdefault(key, []).append(i)
    pending = {}
    for key, idx in by_key.items():
        d = ctx.runs / stage.name / key
        ctx.force_once(stage.name, d)
        if stage.is_done(d):
            continue
        if d.exists():  # incomplete or changed since it was written (an edited adapter): redo it
            why = dir_problem(d)  # a damaged file (truncated Parquet, bad manifest ...) or, for train, an edit
            shutil.rmtree(d)
            if why:
                ctx.live.summary(stage.name, f"{why}; recomputing {d}")
            elif stage.name == "train":
                ctx.live.summary("train", f"{d}: adapter file changed since training; retraining it")
        pending[key] = jobs[idx[0]][0]
    batches = (nest_train_jobs(pending, ctx.runs / stage.name) if stage is TRAIN
               else [(job, [key]) for key, job in pending.items()])
    handles = []
    for job, keys in batches:
        vids = [v.id for key in keys for i in by_key[key] for v in jobs[i][1]]
        for vid in vids:  # the executor decides when it starts; its first Progress event says so
            ctx.live.update(vid, stage=f"{stage.name} queued", progress=None)

        def show(ev: Progress, vids=vids, name=stage.name):
            fields = {k: val for k, val in (("progress", ev.fraction), ("loss", ev.loss)) if val is not None}
            for vid in vids:
                ctx.live.update(vid, stage=name, detail=ev.detail, **fields)

        ctx.executed[stage.name] += 1
        lead = ctx.runs / stage.name / keys[0]
        handles.append(ctx.executor.submit(job, lead, ctx.runs / stage.name / f"{keys[0]}.log", progress=show))
    outcomes: dict[str, Ran] = {}
    for (job, keys), o in zip(batches, ctx.executor.wait(handles)):
        if len(keys) > 1:  # a nested run: each volume whose directory is done counts, whatever came after
            outcomes.update(write_nested_runs(ctx.runs, stage.name, keys, o.seconds, o.error))
        elif not o.ok:
            outcomes[keys[0]] = Ran(keys[0], o.error)
        elif not stage.is_done(ctx.runs / stage.name / keys[0]):
            outcomes[keys[0]] = Ran(keys[0], f"{stage.name} finished but {ctx.runs / stage.name / keys[0]} is not complete")
        else:
            outcomes[keys[0]] = write_stage_run(ctx.runs, stage.name, keys[0], o.seconds)
    for key, idx in by_key.items():
        ran = outcomes.get(key) or stage_run(ctx.runs, stage.name, key)
        if not ran.error:
            ctx.record.note_stage_run(stage.name, ran)
        for i in idx:
            results[i] = ran
    return results


def _synth_job(ctx: Ctx, weights: dict, data, seed: int) -> SynthJob:
    return SynthJob(corpus=str(ctx.corpus), corpus_format=data.corpus_format, caption_field=data.caption_field,
                    mix=dict(weights), n=data.pool, probe_n=data.probe, frames=data.frames,
                    length_scale=data.length_scale, seed=seed)


def train_options(v: Variant) -> dict:
    from ablate.train import TrainOptions
    from ablate.train.stage import options_record

    opts = {k: val for k, val in train_ident(v.train).items() if val is not None}  # report_to: not an option
    opts.setdefault("seed", v.seed)  # train.seed, if set, overrides the variant's seed for training only
    return options_record(TrainOptions(**opts))  # every field as JSON, less later fields at their defaults


def _synth_all(ctx: Ctx, variants: list[Variant]) -> Path | None:
    """Synthesis for every trained variant and the t3-probe; returns the probe's synthesis dir."""
    t0 = time.perf_counter()
    r = ctx.recipe
    jobs = [(_synth_job(ctx, v.mix_weights, v.data, v.seed), [v]) for v in variants if not v.is_base]
    probe = any(REGISTRY[b.name].default == "probe" and not b.path for b in r.benchmark_specs())
    if probe:  # one fixed probe for every variant: all four families, the recipe's own data settings
        import t3

        jobs.append((_synth_job(ctx, {f: 1.0 for f in t3.FAMILIES}, r.data, r.recipe.seed), []))
    res = _run_stage(ctx, SYNTH, jobs)
    for i, (job, vs) in enumerate(jobs):
        for v in vs:
            if res[i].error:
                ctx.fail(v, "synth", res[i].error, res[i].key)
            else:
                ctx.record.variant(v).done("synth", job, res[i])
    ctx.record.timings["synth"] = time.perf_counter() - t0
    if not probe:
        return None
    probe = res[len(jobs) - 1]
    if probe.error:
        raise UserError(f"the t3-probe synthesis failed: {probe.error}")
    probe_dir = ctx.runs / "synth" / probe.key
    ctx.record.probe_hash = json.loads((probe_dir / "manifest.json").read_text()).get("content_hash")
    return probe_dir


def _replay_file(ctx: Ctx, replay: str | None) -> str | None:
    """data.replay as a file path: "base" is the base's own non-temporal instruction data (replay.jsonl)."""
    if replay != "base":
        return replay
    f = Path(ctx.base.root) / "replay.jsonl"
    if not f.is_file():
        raise UserError(f"data.replay = \"base\": base {ctx.base.root} has no replay.jsonl (only the embedded "
                        "bases, smol and micro, write one); give a replay file instead")
    return str(f)


def _train_all(ctx: Ctx, variants: list[Variant]) -> None:
    t0 = time.perf_counter()
    jobs = []
    for v in variants:
        if v.is_base or ctx.record.variant(v).status == "failed":
            continue
        skey = ctx.record.variant(v).stages["synth"]
        try:
            jobs.append((TrainJob(base=str(ctx.base.root), base_hash=ctx.base.hash, data=str(ctx.runs / "synth" / skey),
                                  data_key=skey, n=v.volume, options=train_options(v), replay=_replay_file(ctx, v.data.replay),
                                  report_to=v.train.report_to or DEFAULT_REPORT_TO, run_name=v.label,
                                  group=ctx.recipe.name), [v]))
        except UserError as e:  # this cell's options do not make a valid TrainOptions
            ctx.fail(v, "train", str(e), None)
    n_run = ctx.executed["train"]
    res = _run_stage(ctx, TRAIN, jobs)
    failed = 0
    for i, (job, [v]) in enumerate(jobs):
        if res[i].error:
            failed += 1
            ctx.fail(v, "train", res[i].error, res[i].key)
            continue
        tdir = ctx.runs / "train" / res[i].key
        rec = ctx.record.variant(v)
        rec.done("train", job, res[i])
        rec.trained(tdir, ctx.log("train", res[i].key))
        ctx.live.update(v.id, stage="trained", progress=1.0, loss=_final_loss(tdir))
        ctx.save(v)
    ran = len({r.key for r in res.values() if r.fresh})  # directories computed now (a nested run: several)
    runs = ctx.executed["train"] - n_run
    ctx.record.timings["train"] = time.perf_counter() - t0
    nested = f" in {runs} nested run(s)" if runs and runs < ran else ""
    ctx.live.summary("train", f"{ran}{nested} trained, {len(jobs) - ran - failed} cached, {failed} failed "
                              f"in {time.perf_counter() - t0:.1f}s")


def _final_loss(tdir: Path):
    try:
        import polars as pl

        df = pl.read_parquet(tdir / "loss.parquet")
        return float(df["loss"][-1])
    except Exception:  # noqa: BLE001 - cosmetic only
        return None


def _bench_specs(ctx: Ctx, probe_dir: Path | None) -> list[dict]:
    """The recipe's benchmarks with their paths resolved (the registry's default location if none)."""
    out = []
    for b in ctx.recipe.benchmark_specs():
        path = b.path or default_path(b.name, world=ctx.world, probe=probe_dir)
        out.append({"name": b.name, "path": str(path), "options": {}})
    return out


def _fitting(ctx: Ctx, vs: list[Variant]) -> list[Variant]:
    """The variants whose adapter fits the base and the engine (ablate.models.checks); each other one
    fails here, before any engine starts, with its own error row, and the rest are evaluated."""
    from ablate.eval.engines import engine_max_lora_rank
    from ablate.models.checks import adapter_problems

    engine = vs[0].eval.engine
    bad = adapter_problems(ctx.base, {v.id: ctx.record.variant(v).adapter for v in vs}, engine_max_lora_rank(engine), engine)
    for v in vs:
        if v.id in bad:
            ctx.fail(v, "eval", bad[v.id], None)
    return [v for v in vs if v.id not in bad]


def _eval_all(ctx: Ctx, variants: list[Variant], probe_dir: Path | None) -> list[Path]:
    t0 = time.perf_counter()
    benches = _bench_specs(ctx, probe_dir)
    groups: dict[str, list[Variant]] = {}
    for v in variants:
        if ctx.record.variant(v).status != "failed":
            groups.setdefault(stable_hash(v.eval_key), []).append(v)
    groups = {g: vs for g, vs in ((g, _fitting(ctx, vs)) for g, vs in groups.items()) if vs}
    k = ctx.executor.shards()
    jobs = []
    for vs in groups.values():
        ev = vs[0].eval
        recs = {v.id: ctx.record.variant(v) for v in vs}
        job = EvalJob(base=str(ctx.base.root), base_hash=ctx.base.hash,
                      adapters={vid: r.adapter for vid, r in recs.items()},
                      train_keys={vid: r.stages.get("train") for vid, r in recs.items()},
                      benchmarks=benches, engine=ev.engine, frames=ev.frames, max_tokens=ev.max_tokens,
                      scoring=ev.scoring)
        jobs += shard_eval(job, vs, k)
    n_run = ctx.executed["eval"]
    res = _run_stage(ctx, EVAL, jobs)
    failed: dict[str, Ran] = {}
    shards: dict[str, list[tuple[Ran, EvalJob]]] = {}
    for i, (job, vs) in enumerate(jobs):
        ran = res[i]
        for v in vs:
            if ran.error:
                failed.setdefault(v.id, ran)
            else:
                shards.setdefault(v.id, []).append((ran, job))
    # a variant is evaluated when all its shards are; a dir with a failed variant's items is left out
    eval_dirs = list(dict.fromkeys(ctx.runs / "eval" / res[i].key for i, (_, vs) in enumerate(jobs)
                                   if not any(v.id in failed for v in vs)))
    accs = variant_accuracies(eval_dirs) if eval_dirs else {}
    for vs in groups.values():
        for v in vs:
            if v.id in failed:
                ctx.fail(v, "eval", failed[v.id].error, failed[v.id].key)
                continue
            (ran, job), *more = shards[v.id]
            rec = ctx.record.variant(v)
            rec.done("eval", job, ran)
            rec.evaluated([ran.key] + [r.key for r, _ in more], accs.get(v.id, {}))
            ctx.live.update(v.id, stage="done", progress=1.0, **accs.get(v.id, {}))
            ctx.save(v)
    ctx.record.eval_dirs = [str(d) for d in eval_dirs]
    ctx.record.timings["eval"] = time.perf_counter() - t0
    ctx.live.summary("eval", f"{len(jobs)} engine call(s), {ctx.executed['eval'] - n_run} run, "
                             f"{len(eval_dirs)} ok in {time.perf_counter() - t0:.1f}s")
    return eval_dirs


def run_sweep(recipe: Recipe, runs_dir: str | Path = "runs", reports_dir: str | Path = "reports",
              force: tuple | list = (), live: Live | None = None, executor: Executor | None = None) -> dict:
    """Run (or resume) every variant of the recipe; write the report; return the sweep record as JSON
    (what runs/sweeps/<name>/sweep.json holds, ablate.sweep.bookkeeping.SweepRecord).

    executor: where stage jobs run (ablate.sweep.executor; default LocalExecutor, child processes).
    """
    bad = [f for f in force if f not in FORCEABLE]
    if bad:
        raise UserError(f"--force {bad[0]}: unknown stage; choose from {list(FORCEABLE)}")
    runs = Path(runs_dir)
    check_name(recipe.name, "recipe.name", recipe.path)  # it becomes runs/sweeps/<name>/, reports/<name>/
    for root, parts in ((runs, ("sweeps", recipe.name)), (runs, ("variants",)), (Path(reports_dir), (recipe.name,))):
        child_path(root, *parts)  # a symlink leading out of the runs / reports dir stops us before any work
    _check_dirs(runs, Path(reports_dir))  # a file in the way, a read-only disk: stop before any work
    t_start = time.perf_counter()
    variants = expand(recipe)
    live = live or Live([(v.id, v.label) for v in variants])
    with RunsLock(runs, recipe.name):
        clean_tmp(runs)
        record = SweepRecord.start(recipe, variants)
        if executor is None:
            from ablate.sweep.executor import LocalExecutor

            executor = LocalExecutor()
        ctx = Ctx(recipe, runs, tuple(force), live, record, executor)
        _prepare(ctx)  # before the live table: world/base builds draw their own rich progress bars
        if executor.remote:  # a cluster: every node must see these paths as we do
            executor.check_shared(_shared_paths(ctx), runs)
        with live:
            live.summary("prepare", f"base {ctx.base.hash} world {record.world_hash or '-'} "
                                    f"in {record.timings['prepare']:.1f}s")
            probe_dir = _synth_all(ctx, variants)
            _train_all(ctx, variants)
            eval_dirs = _eval_all(ctx, variants, probe_dir)
            record.executed = dict(ctx.executed)
            record.timings["total_before_report"] = time.perf_counter() - t_start
            record.finished = time.strftime("%Y-%m-%d %H:%M:%S")
            ctx.save()
            t0 = time.perf_counter()
            from ablate.sweep.report import report_from_record

            out = child_path(reports_dir, recipe.name)
            with doing("writing the report", out, "--reports-dir"):
                path = report_from_record(record.to_json(), out, eval_dirs)
            live.summary("report", f"{path} in {time.perf_counter() - t0:.1f}s")
        record.report = str(path)
        ctx.save()
    return record.to_json()


def _check_dirs(runs: Path, reports: Path) -> None:
    """Runs dir, reports dir and caches are (or become) writable directories; else a UserError naming one."""
    from ablate.core import cache_root, node_cache_root
    from ablate.fs import writable_dir

    for what, path, option in (("creating the runs dir", runs, "--runs-dir"), ("creating the reports dir", reports, "--reports-dir"),
                               ("writing the cache dir", cache_root(), "ABLATE_CACHE"),
                               ("writing the node cache dir", node_cache_root(), "ABLATE_NODE_CACHE (else ABLATE_CACHE)")):
        writable_dir(path, what, option)


def _shared_paths(ctx: Ctx) -> dict[str, Path]:
    """What jobs read besides the runs dir: the base model, the corpus, the world, benchmark and replay files."""
    r = ctx.recipe
    paths = {"base dir": Path(ctx.base.root), "corpus": ctx.corpus}
    if ctx.world is not None:
        paths["world"] = ctx.world
    for b in r.benchmark_specs():
        if b.path:
            paths[f"benchmark {b.name}"] = Path(b.path)
    for replay in dict.fromkeys([r.data.replay, *r.grid.get("data.replay", [])]):
        if replay:  # "base" is the base's own replay.jsonl, inside the base dir
            paths[f"replay file {replay}"] = Path(_replay_file(ctx, replay))
    return paths
