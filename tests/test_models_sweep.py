"""`ablate sweep` on a two-cell recipe (base + one T3 LoRA) over a tiny Qwen2-VL and a tiny
LLaVA-NeXT-Video checkpoint: report written, the route named in its run summary, a rerun does nothing.

    .venv/bin/pytest tests/test_models_sweep.py -q -m slow        (a few minutes on 2 cores)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from fixtures_models import build_family

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.slow

RECIPE = """
[recipe]
name = "{name}"
seed = 0
description = "two cells on a tiny {family}"

[base]
model = "{model}"

[data]
corpus = "{world}/captions/captions.json"
pool = 48
probe = 12
frames = 4

[mixes]
all = {{ order = 1, attribute = 1, referring = 1, grounding = 1 }}

[grid]
mix = ["all"]
volume = [0, 24]

[train]
lora_rank = 8
lora_alpha = 16
learning_rate = 1e-3
max_steps = 3
batch_size = 8

[eval]
benchmarks = ["t3-probe", {{ name = "world-video", path = "{world}/bench" }}]
frames = 4
max_tokens = 6
engine = "vllm"
"""


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from ablate.world import build_world

    root = tmp_path_factory.mktemp("world") / "world"
    build_world(root, images=60, videos=8, frames=8, size=64, seed=0, workers=1, show=False)
    return root


def _sweep(recipe: Path, d: Path):
    cmd = [sys.executable, "-m", "ablate", "sweep", str(recipe), "--runs-dir", str(d / "runs"), "--reports-dir", str(d / "reports")]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=2400)  # contended CPUs are slow


@pytest.mark.parametrize("family,route", [("qwen2_vl", "hf"), ("llava_next_video", "vllm-embeds")])
def test_two_cell_sweep_and_rerun(family, route, small_world, tmp_path):
    model = build_family(family, tmp_path / family)
    recipe = tmp_path / f"{family}.toml"
    name = f"tiny_{family}"
    recipe.write_text(RECIPE.format(name=name, family=family, model=model, world=small_world))
    out = _sweep(recipe, tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rec = json.loads((tmp_path / "runs" / "sweeps" / name / "sweep.json").read_text())
    assert [v["status"] for v in rec["variants"]] == ["done", "done"]
    assert rec["executed"]["train"] == 1 and rec["executed"]["eval"] == 1
    md = (tmp_path / "reports" / name / "report.md").read_text()
    assert "## Run summary" in md and f"-> route {route}" in md
    if route == "hf":
        assert "M-RoPE" in md  # the fallback is said in the run summary
    res = pl.read_parquet(tmp_path / "reports" / name / "results.parquet")
    assert set(res["benchmark"]) == {"t3-probe", "world-video"}
    again = _sweep(recipe, tmp_path)
    assert again.returncode == 0, again.stdout[-3000:]
    rec = json.loads((tmp_path / "runs" / "sweeps" / name / "sweep.json").read_text())
    assert rec["executed"] == {"synth": 0, "train": 0, "eval": 0}
