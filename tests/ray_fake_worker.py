"""A stand-in for `python -m ablate.sweep.worker JOBFILE` in tests/test_sweep_ray.py: same protocol
(`@@progress {json}` lines, `@@error msg` + exit 2 for a user error, traceback + exit 1 otherwise, the
output directory renamed into place with ablate.core.atomic_dir), but a job takes a fraction of a second.

    python tests/ray_fake_worker.py JOBFILE     # {"job": {"cell", "marks", "mode", "sleep"}, "out": dir}

Each start leaves `<marks>/<cell>.start.<pid>` (pid, CUDA_VISIBLE_DEVICES, time) so a test can count
attempts and find the process. Modes: ok, user (user error), raise (Python error), kill_first
(SIGKILLs itself on the first attempt), kill_ray_worker_first (SIGKILLs its Ray worker), kill_always, race (two attempts finish at the same instant).
A file `<marks>/fast` caps the sleep (a rerun after a kill).
"""

import json
import math
import os
import signal
import sys
import time
from pathlib import Path

spec = json.loads(Path(sys.argv[1]).read_text())  # {"job": {...}, "out": dir}, as the executors write it
job, out = spec["job"], spec["out"]
marks, cell, mode = Path(job["marks"]), job["cell"], job.get("mode", "ok")
marks.mkdir(parents=True, exist_ok=True)
t0 = time.time()
me = {"pid": os.getpid(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "t0": t0}
tmp = marks / f".{cell}.start.{os.getpid()}"
tmp.write_text(json.dumps(me))
tmp.rename(marks / f"{cell}.start.{os.getpid()}")  # whole or absent: the tests read these while cells run
print(f"fake worker {cell} pid {os.getpid()}", flush=True)

if mode == "kill_first" and not (marks / f"{cell}.killed").exists():
    (marks / f"{cell}.killed").write_text("")
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "kill_ray_worker_first" and not (marks / f"{cell}.killed").exists():
    (marks / f"{cell}.killed").write_text("")
    os.kill(os.getppid(), signal.SIGKILL)  # the Ray worker running this cell, as if its node went away
    time.sleep(30)  # PR_SET_PDEATHSIG ends us first
if mode == "kill_always":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "user":
    print("@@error recipes/x.toml:3: value -5 out of range [1, 100000000] (key `data.pool`)", flush=True)
    sys.exit(2)
if mode == "raise":
    raise RuntimeError("boom in the cell")

sleep = float(job.get("sleep", 0.5))
if (marks / "fast").exists():
    sleep = min(sleep, 0.2)
for i in range(4):
    time.sleep(sleep / 4)
    print("@@progress " + json.dumps({"fraction": (i + 1) / 4, "loss": 1.0 / (i + 1), "detail": f"step {i + 1}/4"}),
          flush=True)

from ablate.core import atomic_dir  # noqa: E402

with atomic_dir(out) as tmp:
    (tmp / "result.json").write_text(json.dumps({**me, "t1": time.time()}))
    if mode == "race":  # both attempts leave the block (rename) at the same wall-clock instant
        deadline = time.time() + 20
        while len(list(marks.glob(f"{cell}.start.*"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the other attempt's marker is written in full by now
        starts = [json.loads(p.read_text())["t0"] for p in marks.glob(f"{cell}.start.*")]
        time.sleep(max(0.0, math.ceil(max(starts)) + 1 - time.time()))
print("done", flush=True)
