"""RayExecutor on a local Ray cluster of this machine (2 CPUs, 2 fake GPUs): scheduling, retries,
user errors, timeouts, the driver-liveness check, kill -9 and resume, the shared-filesystem probe.

    python -m pytest tests/test_sweep_ray.py -q          (about a minute on 2 cores; needs .[ray])

The cells run tests/ray_fake_worker.py (the worker's protocol, a fraction of a second per job), so
these tests are about the executor, not about training; the smoke recipe through `--executor ray`
is in test_smoke_local_and_ray_identical (slow).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ablate.core import UserError  # noqa: E402
from ablate.sweep.ray_executor import RayExecutor  # noqa: E402

HERE = Path(__file__).parent
FAKE = [sys.executable, str(HERE / "ray_fake_worker.py")]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="module")
def cluster():
    from ablate.sweep.ray_cluster import start_ray

    start_ray(ray, dict(address="local", num_cpus=2, num_gpus=2, object_store_memory=200 * 1024 ** 2,
                    include_dashboard=False, log_to_driver=False, logging_level="warning"))
    yield
    ray.shutdown()


def cells(tmp: Path, *specs: tuple[str, str, float]) -> list[dict]:
    return [{"cell": c, "mode": m, "sleep": s, "out": str(tmp / "out" / c), "marks": str(tmp / "marks")}
            for c, m, s in specs]


def run(ex: RayExecutor, jobs: list[dict], events: list | None = None):
    hs = [ex.submit(j, j["out"], Path(j["marks"]) / f"{j['cell']}.log", label=j["cell"],
                    progress=None if events is None else (lambda ev, c=j["cell"]: events.append((c, ev))))
          for j in jobs]
    return hs, ex.wait(hs)


def starts(tmp: Path, cell: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp / "marks").glob(f"{cell}.start.*"))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_kill_9_of_the_driver_stops_its_cells_and_rerun_resumes(tmp_path):
    """The driver's own local cluster: kill -9 it while two long cells run. First in the file, so that
    the module's cluster (fixture `cluster`) does not yet compete with it for the two cores."""
    jobs = cells(tmp_path, ("a", "ok", 0.2), ("b", "ok", 0.2), ("c", "ok", 120), ("d", "ok", 120))
    spec = tmp_path / "cells.json"
    spec.write_text(json.dumps(jobs))
    ray_tmp = tempfile.mkdtemp(prefix="ar", dir="/tmp")  # short: Ray's socket paths live under it
    cmd = [sys.executable, str(HERE / "ray_fake_driver.py"), str(spec), ray_tmp]
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + 180  # the driver starts a cluster of its own first
        while not (starts(tmp_path, "c") and starts(tmp_path, "d")) and time.monotonic() < deadline:
            assert p.poll() is None, p.stdout.read()
            time.sleep(0.2)
        if not (starts(tmp_path, "c") and starts(tmp_path, "d")):
            p.kill()
            pytest.fail(f"cells c, d did not start in 180 s; driver said:\n{p.stdout.read()[-3000:]}")
        pids = [starts(tmp_path, c)[0]["pid"] for c in "cd"]
        assert (tmp_path / "out" / "a").is_dir() and (tmp_path / "out" / "b").is_dir()
        tree = _descendants(p.pid)  # the driver's cluster: raylet, GCS, agents, Ray workers, cells
        p.kill()
        p.wait()
        deadline = time.monotonic() + 30
        while any(alive(x) for x in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(x) for x in pids), "cells outlived their driver"
        while any(alive(x) for x in tree if _name(x) in ("raylet", "gcs_server")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [x for x in tree if alive(x) and _name(x) in ("raylet", "gcs_server")], "its cluster outlived it"
        assert not (tmp_path / "out" / "c").exists() and not (tmp_path / "out" / "d").exists()

        (tmp_path / "marks" / "fast").write_text("")
        again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "executed c d\n" in again.stdout and "outcome c=ok d=ok" in again.stdout
        assert [len(starts(tmp_path, c)) for c in "abcd"] == [1, 1, 2, 2]  # only the unfinished ran again
    finally:
        tree = tree if "tree" in locals() else []
        if p.poll() is None:  # the test failed with the driver still running
            tree += _descendants(p.pid)
            p.kill()
        for x in tree:  # Ray's agents of a killed cluster linger ~1 min: end ours now
            if alive(x):
                os.kill(x, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_gpu_cells_two_at_a_time_each_its_own_device(cluster, tmp_path):
    events = []
    # half a CPU per cell: the CPUs would allow 4 at once, the 2 GPUs allow 2
    ex = RayExecutor(command=FAKE, cpus_per_cell=0.5).start()
    assert ex.gpus == 1 and ex.slots() == 2
    hs, outs = run(ex, cells(tmp_path, *[(f"c{i}", "ok", 1.5) for i in range(4)]), events)
    assert all(o.ok for o in outs), outs
    res = [json.loads((tmp_path / "out" / f"c{i}" / "result.json").read_text()) for i in range(4)]
    assert {r["cuda"] for r in res} == {"0", "1"}
    for r in res:  # at any start, at most one other cell is running, and never on the same device
        running = [o for o in res if o["t0"] <= r["t0"] < o["t1"]]
        assert len(running) <= 2
        assert len({o["cuda"] for o in running}) == len(running)
    assert max(sum(o["t0"] <= r["t0"] < o["t1"] for o in res) for r in res) == 2  # and they do run in parallel
    assert [ev.fraction for c, ev in events if c == "c0"] == [0.25, 0.5, 0.75, 1.0]
    assert [ev.detail for c, ev in events if c == "c0"][-1] == "step 4/4" and outs[0].seconds > 1
    assert [h.state["attempts"] for h in hs] == [1] * 4
    log = (tmp_path / "marks" / "c0.log").read_text()
    assert "fake worker c0" in log and "@@progress" not in log  # progress goes to the table, the rest to the log


def test_killed_worker_retried_user_error_not(cluster, tmp_path):
    events = []
    ex = RayExecutor(command=FAKE).start()
    jobs = cells(tmp_path, ("killed", "kill_first", 0.2), ("user", "user", 0), ("raises", "raise", 0), ("ok", "ok", 0.2),
                 ("lost", "kill_ray_worker_first", 0.2))
    hs, outs = run(ex, jobs, events)
    got = dict(zip([j["cell"] for j in jobs], outs))
    tries = {j["cell"]: ex.attempts(h) for j, h in zip(jobs, hs)}
    assert got["killed"].ok and tries["killed"] == 2 and len(starts(tmp_path, "killed")) == 2
    assert "--- attempt 2" in (tmp_path / "marks" / "killed.log").read_text()
    assert (tmp_path / "out" / "killed" / "result.json").is_file()
    assert any(c == "killed" and ev.detail.startswith("attempt 2") for c, ev in events)  # the table sees attempt 2
    assert not got["user"].ok and got["user"].error.endswith("(key `data.pool`)") and tries["user"] == 1
    assert not got["raises"].ok and "RuntimeError: boom in the cell" in got["raises"].error
    assert len(starts(tmp_path, "user")) == 1 and len(starts(tmp_path, "raises")) == 1  # exactly one attempt each
    assert tries["raises"] == 1
    assert got["ok"].ok and got["ok"].log == tmp_path / "marks" / "ok.log"
    # the Ray worker itself killed (node loss, Ray's OOM monitor): Ray retries; the orphaned child died with it
    assert got["lost"].ok and tries["lost"] == 2 and not alive(starts(tmp_path, "lost")[0]["pid"])


def test_crash_on_every_attempt_gives_up_after_max_retries(cluster, tmp_path):
    ex = RayExecutor(command=FAKE, max_retries=1).start()
    [h], [out] = run(ex, cells(tmp_path, ("doomed", "kill_always", 0)))
    assert not out.ok and ex.attempts(h) == 2 and len(starts(tmp_path, "doomed")) == 2
    assert "worker killed by SIGKILL" in out.error and "gave up after 2 attempt(s)" in out.error


def test_timeout_kills_a_hung_cell(cluster, tmp_path):
    ex = RayExecutor(command=FAKE, timeout_s=10).start()  # room for a slow start on a busy machine
    t = time.monotonic()
    hs, [hung, ok] = run(ex, cells(tmp_path, ("hung", "ok", 120), ("quick", "ok", 0.2)))
    assert not hung.ok and "timed out after 10s" in hung.error and ex.attempts(hs[0]) == 1
    assert ok.ok and time.monotonic() - t < 60
    assert not alive(starts(tmp_path, "hung")[0]["pid"])


def test_cells_stop_when_the_driver_is_gone(cluster, tmp_path):
    """--address: a cell's Ray worker can outlive its driver; the cell notices the progress actor is gone."""
    ex = RayExecutor(command=FAKE).start()
    hs = [ex.submit(j, j["out"], tmp_path / "hung.log", label=j["cell"]) for j in cells(tmp_path, ("hung", "ok", 120))]
    deadline = time.monotonic() + 30
    while not starts(tmp_path, "hung") and time.monotonic() < deadline:
        time.sleep(0.2)
    pid = starts(tmp_path, "hung")[0]["pid"]
    ray.kill(ex._actor)  # what Ray does to the actor when its owner, the driver, dies
    [out] = ex.wait(hs)
    assert not out.ok and "driver is gone" in out.error
    assert not alive(pid)


def test_two_attempts_of_one_cell_finishing_at_once_both_succeed(cluster, tmp_path):
    ex = RayExecutor(command=FAKE).start()
    job = cells(tmp_path, ("same", "race", 0))[0]
    hs = [ex.submit(job, job["out"], tmp_path / f"same{i}.log", label=f"same{i}") for i in range(2)]
    assert [o.ok for o in ex.wait(hs)] == [True, True]
    assert (tmp_path / "out" / "same" / "result.json").is_file()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["same"]  # no temp dir left behind


def test_probe_fails_fast_when_a_path_is_not_shared(cluster, tmp_path):
    ex = RayExecutor(command=FAKE).start()
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    ex.check_shared({"base dir": base}, tmp_path / "runs")  # one node, same filesystem: fine
    assert not list((tmp_path / "runs").iterdir())  # the probe file is removed
    with pytest.raises(UserError, match=r"does not see the base dir /nonexistent/base \(missing\)[\s\S]*every Ray node"):
        ex.check_shared({"base dir": "/nonexistent/base"}, tmp_path / "runs")


def test_kill_9_of_a_driver_on_a_running_cluster_stops_its_cells(cluster, tmp_path):
    """--address: the cluster outlives the driver; its cells must not (Ray's job cleanup, else the ping)."""
    jobs = cells(tmp_path, ("a", "ok", 0.2), ("c", "ok", 120), ("d", "ok", 120))
    spec = tmp_path / "cells.json"
    spec.write_text(json.dumps(jobs))
    cmd = [sys.executable, str(HERE / "ray_fake_driver.py"), str(spec), "--address", ray.get_runtime_context().gcs_address]
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not (starts(tmp_path, "c") and starts(tmp_path, "d")) and time.monotonic() < deadline:
            assert p.poll() is None, p.stdout.read()
            time.sleep(0.2)
        pids = [starts(tmp_path, c)[0]["pid"] for c in "cd"]
        p.kill()
        p.wait()
        deadline = time.monotonic() + 40
        while any(alive(x) for x in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(x) for x in pids), "cells outlived their driver"
        assert ray.cluster_resources().get("CPU") == 2  # the cluster itself is still there
        (tmp_path / "marks" / "fast").write_text("")
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "executed c d\n" in again.stdout, again.stdout + again.stderr
        assert [len(starts(tmp_path, c)) for c in "acd"] == [1, 2, 2]
    finally:
        if p.poll() is None:
            p.kill()


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def test_shard_eval_balanced_variants_or_items_and_k1_keeps_the_key(tmp_path):
    from ablate.sweep.plan import expand
    from ablate.sweep.recipe import load_recipe
    from ablate.sweep.eval_shards import shard_eval
    from ablate.sweep.stage import EVAL, EvalJob

    bench = tmp_path / "probe.parquet"
    bench.write_bytes(b"items")
    vs = expand(load_recipe(HERE.parent / "recipes" / "smoke.toml", check_paths=False))  # base, all/v64, generic/v64
    job = EvalJob(base="b", base_hash="h", adapters={v.id: None for v in vs}, train_keys={v.id: None for v in vs},
                  benchmarks=[{"name": "t3-probe", "path": str(bench), "options": {}}])
    [(same, _)] = shard_eval(job, vs, 1)
    assert same is job
    legacy = dict(job.to_json())
    del legacy["items"]  # a job as written before item sharding existed has today's key
    from ablate.sweep.stage import job_from_json

    assert EVAL.key(job_from_json(legacy)) == EVAL.key(job)
    two = shard_eval(job, vs, 2)
    assert [sorted(j.adapters) for j, _ in two] == [sorted(v.id for v in p) for _, p in two]
    assert sorted(len(p) for _, p in two) == [1, 2] and {v.id for _, p in two for v in p} == {v.id for v in vs}
    assert len({EVAL.key(j) for j, _ in two}) == 2  # each shard its own content-addressed dir
    four = shard_eval(job, vs, 4)  # fewer variants than engines: every variant, a quarter of the items each
    assert [j.items for j, _ in four] == [[0, 4], [1, 4], [2, 4], [3, 4]] and all(p == vs for _, p in four)
    assert len({EVAL.key(j) for j, _ in four} | {EVAL.key(job)}) == 5


@pytest.mark.slow
def test_smoke_local_and_ray_identical(tmp_path):
    """recipes/smoke.toml with --executor local and --executor ray (a local Ray cluster, one cell at a time
    with both cores, as LocalExecutor runs): the same stage keys, byte-identical adapters, identical
    predictions (every column but latency_s, a wall time); then 4 item shards give the same predictions."""
    from ablate.base import resolve_base
    from ablate.sweep.recipe import load_recipe
    from ablate.world import default_world
    import polars as pl

    smoke = HERE.parent / "recipes" / "smoke.toml"
    world = default_world(**load_recipe(smoke).world.params())
    pinned = ["--set", f'base.model="{resolve_base("micro").root}"', "--set", f'data.corpus="{world}/captions/captions.json"',
              "--set", f'eval.benchmarks=["t3-probe", {{name="world-video", path="{world}/bench"}}, '
                       f'{{name="world-text", path="{world}/bench"}}]']

    def sweep(name: str, *extra: str):
        env = dict(os.environ, ABLATE_NODE_CACHE=str(tmp_path / f"node-{name}"), RAY_AUTH_MODE="disabled")
        out = subprocess.run([sys.executable, "-m", "ablate", "sweep", str(smoke), "--runs-dir", str(tmp_path / name),
                              "--reports-dir", str(tmp_path / "reports"), *pinned, *extra],
                             capture_output=True, text=True, env=env, timeout=900, cwd=HERE.parent)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out

    sweep("local", "--executor", "local")
    out = sweep("ray", "--executor", "ray", "--set", "sweep.cpus_per_cell=2")
    assert "[sweep:train] 2 trained, 0 cached, 0 failed" in out.stdout
    loc, ray_ = tmp_path / "local", tmp_path / "ray"
    for stage in ("synth", "train", "eval"):
        assert sorted(p.name for p in (loc / stage).iterdir()) == sorted(p.name for p in (ray_ / stage).iterdir())
    for a in (loc / "train").glob("*/adapter_model.safetensors"):
        assert a.read_bytes() == (ray_ / "train" / a.parent.name / a.name).read_bytes()
    [edir] = [p for p in (loc / "eval").iterdir() if p.is_dir()]
    a = pl.read_parquet(edir / "predictions.parquet")
    b = pl.read_parquet(ray_ / "eval" / edir.name / "predictions.parquet")
    assert a.drop("latency_s").equals(b.drop("latency_s")) and not a["cached"].any() and not b["cached"].any()

    out = sweep("ray", "--executor", "ray", "--set", "sweep.cpus_per_cell=2", "--set", "sweep.eval_shards=4")
    assert "[sweep:train] 0 trained, 2 cached, 0 failed" in out.stdout and "4 engine call(s), 4 run, 4 ok" in out.stdout
    rec = json.loads((ray_ / "sweeps" / "smoke" / "sweep.json").read_text())
    parts = pl.concat([pl.read_parquet(Path(d) / "predictions.parquet") for d in rec["eval_dirs"]])
    cols = [c for c in a.columns if c not in ("latency_s", "cached")]  # the shards hit the node's generation cache
    key = ["variant", "benchmark", "item_id"]
    assert parts.select(cols).sort(key).equals(a.select(cols).sort(key))


def test_executor_choice_from_flags_and_recipe():
    from ablate.sweep.cli import make_executor
    from ablate.sweep.executor import LocalExecutor
    from ablate.sweep.sections import SweepSection

    with make_executor(SweepSection()) as ex:
        assert isinstance(ex, LocalExecutor)
    with pytest.raises(UserError, match="--address is for --executor ray"):
        make_executor(SweepSection(), "local", "auto")
    ex = make_executor(SweepSection(executor="ray", max_retries=1, timeout=60, cpus_per_cell=2), None, None)
    assert isinstance(ex, RayExecutor) and (ex.address, ex.max_retries, ex.timeout_s, ex.cpus_per_cell) == (None, 1, 60, 2)
    assert make_executor(SweepSection(), None, "auto").address == "auto"  # --address implies --executor ray
