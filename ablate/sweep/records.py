"""Reading what the runs dir holds, trusting nothing: a stage output is complete only if it checks out.

    from ablate.sweep.records import stage_complete, read_manifest, read_sweep_record
    ok, why = stage_complete(Path("runs/train/abc"), ("manifest.json", "adapter_model.safetensors"))
    if not ok: ...   # recompute it (why: "manifest.json: invalid JSON", "train.parquet: truncated" ...)

A stage directory appears only complete (atomic rename), but disks fill, people edit files, and a
copy can be cut short. So a finished stage is re-checked cheaply before it is reused: the manifest
parses as a JSON object, every listed file exists and is not empty, a Parquet file has its footer
(magic bytes at both ends and a readable schema), a safetensors file holds its whole header. A
directory that fails is recomputed (its inputs are all still there; it is derived data), and the
sweep says so. A corrupt sweep record is a UserError naming the file.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from ablate.core import UserError


def read_manifest(path: Path) -> dict | None:
    """The JSON object in `path`, or None if it is missing, unreadable or not an object."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _parquet_problem(f: Path) -> str | None:
    size = f.stat().st_size
    if size < 12:
        return "truncated (too short for Parquet)"
    with open(f, "rb") as fh:
        head = fh.read(4)
        fh.seek(size - 4)
        tail = fh.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        return "not a complete Parquet file (missing PAR1 magic; truncated?)"
    try:
        import polars as pl

        pl.read_parquet_schema(f)
    except Exception as e:  # noqa: BLE001 - polars raises several types for a damaged footer
        return f"unreadable Parquet footer ({type(e).__name__})"
    return None


def _safetensors_problem(f: Path) -> str | None:
    size = f.stat().st_size
    with open(f, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            return "truncated (no safetensors header)"
        (n,) = struct.unpack("<Q", raw)
        if n > size - 8:
            return "truncated (header longer than the file)"
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            return "corrupt safetensors header"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
               and "data_offsets" in v), default=0)
    if 8 + n + end > size:
        return "truncated (tensor data cut short)"
    return None


def file_problem(f: Path) -> str | None:
    """Why `f` cannot be a finished output file, or None if it looks complete."""
    if not f.is_file():
        return "missing"
    if f.stat().st_size == 0:
        return "empty"
    if f.suffix == ".parquet":
        return _parquet_problem(f)
    if f.suffix == ".safetensors":
        return _safetensors_problem(f)
    if f.suffix == ".json" and read_manifest(f) is None:
        return "invalid JSON (or not an object)"
    return None


def stage_complete(d: Path, files: tuple[str, ...]) -> tuple[bool, str]:
    """(True, "") if directory `d` exists and each of `files` looks complete; else (False, why)."""
    d = Path(d)
    if not d.is_dir():
        return False, "missing"
    for name in files:
        why = file_problem(d / name)
        if why:
            return False, f"{d / name}: {why}"
    return True, ""


def discard_if_broken(d: Path, files: tuple[str, ...], note=None) -> bool:
    """True if `d` is a complete stage output; a present but broken one is removed (to be recomputed)."""
    ok, why = stage_complete(d, files)
    if ok:
        return True
    if Path(d).exists():
        if note:
            note(f"{why}; recomputing {d}")
        shutil.rmtree(d, ignore_errors=True) if Path(d).is_dir() else Path(d).unlink(missing_ok=True)
    return False


def dir_problem(d: Path) -> str:
    """The first damaged output file in directory `d` ("<file>: <why>"), or "" if none looks damaged."""
    for f in sorted(Path(d).iterdir()) if Path(d).is_dir() else []:
        if f.is_file() and f.suffix in (".json", ".parquet", ".safetensors"):
            why = file_problem(f)
            if why:
                return f"{f}: {why}"
    return ""


def read_sweep_record(path: Path) -> dict:
    """A sweep.json, or a UserError naming it if it is corrupt."""
    rec = read_manifest(path)
    if rec is None or not isinstance(rec.get("name"), str) or not isinstance(rec.get("variants", []), list):
        raise UserError(f"{path}: corrupt sweep record (not a JSON object with `name` and `variants`); "
                        "rerun `ablate sweep` with the recipe to rewrite it (finished stages are reused)")
    return rec
