"""Ray executor: the sweep's stage jobs as Ray tasks on a cluster (`ablate sweep RECIPE --executor ray`).

    from ablate.sweep.ray_executor import RayExecutor
    with RayExecutor(address=None) as ex:        # None: a local cluster that lives as long as this sweep
        ex.check_shared({"base dir": base.root}, runs)   # one probe task per node: same files there?
        handles = [ex.submit(job, out_dir, log) for job, out_dir, log in cells]
        outcomes = ex.wait(handles)               # one Outcome per handle, in order

    $ ray start --head && ablate sweep recipes/data_scale.toml --executor ray --address auto

One Ray task per job. It asks for one GPU when the cluster has GPUs (Ray sets the task's
CUDA_VISIBLE_DEVICES), else `cpus_per_cell` CPU slots, and runs the same worker child process as
LocalExecutor (`python -m ablate.sweep.worker JOBFILE`), so a cell's log, its isolation and its
progress lines are what they are on one machine. Ray's own dependencies stay out of the cell.

Failures, decided by how the worker child ended:
- exit 0: done. Exit 1 (a Python error) or 2 (a user error): the cell's failure, recorded as today and
  never retried; the other cells go on.
- killed by a signal (SIGKILL from the kernel's OOM killer, a segfault): `WorkerCrashed`, which Ray
  retries (`max_retries`), as it retries a task whose Ray worker or node died. Attempt numbers reach
  the live table and the cell's log (one log, one header line per attempt).
- `timeout_s`: a cell running longer is killed and recorded as failed (not retried: it would hang again).

Stopping: the child carries PR_SET_PDEATHSIG against its Ray worker, so whatever kills the worker
(Ray's cancel, job cleanup, the node going down) kills the cell. A local cluster started here dies
with the driver (Ray's reaper). On an external cluster (`--address`) each task also pings the
driver's progress actor, which Ray removes when the driver dies: after a failed ping the cell kills
its child and ends, so `kill -9` of the sweep stops its cells everywhere. Stage outputs are
content-addressed and renamed into place atomically, so the rerun skips what finished, and two
attempts of one cell that both finish both count as success.

Every node must see the runs dir and the base model at the same paths (`check_shared`, in
ablate.sweep.ray_cluster, fails fast otherwise). A cell runs in its node's environment (that of `ray start`; for a local cluster, the
driver's), so caches of derived data (item-level generations, decoded frames, features) stay on the
node: under ABLATE_NODE_CACHE when set, else the node's ABLATE_CACHE (see ablate.core.node_cache_root).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ablate.core import UserError
from ablate.sweep.executor import Executor, Handle, Outcome, die_with_parent
from ablate.sweep.stage import Progress

PING_S = 2.0          # how often a cell checks that its driver is alive
PING_MISSES = 3       # consecutive unanswered pings (each up to PING_TIMEOUT_S) before a cell gives up
PING_TIMEOUT_S = 10.0
CANCEL_GRACE_S = 30.0  # past timeout_s, the driver cancels a cell whose task did not stop itself


class WorkerCrashed(Exception):
    """The worker child died from a signal (OOM kill, SIGKILL, segfault): Ray retries the task."""


def default_command() -> list[str]:
    return [sys.executable, "-m", "ablate.sweep.worker"]


class _Progress:
    """Ray actor (one per sweep, on the driver's node): attempt numbers and progress events of all cells."""

    def __init__(self):
        self.attempts: dict[str, int] = {}
        self.events: list[tuple[str, int, str | dict]] = []

    def started(self, cell: str, host: str) -> int:
        self.attempts[cell] = self.attempts.get(cell, 0) + 1
        self.events.append((cell, self.attempts[cell], {"host": host}))  # a dict: an attempt started
        return self.attempts[cell]

    def progress(self, cell: str, attempt: int, ev: str) -> None:  # a Progress event's JSON
        self.events.append((cell, attempt, ev))

    def drain(self) -> list:
        out, self.events = self.events, []
        return out

    def attempts_of(self, cell: str) -> int:
        return self.attempts.get(cell, 0)

    def ping(self) -> bool:
        return True


def _cell_task(jobfile: str, log: str, command: list[str], actor, cell: str, timeout_s: float | None,
               cwd: str) -> dict:
    """The body of one Ray task: run the worker child for one job, stream its progress, classify its end."""
    import subprocess

    import ray

    host = socket.gethostname()
    attempt = ray.get(actor.started.remote(cell, host))
    cmd = [*command, jobfile]
    state = {"timeout": False, "orphan": False}
    t0 = time.perf_counter()
    with open(log, "w" if attempt == 1 else "a", encoding="utf-8") as logf:
        if attempt > 1:
            logf.write(f"\n--- attempt {attempt} on {host} (the previous attempt's worker died) ---\n")
        logf.write(f"$ {' '.join(cmd)}\n{Path(jobfile).read_text()}\n")
        logf.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=die_with_parent,
                                cwd=cwd if os.path.isdir(cwd) else None)  # the driver's: relative recipe paths
        threading.Thread(target=_watch, args=(proc, actor, timeout_s, state), daemon=True).start()
        tail: list[str] = []
        for line in proc.stdout:
            if line.startswith("@@progress "):
                actor.progress.remote(cell, attempt, line[len("@@progress "):].strip())
                continue
            logf.write(line)
            tail = (tail + [line.rstrip()])[-15:]
        rc = proc.wait()
    out = {"attempt": attempt, "seconds": time.perf_counter() - t0, "ok": False}
    if state["orphan"]:
        return {**out, "error": "the driver is gone"}
    if state["timeout"]:
        return {**out, "error": f"timed out after {timeout_s:g}s (attempt {attempt}, on {host})"}
    if rc < 0:
        raise WorkerCrashed(f"worker killed by {signal.Signals(-rc).name} on {host} (attempt {attempt})")
    err = next((t[len("@@error "):] for t in reversed(tail) if t.startswith("@@error ")), None)
    if rc == 0 and not err:
        return {**out, "ok": True, "error": ""}
    return {**out, "error": err or "\n".join(tail[-5:]) or f"exit status {rc}"}


def _watch(proc, actor, timeout_s: float | None, state: dict) -> None:
    """Kill the child when the cell runs past timeout_s or the driver (its progress actor) is gone."""
    import ray

    deadline = time.monotonic() + timeout_s if timeout_s else None
    misses = 0
    while proc.poll() is None:
        time.sleep(PING_S)
        if deadline and time.monotonic() > deadline:
            state["timeout"] = True
            proc.kill()
            return
        try:
            ray.get(actor.ping.remote(), timeout=PING_TIMEOUT_S)
            misses = 0
        except ray.exceptions.GetTimeoutError:
            misses += 1
        except Exception:  # noqa: BLE001 - actor died with its driver (RayActorError) or the cluster is going away
            misses = PING_MISSES
        if misses >= PING_MISSES:
            state["orphan"] = True
            proc.kill()
            return


class RayExecutor(Executor):
    """Stage jobs as Ray tasks. `address`: None starts a local cluster for this sweep (closed with it);
    "auto" or "HOST:PORT" joins a running one (`ray start --head`).

    gpus_per_cell: None = 1 when the cluster has GPUs, else 0 (then cpus_per_cell CPU slots per cell).
    max_retries: Ray retries of a cell whose worker, Ray worker or node died. timeout_s: kill a cell
    running longer (None: no limit). eval_shards: engines per evaluation setting (None: see shards()).
    command: the worker (tests put a stand-in here).
    """

    remote = True  # cells run on any node: the runs dir goes into jobs as an absolute path

    def __init__(self, address: str | None = None, *, gpus_per_cell: float | None = None, cpus_per_cell: float = 1,
                 max_retries: int = 3, timeout_s: float | None = None, eval_shards: int | None = None,
                 command: list[str] | None = None, init_kwargs: dict | None = None):
        self.address = address
        self.gpus_per_cell = gpus_per_cell
        self.cpus_per_cell = cpus_per_cell
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.eval_shards = eval_shards
        self.command = command or default_command()
        self.init_kwargs = init_kwargs or {}
        self._owns_ray = False
        self._actor = None
        self._task = None
        self._driver_node = ""

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> "RayExecutor":
        try:
            import ray
        except ImportError:
            raise UserError('--executor ray needs Ray: pip install -e ".[ray]"') from None
        if not ray.is_initialized():
            from ablate.sweep.ray_cluster import start_ray

            kw = dict(include_dashboard=False, log_to_driver=False, logging_level="warning")
            if self.address is None:
                kw.update(address="local", object_store_memory=200 * 1024 ** 2)
            else:
                kw.update(address=self.address)
            kw.update(self.init_kwargs)
            try:
                start_ray(ray, kw)
            except ConnectionError as e:
                raise UserError(f"--address {self.address}: no Ray cluster there ({e}); start one with "
                                "`ray start --head` or leave out --address for a local one") from None
            self._owns_ray = True
        self._driver_node = ray.get_runtime_context().get_node_id()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # on the driver's node, so that a cell's ping fails only when the driver (its owner) is gone
        self._actor = ray.remote(_Progress).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(self._driver_node, soft=False)).remote()
        gpus = self.gpus_per_cell
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        self._task = ray.remote(_cell_task)
        self._task_opts = dict(num_gpus=gpus, num_cpus=self.cpus_per_cell, max_retries=self.max_retries,
                               retry_exceptions=[WorkerCrashed])
        self.gpus = gpus
        return self

    def close(self) -> None:
        import ray

        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> "RayExecutor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def slots(self) -> int:
        """How many cells can run at once on the whole cluster (its GPUs, or its CPU slots)."""
        import ray

        res = ray.cluster_resources()
        if self.gpus:
            return max(1, int(res.get("GPU", 0) // self.gpus))
        return max(1, int(res.get("CPU", 1) // max(self.cpus_per_cell, 1e-9)))

    def shards(self) -> int:
        """Evaluation engines per evaluation setting (the runner splits its variants, or items, this many
        ways): eval_shards, else one per GPU slot; 1 without GPUs (a CPU engine wants a node's every core)."""
        return self.eval_shards or (self.slots() if self.gpus else 1)

    # shared filesystem ------------------------------------------------------------------------------
    def check_shared(self, paths: dict[str, str | Path], runs_dir: str | Path) -> None:
        """One probe task per alive node: the runs dir and each path must be the same there as here."""
        from ablate.sweep.ray_cluster import check_shared

        check_shared(paths, runs_dir)

    # jobs ----------------------------------------------------------------------------------------
    def submit(self, job, out_dir: Path, log: Path, progress: Callable[[Progress], None] | None = None,
               label: str | None = None) -> Handle:
        """One Ray task for the job; the job file goes beside the log, as LocalExecutor writes it."""
        h = Handle(job, Path(out_dir), Path(log), progress)
        h.log.parent.mkdir(parents=True, exist_ok=True)
        jobfile = h.log.with_name(h.log.name.removesuffix(".log") + ".job.json")
        spec = job.to_json() if hasattr(job, "to_json") else job
        jobfile.write_text(json.dumps({"job": spec, "out": str(h.out_dir)}, indent=1))
        h.state["cell"] = label or h.out_dir.name
        kind = spec.get("kind") if isinstance(spec, dict) else None
        opts = dict(self._task_opts, name=f"ablate:{kind or 'job'}:{h.state['cell']}")
        if kind == "synth":  # pure Python: a CPU slot wherever, never a GPU
            opts.update(num_gpus=0, num_cpus=1)
        h.state["ref"] = self._task.options(**opts).remote(str(jobfile.resolve()), str(h.log.resolve()), self.command,
                                                           self._actor, h.state["cell"], self.timeout_s, os.getcwd())
        return h

    def attempts(self, handle: Handle) -> int:
        """How many times the handle's cell was started (1 unless Ray retried it)."""
        import ray

        return ray.get(self._actor.attempts_of.remote(handle.state["cell"]))

    def wait(self, handles: list[Handle], poll_s: float = 0.5) -> list[Outcome]:
        """Block until every handle has finished; feed each its progress meanwhile. Never raises for a job."""
        import ray

        by_ref = {h.state["ref"]: h for h in handles if "outcome" not in h.state}
        pending = list(by_ref)
        started: dict[str, float] = {}
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=poll_s)
            self._drain(handles, started)
            for ref in ready:
                h = by_ref[ref]
                h.state["outcome"] = self._outcome(h, started.get(h.state["cell"]))
            if self.timeout_s:
                self._cancel_overdue(pending, by_ref, started)
        self._drain(handles, started)
        return [h.state["outcome"] for h in handles]

    def _drain(self, handles: list[Handle], started: dict) -> None:
        import ray

        try:
            events = ray.get(self._actor.drain.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - progress is cosmetic; the outcomes still arrive
            return
        by_cell: dict[str, list[Handle]] = {}
        for h in handles:
            by_cell.setdefault(h.state["cell"], []).append(h)
        for cell, attempt, ev in events:
            if isinstance(ev, dict):  # an attempt started
                started[cell] = time.monotonic()
                if attempt == 1:
                    continue
                p = Progress(0.0, detail=f"attempt {attempt} on {ev['host']}")
            else:
                try:
                    p = Progress.from_json(ev)
                except (ValueError, TypeError):
                    continue
                if attempt > 1:  # the live table shows which attempt it is watching
                    p = Progress(p.fraction, p.loss, f"attempt {attempt}: {p.detail}".rstrip(": "))
            for h in by_cell.get(cell, []):
                h.state["attempts"] = max(h.state.get("attempts", 1), attempt)
                if h.progress:
                    h.progress(p)

    def _cancel_overdue(self, pending: list, by_ref: dict, started: dict) -> None:
        import ray

        for ref in pending:
            t = started.get(by_ref[ref].state["cell"])
            if t and time.monotonic() - t > self.timeout_s + CANCEL_GRACE_S:
                ray.cancel(ref, force=True, recursive=False)

    def _outcome(self, h: Handle, t_start: float | None) -> Outcome:
        import ray

        secs = time.monotonic() - t_start if t_start else 0.0
        try:
            r = ray.get(h.state["ref"])
        except ray.exceptions.TaskCancelledError:
            err = f"timed out after {self.timeout_s:g}s (cancelled)"
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            msg = str(cause) if isinstance(cause, WorkerCrashed) else f"{type(cause or e).__name__}: {cause or e}"
            err = f"{msg}; gave up after {self._attempts(h)} attempt(s)"
        except ray.exceptions.RayError as e:  # the Ray worker or node died on the last attempt, out of memory ...
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            err = f"{type(e).__name__}: {first}; gave up after {self._attempts(h)} attempt(s)"
        else:
            h.state["attempts"] = r["attempt"]
            return Outcome(bool(r["ok"]), r["error"], h.log, r["seconds"])
        return Outcome(False, err, h.log, secs)

    def _attempts(self, h: Handle) -> int:
        try:
            h.state["attempts"] = self.attempts(h)
        except Exception:  # noqa: BLE001 - the count is for the message only
            pass
        return h.state.get("attempts", 1)
