"""Kill the smoke sweep (recipes/smoke.toml) with SIGKILL at five moments and resume each time: during
synthesis, during training, while the evaluation engine starts, during generation, and during the
report. After the last resume the results equal those of an uninterrupted run and no temporary
directory is left in the runs or reports dir.

The world and the micro base are built once in this session's cache and pinned by directory (as
tests/test_sweep_e2e.py does); the uninterrupted run and the killed chain each get their own runs dir
and their own ABLATE_CACHE for generations and features, so the chain's evaluation really starts an
engine and generates. Slow: a few minutes on 2 cores.

    python -m pytest -q tests/hostile/test_hostile_kill_resume.py
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "smoke.toml"



def _pct(stage: str, line: str) -> int | None:
    m = re.search(rf" {stage} (\d+)%", line)
    return int(m.group(1)) if m else None


# (moment, predicate on a line of the sweep's plain output): kill as soon as it is printed
MOMENTS = [
    ("synth", lambda line: line.startswith("[sweep] ") and _pct("synth", line) is not None),  # its child runs
    ("training", lambda line: 0 < (_pct("train", line) or 0) <= 100),  # the training child is running
    ("engine start", lambda line: _pct("eval", line) == 0),  # the eval child has just been started
    ("generation", lambda line: 0 < (_pct("eval", line) or 0) < 100),
    ("report", lambda line: line.startswith("[sweep:eval]")),  # evaluation done; the report is next
]


@pytest.fixture(scope="module")
def pinned():
    from ablate.base import resolve_base
    from ablate.sweep.recipe import load_recipe
    from ablate.world import default_world

    world = default_world(**load_recipe(SMOKE).world.params())
    base = resolve_base("micro")
    return ["--set", f'base.model="{base.root}"', "--set", f'data.corpus="{world}/captions/captions.json"',
            "--set", f'eval.benchmarks=["t3-probe", {{name="world-video", path="{world}/bench"}}, '
                     f'{{name="world-text", path="{world}/bench"}}]']


def _cmd(d: Path, pinned: list[str]) -> list[str]:
    return [sys.executable, "-m", "ablate", "sweep", str(SMOKE), "--runs-dir", str(d / "runs"),
            "--reports-dir", str(d / "reports"), *pinned]


def _env(d: Path) -> dict:
    return dict(os.environ, ABLATE_CACHE=str(d / "cache"), PYTHONUNBUFFERED="1")


def run_to_end(d: Path, pinned: list[str]) -> subprocess.CompletedProcess:
    out = subprocess.run(_cmd(d, pinned), cwd=ROOT, env=_env(d), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    return out


def run_and_kill(d: Path, pinned: list[str], moment: str, when) -> list[str]:
    p = subprocess.Popen(_cmd(d, pinned), cwd=ROOT, env=_env(d), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    seen, hit = [], False
    deadline = time.time() + 900
    for line in p.stdout:
        seen.append(line)
        if when(line):
            hit = True
            break
        if time.time() > deadline:
            break
    os.killpg(p.pid, signal.SIGKILL)  # the sweep and its stage child, at once, as a crash would
    p.wait()
    p.stdout.close()
    assert hit, f"never reached {moment}:\n{''.join(seen[-30:])}"
    return seen


def temp_dirs(d: Path) -> list[Path]:
    return [p for sub in ("runs", "reports") if (d / sub).exists()
            for p in (d / sub).rglob("*") if ".tmp-" in p.name or ".old-" in p.name]


def test_kill_at_five_moments_then_resume(tmp_path, pinned):
    ref, chain = tmp_path / "reference", tmp_path / "chain"
    run_to_end(ref, pinned)
    for moment, when in MOMENTS:
        run_and_kill(chain, pinned, moment, when)
    run_to_end(chain, pinned)
    assert not temp_dirs(chain), temp_dirs(chain)
    a = pl.read_parquet(ref / "reports" / "smoke" / "results.parquet")
    b = pl.read_parquet(chain / "reports" / "smoke" / "results.parquet")
    assert a.equals(b)
    keep = ["variant", "benchmark", "item_id", "reply", "correct", "error"]

    def preds(d):
        import json

        rec = json.loads((d / "runs" / "sweeps" / "smoke" / "sweep.json").read_text())
        frames = [pl.read_parquet(Path(e) / "predictions.parquet").select(keep) for e in rec["eval_dirs"]]
        return pl.concat(frames).sort("variant", "benchmark", "item_id")

    assert preds(ref).equals(preds(chain))
