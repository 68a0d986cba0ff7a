"""The filesystem fights back (issue #27): a file where ablate needs a directory (runs dir, reports dir,
ABLATE_CACHE, an output dir), a directory where it writes a file, a read-only runs dir or cache
(monkeypatched OS calls: the tests run as root), a full disk mid-write (ENOSPC injected). Each ends
with exit status 2 and a message naming the path, what ablate was doing and the fix; no traceback;
nothing half-written is left, and the same command completes once the cause is gone.

No model is loaded here: every case stops before the first stage (or is a synthesis, which needs no
torch). The cases that need an engine are in test_hostile_adapters.py.

    python -m pytest -q tests/hostile/test_hostile_fs.py
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fixtures_t3 import world_captions, write_llava


@pytest.fixture
def recipe(tmp_path) -> Path:
    corpus = write_llava(tmp_path / "captions.json", world_captions()[:120])
    r = tmp_path / "fs.toml"
    r.write_text(f"""
[recipe]
name = "fs"
[base]
model = "micro"
[data]
corpus = "{corpus}"
pool = 16
probe = 8
[mixes]
all = {{ order = 1 }}
[grid]
volume = [16]
[eval]
benchmarks = ["t3-probe"]
engine = "hf"
""")
    return r


def sweep(cli, recipe, runs, reports):
    return cli("sweep", recipe, "--runs-dir", runs, "--reports-dir", reports)


@pytest.mark.parametrize("nested", [False, True])
def test_file_as_runs_dir(cli, recipe, tmp_path, nested):
    f = tmp_path / "runs"
    f.write_text("not a directory")
    runs = f / "sub" if nested else f
    sweep(cli, recipe, runs, tmp_path / "reports").user_error(
        f"{runs}: creating the runs dir failed", f"{f} is a file where ablate needs a directory", "--runs-dir")
    assert f.read_text() == "not a directory"


def test_file_as_reports_dir(cli, recipe, tmp_path):
    f = tmp_path / "reports"
    f.write_text("x")
    sweep(cli, recipe, tmp_path / "runs", f).user_error(f"{f}: creating the reports dir failed", "--reports-dir")
    assert not (tmp_path / "runs" / "synth").exists()  # nothing started


def test_file_as_ablate_cache(cli, recipe, tmp_path, monkeypatch):
    f = tmp_path / "cache"
    f.write_text("x")
    monkeypatch.setenv("ABLATE_CACHE", str(f))
    monkeypatch.delenv("ABLATE_NODE_CACHE", raising=False)
    sweep(cli, recipe, tmp_path / "runs", tmp_path / "reports").user_error(
        f"{f}: creating the cache dir failed", "ABLATE_CACHE", "is a file where ablate needs a directory")


@pytest.mark.parametrize("command", ["eval", "synth", "train"])
def test_file_as_output_dir(cli, tmp_path, command):
    out = tmp_path / "out"
    out.write_text("x")
    corpus = write_llava(tmp_path / "captions.json", world_captions()[:60])
    args = {"eval": ["eval", "--base", "micro", "--bench", "t3-probe=" + str(tmp_path), "--out", out],
            "synth": ["synth", corpus, "--out", out, "--n", "8", "--probe-n", "4"],
            "train": ["train", "--base", "micro", "--data", tmp_path, "--out", out]}[command]
    cli(*args).user_error(f"{out}: writing the", f"{out} is a file where ablate needs a directory", "--out")
    assert out.read_text() == "x"


def test_directory_where_the_lock_file_goes(cli, recipe, tmp_path):
    runs = tmp_path / "runs"
    (runs / ".lock").mkdir(parents=True)
    sweep(cli, recipe, runs, tmp_path / "reports").user_error(
        "locking the runs dir failed", f"{runs / '.lock'} is a directory where ablate writes a file")


def _deny(monkeypatch, under: Path, code: int) -> None:
    """os.open / os.mkdir fail with `code` for every path under `under` (root ignores chmod)."""
    real_open, real_mkdir = os.open, os.mkdir

    def check(path):
        if str(Path(path)).startswith(str(under)):
            raise OSError(code, os.strerror(code), str(path))

    def fake_open(path, *a, **k):
        check(path)
        return real_open(path, *a, **k)

    def fake_mkdir(path, *a, **k):
        check(path)
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)


@pytest.mark.parametrize("exists", [True, False])
def test_read_only_runs_dir(cli, recipe, tmp_path, monkeypatch, exists):
    runs = tmp_path / "runs"
    if exists:
        runs.mkdir()
    _deny(monkeypatch, runs, errno.EACCES)
    sweep(cli, recipe, runs, tmp_path / "reports").user_error(
        f"{runs}: creating the runs dir failed: Permission denied [EACCES]", "make it writable", "--runs-dir")
    monkeypatch.undo()
    r = cli("plan", recipe, "--runs-dir", runs).ok()  # the fix (here: the patch gone) and ablate works again
    assert "all/v16" in r.out


def test_cache_on_read_only_filesystem(cli, recipe, tmp_path, monkeypatch):
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    monkeypatch.setenv("ABLATE_CACHE", str(cache))
    monkeypatch.delenv("ABLATE_NODE_CACHE", raising=False)
    _deny(monkeypatch, cache, errno.EROFS)
    sweep(cli, recipe, tmp_path / "runs", tmp_path / "reports").user_error(
        f"{cache}: writing the cache dir failed", "[EROFS]", "read-only", "ABLATE_CACHE")


def test_full_disk_during_synthesis_leaves_nothing_and_rerun_completes(cli, tmp_path, monkeypatch):
    import polars as pl

    corpus = write_llava(tmp_path / "captions.json", world_captions()[:120])
    out = tmp_path / "data"
    real = pl.DataFrame.write_parquet

    def full(self, path, *a, **k):
        Path(path).write_bytes(b"PAR1 half")  # what a full disk leaves: part of a file
        raise OSError(f"No space left on device (os error 28): {path}")  # as polars raises it: no errno attribute

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    cli("synth", corpus, "--out", out, "--n", "16", "--probe-n", "8", "--quiet").user_error(
        f"{out}:", "No space left on device [ENOSPC]", "free space", "run the same command again")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["captions.json"]  # no temp dir
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    cli("synth", corpus, "--out", out, "--n", "16", "--probe-n", "8", "--quiet").ok()
    assert pl.read_parquet(out / "train.parquet").height == 16


def test_full_disk_in_atomic_write_leaves_old_file(tmp_path, monkeypatch):
    """The records (sweep.json, variant records, report.md) are written via atomic_write_text: a full
    disk keeps the previous file whole and leaves no temporary sibling."""
    import t3.util

    f = tmp_path / "sweep.json"
    t3.util.write_json(f, {"a": 1})
    real = os.fdopen

    class Full:
        def __init__(self, fd, *a, **k):
            self.f = real(fd, *a, **k)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", Full)
    with pytest.raises(OSError):
        t3.util.write_json(f, {"a": 2})
    monkeypatch.undo()
    assert t3.util.read_json(f) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["sweep.json"]


def test_genuine_bug_keeps_its_traceback(monkeypatch):
    """Only the environment's OSErrors become user errors: an OSError that is a bug still raises,
    from the CLI's fallback and from a `doing` block alike."""
    import ablate.doctor
    from ablate.cli import main
    from ablate.fs import doing

    def bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")  # a closed fd: ablate's bug, not the user's

    monkeypatch.setattr(ablate.doctor, "run", bug)  # add_cli reads it when the parser is built
    with pytest.raises(OSError, match="Bad file descriptor"):
        main(["doctor"])
    with pytest.raises(OSError, match="Bad file descriptor"), doing("writing the sweep record", "/x", "--runs-dir"):
        raise OSError(errno.EBADF, "Bad file descriptor")


def test_full_disk_in_a_sweep_stage_is_that_jobs_error_and_the_rerun_recomputes(tmp_path, monkeypatch, capsys):
    """A sweep stage runs in `python -m ablate.sweep.worker JOBFILE` (locally or on a Ray node): a full disk
    there ends the job with status 2 and a user-facing `@@error` line (the variant's error row), the stage
    directory is absent with no temporary dir beside it, and the same job run again completes it."""
    import json

    import polars as pl

    from ablate.sweep import worker
    from ablate.sweep.stage import SYNTH, SynthJob

    corpus = write_llava(tmp_path / "captions.json", world_captions()[:120])
    job = SynthJob(corpus=str(corpus), mix={"order": 1.0}, n=16, probe_n=8, frames=3)
    out = tmp_path / "runs" / "synth" / SYNTH.key(job)
    jobfile = tmp_path / "runs" / "synth" / "job.json"
    jobfile.parent.mkdir(parents=True)
    jobfile.write_text(json.dumps({"job": job.to_json(), "out": str(out)}))
    real = pl.DataFrame.write_parquet

    def full(self, path, *a, **k):
        Path(path).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    assert worker.main([str(jobfile)]) == 2
    err = [line for line in capsys.readouterr().out.splitlines() if line.startswith("@@error ")]
    assert err and "the synth stage writing its output failed: No space left on device [ENOSPC]" in err[-1], err
    assert "run the same command again" in err[-1]
    assert sorted(p.name for p in out.parent.iterdir()) == ["job.json"]  # no stage dir, no temp dir
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    assert worker.main([str(jobfile)]) == 0 and SYNTH.is_done(out)
