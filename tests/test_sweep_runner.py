"""Fast runner mechanics: the runs-dir lock, the live table's plain lines, the generic control data.

    .venv/bin/pytest tests/test_sweep_runner.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import polars as pl
import pytest

from ablate.core import UserError
from ablate.sweep.live import Live
from ablate.sweep.lock import RunsLock
from ablate.sweep.recipe import parse_recipe
from ablate.sweep.runner import run_sweep

RECIPE = """\
[recipe]
name = "locked"
[mixes]
all = { order = 1, attribute = 1, referring = 1, grounding = 1 }
[grid]
volume = [0, 10]
"""


def test_lock_blocks_second_sweep_with_clear_message(tmp_path):
    with RunsLock(tmp_path, "first"):
        with pytest.raises(UserError, match=r"in use by another sweep \(pid \d+, recipe first"):
            run_sweep(parse_recipe(RECIPE, "r.toml"), tmp_path, tmp_path / "reports")
    with RunsLock(tmp_path, "again"):  # released on exit
        pass


def test_lock_released_when_holder_is_killed(tmp_path):
    code = f"from ablate.sweep.lock import RunsLock; import time\nwith RunsLock({str(tmp_path)!r}, 'victim'):\n    print('held', flush=True); time.sleep(60)"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match="recipe victim"):
        RunsLock(tmp_path).__enter__()
    p.kill()
    p.wait()
    with RunsLock(tmp_path, "next"):  # the kernel dropped the flock with the process
        pass


def test_live_plain_lines_are_greppable(capsys):
    live = Live([("a", "all/v10"), ("b", "base")], tty=False)
    with live:
        live.update("a", stage="train", progress=0.0)
        live.update("a", stage="train", progress=0.1, loss=1.5)   # same quarter: not printed again
        live.update("a", stage="train", progress=0.6, loss=0.5)
        live.update("a", stage="done", progress=1.0, text_acc=0.5, video_acc=0.25)
        live.summary("train", "1 trained")
    out = capsys.readouterr().out.splitlines()
    assert out == ["[sweep] all/v10 train 0%", "[sweep] all/v10 train 60% loss=0.500",
                   "[sweep] all/v10 done 100% loss=0.500 text_acc=50.0 video_acc=25.0", "[sweep:train] 1 trained"]


def test_live_rich_table_renders():
    from rich.console import Console

    live = Live([("a", "all/v10")], tty=False)
    live.update("a", stage="train", progress=0.5, loss=0.7)
    c = Console(record=True, width=120)
    c.print(live._table())
    text = c.export_text()
    assert "all/v10" in text and "50%" in text and "0.700" in text


def test_generic_control_data(tmp_path):
    from ablate.synth.generic import write_generic

    corpus = tmp_path / "c.json"
    caps = ["A large red circle sits in the top left corner of a dim room.", "A small blue square is at the center.",
            "The image shows a green triangle on the right."]
    corpus.write_text(json.dumps([{"id": str(i), "image": f"{i}.png", "conversations": [
        {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": c}]} for i, c in enumerate(caps)]))
    man = write_generic(corpus, tmp_path / "g", n=20, seed=0)
    df = pl.read_parquet(tmp_path / "g" / "train.parquet")
    assert df.height == 20 and set(df["task"]) == {"generic"}
    for msgs in df["messages"].to_list():
        user, asst = msgs[0]["content"], msgs[1]["content"]
        assert asst in caps
        words = user.split(":", 1)[1].strip(" .").split(", ")
        assert words == sorted(words)  # alphabetical: no order information leaks in
    assert write_generic(corpus, tmp_path / "g2", n=20, seed=0)["content_hash"] == man["content_hash"]


def test_embedded_base_is_built_in_a_child_process(tmp_path, monkeypatch):
    """An uncached embedded base is built by `ablate base build` in a child (its pretraining memory leaves
    with it), never in the sweep's process; a cached one is resolved without a child; a failed build
    stops with the command and its exit status."""
    from ablate.base import pretrain
    from ablate.sweep import runner

    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrain, "build", lambda *a, **k: pytest.fail("the base was built in the sweep's process"))
    base = runner._resolve_base("micro")
    assert (base.root / "manifest.json").is_file() and base.lm_dir.is_dir()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a cached base started a child"))
    assert runner._resolve_base("micro").hash == base.hash
    monkeypatch.undo()
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(UserError, match=r"`ablate base build micro` exited 1"):
        runner._resolve_base("micro")
