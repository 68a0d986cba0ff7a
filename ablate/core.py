"""Shared plumbing for every stage: user errors, content hashes, atomic outputs, the cache root.

    from ablate.core import UserError, stable_hash, atomic_dir
    with atomic_dir(out) as tmp:      # write into tmp; renamed to `out` only on success
        (tmp / "manifest.json").write_text(...)

Rules every stage follows:
- A result's directory is named by `stable_hash` of everything that determines it.
- A directory is complete iff it exists under its final name: it is written under a temporary sibling
  name and renamed in one step, so a crash never leaves a half result that looks finished.
- Problems the user can fix raise `UserError` naming the file / key / line; the CLI prints the message
  and exits with status 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


class UserError(Exception):
    """An error in the user's input (file, key, value). The CLI prints it and exits 2."""


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return _canonical(dataclasses.asdict(obj))
    return obj


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always gives the same text."""
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hex sha256 (first n chars) of the canonical JSON of obj (dicts, lists, dataclasses, paths)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:n]


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Full hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_hash(root: str | Path, n: int = 16, exclude: tuple[str, ...] = ()) -> str:
    """Hash of a directory's content: relative paths and file bytes, independent of mtimes."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in exclude:
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(file_sha256(p).encode() + b"\n")
    return h.hexdigest()[:n]


@contextlib.contextmanager
def atomic_dir(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `final`; rename it to `final` when the block succeeds.

    If the block raises, the temporary directory is removed and `final` is untouched. If `final`
    appeared meanwhile (another process finished the same content-addressed work), ours is discarded
    unless overwrite=True.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file via a temporary sibling and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> None:
    """Pretty, key-sorted JSON, written atomically."""
    atomic_write_text(path, json.dumps(_canonical(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read JSON, turning parse errors into a UserError that names the file and line."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line of a JSONL file; errors name file:line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object per line")
            yield lineno, rec


def cache_root() -> Path:
    """Where built artefacts (world, base model, frame caches) live: $ABLATE_CACHE or ~/.cache/ablate."""
    env = os.environ.get("ABLATE_CACHE")
    root = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ablate"
    root.mkdir(parents=True, exist_ok=True)
    return root
