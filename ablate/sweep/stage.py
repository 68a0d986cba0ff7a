"""The stage contract: typed jobs, one key and one definition of "done" per stage, one progress event.

    from ablate.sweep.stage import STAGES, SynthJob
    job = SynthJob(corpus="captions.json", mix={"order": 1.0}, n=1000, probe_n=100)
    stage = STAGES[job.kind]                    # SYNTH, TRAIN or EVAL
    out = Path("runs") / stage.name / stage.key(job)
    if not stage.is_done(out):
        stage.run(job, out, progress=print)      # progress gets Progress events

Every stage has a `name`, `code` (the modules and packages its work runs), `key(job)`,
`is_done(out_dir)` and `run(job, out_dir, progress)`. A key hashes the code identity of the stage's
`code` (ablate.identity.code_identity: the source of those modules, comments and docstrings left
out), the job's settings and the content of its inputs, read from the files when the key is computed:
the corpus and replay files, the synthesis output, each adapter's weights, every file of every
benchmark (via a sidecar of file hashes, ablate.core.content_sha256). It also holds the key of the
stage before it, so editing a stage's code reruns that stage and every stage after it, and nothing
before; there is no version constant to bump. `run` leaves `out_dir` complete or absent (atomic rename).

    stage      code (SynthStage.code_for(job) picks by the job's mix)
    synth      t3 (T3 mixes) | ablate.synth.generic, t3.corpus, t3.util (the generic-text control)
    train      ablate.train, ablate.models, ablate.base.precision
    eval       ablate.eval, ablate.models, ablate.base.prompts, ablate.base.embed, ablate.base.video, t3.layout

A module a stage starts to use goes into its `code`; the base model's own code is in the base's hash.

The runner, the worker process (ablate.sweep.worker) and `ablate plan` all use these objects.
Jobs are JSON-serialisable (`to_json()` / `job_from_json()`), so any executor can ship them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

from ablate.core import content_sha256, content_tree_hash, read_json, stable_hash
from ablate.identity import code_identity


@dataclass(frozen=True)
class Progress:
    """One progress event of a running job (the live table's row)."""

    fraction: float | None = None
    """Share of the job done, 0..1 (None: unknown)."""
    loss: float | None = None
    """Latest training loss (train jobs)."""
    detail: str = ""
    """Short text such as `step 8/16 1250/s` or `world-video 300/600`."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Progress":
        d = json.loads(text)
        return cls(**{k: d[k] for k in ("fraction", "loss", "detail") if k in d})


ProgressFn = Callable[[Progress], None]


class _Job:
    kind: ClassVar[str]

    def to_json(self) -> dict:
        return {"kind": self.kind, **json.loads(json.dumps(dataclasses.asdict(self)))}


@dataclass(frozen=True)
class SynthJob(_Job):
    """T3 synthesis (or the generic-text control when mix is {"generic": 1})."""

    kind: ClassVar[str] = "synth"
    corpus: str  # caption file (its content enters the key, not its path)
    corpus_format: str = "auto"
    caption_field: str | None = None
    mix: dict = field(default_factory=dict)  # family -> weight
    n: int = 0  # training pool rows
    probe_n: int = 0  # held-out probe rows
    frames: int = 4  # captions per sample at length_scale 1
    length_scale: int = 1
    seed: int = 0


@dataclass(frozen=True)
class _OnBase(_Job):
    base: str  # the resolved base directory (never a spec like "smol": children use exactly this base)
    base_hash: str  # its content hash (ablate.base.BaseModel.hash)


@dataclass(frozen=True)
class TrainJob(_OnBase):
    """One LoRA adapter on the first `n` rows of a synthesis dir."""

    kind: ClassVar[str] = "train"
    data: str  # synthesis output dir (train.parquet + manifest.json)
    data_key: str  # the synth key of `data`
    n: int  # training rows: the first n of the pool (nested volumes)
    options: dict  # ablate.train.stage.options_record: every TrainOptions field but later ones at their defaults
    replay: str | None = None  # chat data mixed in at options["replay_ratio"]
    # how the run is watched (ablate.train.tracking); never in the key: changing them retrains nothing
    report_to: str = "tensorboard"  # tensorboard | wandb | mlflow | none
    run_name: str | None = None  # the variant's label
    group: str | None = None  # the recipe's name
    # {str(rows): dir} of more volumes trained in the same nested wsd run (ablate.sweep.plan.nest_train_jobs);
    # never in the key: each directory is the one its own job would write, under its own key
    nested: dict | None = None
    nested_names: dict | None = None  # {str(rows): run name} of those volumes (their TensorBoard runs)


@dataclass(frozen=True)
class EvalJob(_OnBase):
    """Every variant of one evaluation setting in one engine."""

    kind: ClassVar[str] = "eval"
    adapters: dict  # variant id -> adapter dir, or None for the base model
    train_keys: dict  # variant id -> train key of its adapter (None for the base model)
    benchmarks: list  # [{name, path, options}] with resolved paths
    engine: str = "vllm"  # vllm | hf
    frames: int = 8  # sampled per video
    max_tokens: int = 32  # greedy generation budget per answer
    scoring: str = "ablate"  # ablate (official rules, then judge-free fallbacks) | official (official rules only)
    items: list | None = None  # [i, n]: items i, i+n, i+2n ... of each benchmark (item shard i of n); None: all


JOBS = {c.kind: c for c in (SynthJob, TrainJob, EvalJob)}
TRACKING_FIELDS = ("report_to", "run_name", "group")  # TrainJob fields left out of TRAIN.key (and `nested`)


def job_from_json(d: dict) -> SynthJob | TrainJob | EvalJob:
    d = dict(d)
    return JOBS[d.pop("kind")](**d)


def _settings(job) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(job)))


class SynthStage:
    name = "synth"
    code = {"t3": ("t3",), "generic": ("ablate.synth.generic", "t3.corpus", "t3.util")}

    def code_for(self, job: SynthJob) -> tuple[str, ...]:
        return self.code["generic" if "generic" in job.mix else "t3"]

    def key(self, job: SynthJob) -> str:
        s = _settings(job)
        s["corpus"] = content_sha256(job.corpus)  # content, never the path
        return stable_hash({"stage": self.name, "code": code_identity(*self.code_for(job)), **s})

    def is_done(self, out: Path) -> bool:
        from ablate.sweep.records import stage_complete  # files whole, manifest parses (#13)

        probe = ("probe.parquet",) if (Path(out) / "probe.parquet").exists() else ()
        return stage_complete(Path(out), ("manifest.json", "train.parquet", *probe))[0]

    def run(self, job: SynthJob, out: Path, progress: ProgressFn) -> None:
        progress(Progress(0.0, detail="synthesizing"))
        if "generic" in job.mix:
            from ablate.synth.generic import write_generic

            write_generic(job.corpus, out, n=job.n, seed=job.seed, corpus_format=job.corpus_format,
                          caption_field=job.caption_field)
        else:
            import t3

            spec = t3.SynthSpec(mix=job.mix, n=job.n, probe_n=job.probe_n, frames=job.frames,
                                length_scale=job.length_scale, seed=job.seed)
            t3.synthesize(job.corpus, out, spec, corpus_format=job.corpus_format, caption_field=job.caption_field)
        progress(Progress(1.0, detail="synthesized"))


class TrainStage:
    name = "train"
    code = ("ablate.train", "ablate.models", "ablate.base.precision")

    def key(self, job: TrainJob) -> str:
        s = _settings(job)
        del s["base"], s["data"]  # paths: their content is in base_hash / data_key / data_hash
        for k in (*TRACKING_FIELDS, "nested", "nested_names"):  # how training is watched / batched is not what it computes
            del s[k]
        s["data_hash"] = read_json(Path(job.data) / "manifest.json").get("content_hash")
        s["replay"] = content_sha256(job.replay) if job.replay else None
        return stable_hash({"stage": self.name, "code": code_identity(*self.code), **s})

    def is_done(self, out: Path) -> bool:
        from ablate.sweep.records import stage_complete
        from ablate.train.stage import adapter_done

        return stage_complete(Path(out), ("manifest.json", "adapter_model.safetensors"))[0] and adapter_done(out)

    def run(self, job: TrainJob, out: Path, progress: ProgressFn) -> None:
        from ablate.core import UserError
        from ablate.train import TrainOptions, train_adapter

        unknown = sorted(set(job.options) - {f.name for f in dataclasses.fields(TrainOptions)})
        if unknown:
            raise UserError(f"train options {unknown} are not known to ablate.train.TrainOptions")
        last = [0.0]

        def on_step(step, total, loss, sps):
            now = time.monotonic()
            if now - last[0] > 0.5 or step == total:
                last[0] = now
                progress(Progress(step / max(total, 1), float(loss) if loss is not None else None,
                                  f"step {step}/{total} {sps:.0f}/s"))

        progress(Progress(0.0, detail="loading"))
        if job.nested:  # one wsd run writes `out` (volume job.n) and every other volume's own directory
            from ablate.train.nested import train_nested

            outs = {job.n: Path(out), **{int(n): Path(d) for n, d in job.nested.items()}}
            train_nested(job.base, job.data, outs, TrainOptions(**job.options), show_progress=False, on_step=on_step,
                         replay=job.replay)
            if job.report_to == "tensorboard":  # the run saves volumes as it goes: each volume's events from its steps
                from ablate.train.tracking import LOG_SUBDIR, write_events

                names = {job.n: job.run_name, **{int(n): v for n, v in (job.nested_names or {}).items()}}
                for n, d in outs.items():
                    if not (d / LOG_SUBDIR).exists():  # a volume done before this run has its events
                        write_events(d, names.get(n) or f"v{n}")
            elif job.report_to != "none":
                print(f"note: nested runs report to TensorBoard or nothing; {job.report_to} got no events "
                      "(every step is in each adapter's loss.parquet)", flush=True)
            return
        train_adapter(job.base, job.data, out, job.n, TrainOptions(**job.options), replay=job.replay,
                      on_step=on_step, show_progress=False, report_to=job.report_to, run_name=job.run_name,
                      group=job.group)


class EvalStage:
    name = "eval"
    code = ("ablate.eval", "ablate.models", "ablate.base.prompts", "ablate.base.embed", "ablate.base.video", "t3.layout")

    def key(self, job: EvalJob) -> str:
        from ablate.eval.engines.base import adapter_sha256

        s = _settings(job)
        del s["base"]
        if s["items"] is None:
            del s["items"]
        s["adapters"] = {v: adapter_sha256(Path(p) if p else None) for v, p in job.adapters.items()}  # the files now
        s["benchmarks"] = [{"name": b["name"], "options": b.get("options") or {},
                            "content": content_tree_hash(b["path"])} for b in job.benchmarks]
        return stable_hash({"stage": self.name, "code": code_identity(*self.code), **s})

    def is_done(self, out: Path) -> bool:
        from ablate.sweep.records import stage_complete

        return stage_complete(Path(out), ("predictions.parquet", "scores.parquet", "eval.json"))[0]

    def run(self, job: EvalJob, out: Path, progress: ProgressFn) -> None:
        from ablate.base import resolve_base
        from ablate.core import atomic_dir
        from ablate.eval.benchmarks import BenchSpec
        from ablate.eval.stage import evaluate

        last = [0.0]

        def progress_cb(bench: str, done: int, total: int, info: dict) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5 or done == total:
                last[0] = now
                progress(Progress(done / max(total, 1), detail=f"{bench} {done}/{total}"))

        benches = [BenchSpec(b["name"], b.get("path"), b.get("options") or {}) for b in job.benchmarks]
        adapters = {k: (Path(v) if v else None) for k, v in job.adapters.items()}
        progress(Progress(0.0, detail="loading"))
        with atomic_dir(out) as tmp:
            evaluate(resolve_base(job.base), adapters, benches, tmp, engine=job.engine, frames=job.frames,
                     max_tokens=job.max_tokens, progress_cb=progress_cb, scoring=job.scoring,
                     items=tuple(job.items) if job.items else None)


SYNTH, TRAIN, EVAL = SynthStage(), TrainStage(), EvalStage()
STAGES = {s.name: s for s in (SYNTH, TRAIN, EVAL)}
ORDER = ("synth", "train", "eval")
