"""Plumbing t3 shares with ablate: the user-error class, content hashes, atomic files, JSON(L) readers.

    from t3.util import UserError, stable_hash, atomic_dir
    with atomic_dir("out/t3") as tmp:          # write into tmp; renamed to out/t3 only on success
        (tmp / "manifest.json").write_text("{}")

t3 imports nothing from ablate, so it stands alone; ablate.core re-exports these (one UserError
class: a bad corpus is a user error in both). This lives in a subpackage, not in a t3/*.py file,
because the embedded base's tokenizer corpus reads the string literals of t3/*.py
(ablate.base.data.tokenizer_corpus): a new file there would change the base model's hash.
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


@contextlib.contextmanager
def atomic_dir(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `final`; rename it to `final` when the block succeeds.

    If the block raises, the temporary directory is removed and `final` is untouched. If `final`
    appeared meanwhile (another attempt finished the same content-addressed work, even at the same
    instant), that one is kept and ours is discarded, and both attempts succeed; overwrite=True
    replaces it instead. No temporary directory is left behind either way.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if overwrite and final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        try:
            os.replace(final, trash / "old")
        except FileNotFoundError:  # the other writer moved it first
            pass
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)  # atomic; fails if `final` is a non-empty directory
    except OSError:
        if not final.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # an equal result won the race: keep it


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file via a temporary sibling and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:  # a full disk or a directory named `path`: no half-written sibling is left
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def corpus_errors_named(synthesize):
    """Wrap t3.synthesize so a UserError about the corpus's content names the corpus file.

    What a corpus lacks (too few distinct key phrases, no attribute word to edit) is found deep in the
    generator, which knows splits, not files. Errors that already name a file, and option errors
    (`--export`), pass through unchanged. (Done here, not in t3/synth.py, for the reason in this
    module's docstring: editing that file's code around its string literals changes the embedded
    base's tokenizer corpus and hash.)
    """
    import functools

    @functools.wraps(synthesize)
    def wrapper(corpus, *args, **kwargs):
        try:
            return synthesize(corpus, *args, **kwargs)
        except UserError as e:
            msg, path = str(e), str(Path(corpus))
            if msg.startswith(path) or msg.startswith("--"):
                raise
            raise UserError(f"{path}: {msg}") from None

    return wrapper
