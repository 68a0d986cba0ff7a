"""Executors: where a stage job runs. The runner only submits jobs and waits for their outcomes.

    from ablate.sweep.executor import LocalExecutor
    ex = LocalExecutor()
    h = ex.submit(job, Path("runs/train/<key>"), Path("runs/train/<key>.log"), progress=print)
    [outcome] = ex.wait([h])          # Outcome(ok, error, log, seconds)

The contract is the `Executor` protocol: `submit(job, out_dir, log, progress=None) -> Handle` and
`wait(handles) -> list[Outcome]` (one outcome per handle, in order), plus capabilities with defaults
for an executor that has nothing to do there: `remote` (jobs may run on other machines; False),
`shards()` (engines per evaluation setting, 1) and `check_shared(paths, runs_dir)` (every node sees
these paths as we do; a no-op on one machine).
`progress` receives the job's ablate.sweep.stage.Progress events; `out_dir` is complete after an ok
outcome (or was already). An executor never raises for a failed job: the failure is in its Outcome, so
one variant's crash never stops the others. A distributed executor (Ray, Slurm) is another class that
subclasses `Executor` (ablate.sweep.ray_executor.RayExecutor).

- `LocalExecutor` (the default): each job in a child process, `python -m ablate.sweep.worker JOBFILE`,
  `max_parallel` at a time (1: training and inference each want every core of a small machine). The
  child's output goes to the job's log file; a crash, an out-of-memory kill or a library abort loses
  only that job; killing the sweep kills the child too (PDEATHSIG).
- `InlineExecutor`: runs the job in this process (tests, debugging with pdb).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ablate.core import UserError
from ablate.sweep.stage import STAGES, Progress


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str
    """Empty when ok; else the user-facing message or the exception's last line."""
    log: Path
    seconds: float = 0.0


@dataclass(eq=False)
class Handle:
    job: Any
    out_dir: Path
    log: Path
    progress: Callable[[Progress], None] | None = None
    state: dict = field(default_factory=dict)  # the executor's own bookkeeping


class Executor(Protocol):
    """Where stage jobs run. Subclass it to inherit the defaults of the optional capabilities."""

    remote: bool = False
    """Jobs may run on other machines (paths in jobs are made absolute; `check_shared` checks them)."""

    def submit(self, job, out_dir: Path, log: Path, progress: Callable[[Progress], None] | None = None) -> Handle:
        """Start (or queue) the job; its outcome comes from `wait`."""
        ...

    def wait(self, handles: list[Handle]) -> list[Outcome]:
        """Block until every handle has finished; one Outcome per handle, in order. Never raises for a job."""
        ...

    def shards(self) -> int:
        """Evaluation engines per evaluation setting (the runner splits its variants or items this many ways)."""
        return 1

    def check_shared(self, paths: dict[str, str | Path], runs_dir: str | Path) -> None:
        """Fail (UserError) if a node running jobs would not see `paths` and `runs_dir` as this process does."""
        return None


class LocalExecutor(Executor):
    """Child processes on this machine, `max_parallel` at a time, started in submission order."""

    def __init__(self, max_parallel: int = 1):
        self.max_parallel = max(1, int(max_parallel))
        self._queue: list[Handle] = []
        self._running: list[Handle] = []
        self._lock = threading.Lock()  # progress callbacks come from reader threads, one at a time

    def submit(self, job, out_dir: Path, log: Path, progress=None) -> Handle:
        h = Handle(job, Path(out_dir), Path(log), progress)
        self._queue.append(h)
        self._fill()
        return h

    def wait(self, handles: list[Handle]) -> list[Outcome]:
        while any("outcome" not in h.state for h in handles):
            self._fill()
            busy = [r for r in self._running if "outcome" not in r.state]
            busy[0].state["thread"].join(timeout=0.2)  # a pending handle is running, or queued behind one
        self._fill()
        return [h.state["outcome"] for h in handles]

    def _fill(self) -> None:
        self._running = [r for r in self._running if "outcome" not in r.state]
        while self._queue and len(self._running) < self.max_parallel:
            h = self._queue.pop(0)
            self._running.append(h)
            try:
                self._start(h)
            except Exception as e:  # noqa: BLE001 - e.g. the log dir is not writable: this job fails
                h.state["outcome"] = Outcome(False, f"cannot start the worker: {type(e).__name__}: {e}", h.log)

    def _start(self, h: Handle) -> None:
        h.log.parent.mkdir(parents=True, exist_ok=True)
        jobfile = h.log.with_name(h.log.name.removesuffix(".log") + ".job.json")
        jobfile.write_text(json.dumps({"job": h.job.to_json(), "out": str(h.out_dir)}, indent=1))
        cmd = [sys.executable, "-m", "ablate.sweep.worker", str(jobfile)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        logf = open(h.log, "w", encoding="utf-8")
        logf.write(f"$ {' '.join(cmd)}\n{jobfile.read_text()}\n")
        logf.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                preexec_fn=die_with_parent, bufsize=1)
        h.state["thread"] = threading.Thread(target=self._pump, args=(h, proc, logf, t0), daemon=True)
        h.state["thread"].start()

    def _pump(self, h: Handle, proc: subprocess.Popen, logf, t0: float) -> None:
        tail: list[str] = []
        rc = None
        try:
            for line in proc.stdout:
                if line.startswith("@@progress "):
                    try:
                        ev = Progress.from_json(line[len("@@progress "):])
                    except (ValueError, TypeError):
                        continue
                    if h.progress:
                        with self._lock:
                            h.progress(ev)
                    continue
                logf.write(line)
                tail = (tail + [line.rstrip()])[-15:]
            rc = proc.wait()
        except Exception as e:  # noqa: BLE001 - never leave a handle without an outcome
            proc.kill()
            tail.append(f"@@error reading the worker's output failed: {type(e).__name__}: {e}")
            rc = proc.wait()
        finally:
            logf.close()
        err = next((t[len("@@error "):] for t in reversed(tail) if t.startswith("@@error ")), None)
        rc = 1 if rc == 0 and err else rc
        msg = "" if rc == 0 else (err or "\n".join(tail[-5:]) or f"exit status {rc}")
        h.state["outcome"] = Outcome(rc == 0, msg, h.log, time.perf_counter() - t0)


class InlineExecutor(Executor):
    """Runs each job in this process when it is waited for (tests, debugging); same outcomes."""

    def submit(self, job, out_dir: Path, log: Path, progress=None) -> Handle:
        return Handle(job, Path(out_dir), Path(log), progress)

    def wait(self, handles: list[Handle]) -> list[Outcome]:
        out = []
        for h in handles:
            if "outcome" not in h.state:
                h.state["outcome"] = self._run(h)
            out.append(h.state["outcome"])
        return out

    @staticmethod
    def _run(h: Handle) -> Outcome:
        t0 = time.perf_counter()
        h.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            STAGES[h.job.kind].run(h.job, h.out_dir, h.progress or (lambda ev: None))
        except UserError as e:
            h.log.write_text(f"{e}\n")
            return Outcome(False, str(e), h.log, time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - recorded in the outcome, like a child's crash
            h.log.write_text(traceback.format_exc())
            return Outcome(False, f"{type(e).__name__}: {e}", h.log, time.perf_counter() - t0)
        h.log.write_text("ok\n")
        return Outcome(True, "", h.log, time.perf_counter() - t0)


def die_with_parent() -> None:
    """preexec_fn for a child process: the kernel kills it when its parent dies (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
