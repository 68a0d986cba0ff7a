"""Ray cluster plumbing for RayExecutor: starting a local cluster on a busy machine, and the start-up
probe that every node sees the runs dir and the inputs as the driver does.

    from ablate.sweep.ray_cluster import check_shared
    check_shared({"base dir": "/shared/models/tiny"}, "/shared/runs")   # UserError naming node and path
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from ablate.core import UserError


def check_shared(paths: dict[str, str | Path], runs_dir: str | Path) -> None:
    """One probe task per alive node: the runs dir and each path must be the same there as here."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    token_file = runs.resolve() / f".ablate-probe-{token}"
    token_file.write_text(token)
    try:
        paths = dict(paths)
        if any(not Path(p).is_absolute() for p in paths.values()):  # cells run in the driver's directory
            paths["working directory"] = Path.cwd()
        fps = {what: [str(Path(p).resolve()), _fingerprint(str(Path(p).resolve()))] for what, p in paths.items()}
        probe = ray.remote(_probe)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(token_file), token, fps) for n in nodes]
        try:
            results = ray.get(refs, timeout=120)
        except ray.exceptions.GetTimeoutError:
            raise UserError("the start-up probe of the Ray nodes did not answer within 120 s") from None
    finally:
        token_file.unlink(missing_ok=True)
    bad = [f"node {n.get('NodeManagerHostname', '?')} ({n.get('NodeManagerAddress', '?')}) does not see the {p}"
           for n, probs in zip(nodes, results) for p in probs]
    if bad:
        raise UserError("\n".join(bad) + "\nthe runs dir and the base model must be on a filesystem every Ray node "
                        "mounts at the same path (NFS, Lustre, ...): pass --runs-dir and base.model on it")


def _probe(token_file: str, token: str, paths: dict[str, list]) -> list[str]:
    """On one node: is the token the driver wrote readable, and does each path look as the driver sees it?"""
    problems = []
    try:
        seen = Path(token_file).read_text()
    except OSError:
        seen = None
    if seen != token:
        problems.append(f"runs dir {Path(token_file).parent} (a file the driver wrote there is not visible)")
    for what, (path, fingerprint) in paths.items():
        if not Path(path).exists():
            problems.append(f"{what} {path} (missing)")
        elif _fingerprint(path) != fingerprint:
            problems.append(f"{what} {path} (different content)")
    return problems


def _fingerprint(path: str) -> list:
    p = Path(path)
    if not p.exists():
        return []
    if p.is_file():
        return [[p.name, p.stat().st_size]]
    return sorted([c.name, c.stat().st_size if c.is_file() else -1] for c in p.iterdir())


def start_ray(ray, kw: dict) -> None:
    """ray.init; a local cluster whose raylet missed Ray's fixed 30 s start-up window (it does on a
    machine whose cores are all busy) is cleaned up and started again, up to three times."""
    for attempt in (1, 2, 3):
        try:
            ray.init(**kw)
            return
        except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception for this one
            if kw.get("address") != "local" or "timed out during startup" not in str(e):
                raise
            ray.shutdown()
            _kill_ray_descendants()  # the half-started cluster's GCS, raylet and agents
            if attempt == 3:
                raise


def _kill_ray_descendants() -> None:
    """SIGKILL this process's descendants that run Ray's code (a failed local start leaves them behind)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                kids.setdefault(int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    todo, mine = [os.getpid()], []
    while todo:
        for k in kids.get(todo.pop(), []):
            mine.append(k)
            todo.append(k)
    for pid in mine:
        try:
            if b"/ray/" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
