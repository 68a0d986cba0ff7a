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

import hashlib
import os
from pathlib import Path

# the basics live in t3 (which stands alone and must not import ablate); one UserError class for both
from t3.util import (UserError, atomic_dir, atomic_write_text, canonical_json, file_sha256, iter_jsonl,
                     read_json, stable_hash, write_json)

__all__ = ["UserError", "atomic_dir", "atomic_write_text", "cache_root", "node_cache_root", "canonical_json", "content_sha256", "content_tree_hash",
           "field_docs", "file_sha256", "iter_jsonl", "read_json", "read_json_file", "stable_hash", "tree_hash", "write_json"]


def tree_hash(root: str | Path, n: int = 16, exclude: tuple[str, ...] = ()) -> str:
    """Hash of a directory's content: relative paths and file bytes, independent of mtimes."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in exclude:
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(file_sha256(p).encode() + b"\n")
    return h.hexdigest()[:n]


def cache_root() -> Path:
    """Where built artefacts (world, base model, frame caches) live: $ABLATE_CACHE or ~/.cache/ablate."""
    env = os.environ.get("ABLATE_CACHE")
    root = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ablate"
    from ablate.fs import ensure_dir

    return ensure_dir(root, "creating the cache dir", "ABLATE_CACHE")


def node_cache_root() -> Path:
    """Where this machine's caches of derived data live (item generations, decoded frames, features,
    file-hash sidecar, SQLite files): $ABLATE_NODE_CACHE, else cache_root(). On a cluster whose
    ABLATE_CACHE is shared, set ABLATE_NODE_CACHE to a local disk on each node."""
    env = os.environ.get("ABLATE_NODE_CACHE")
    if not env:
        return cache_root()
    from ablate.fs import ensure_dir

    return ensure_dir(env, "creating the node cache dir", "ABLATE_NODE_CACHE")


def read_json_file(path: Path, missing: str):
    """The JSON in `path`; UserError(missing) when there is no such file, one naming the file and line when
    it does not parse (config.json, adapter_config.json: the message says what the directory should be)."""
    import json

    if not path.is_file():
        raise UserError(missing)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None


def field_docs(cls) -> dict[str, str]:
    """A dataclass's field docstrings (the string literal under each field), read from its source."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for prev, node in zip(body, body[1:]):
        if (isinstance(prev, ast.AnnAssign) and isinstance(prev.target, ast.Name) and isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            docs[prev.target.id] = " ".join(node.value.value.split())
    return docs


def content_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, remembered in a sidecar keyed by (path, size, mtime, ctime, inode).

    For inputs that are hashed on every sweep and plan (benchmark trees, adapters, corpora): a file is
    read again whenever any of those change, and ctime changes on every write (it cannot be set back
    like mtime), so a one-byte edit is always seen.
    """
    import sqlite3

    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
    db_path = node_cache_root() / "hashes.sqlite"
    try:
        db = sqlite3.connect(str(db_path), timeout=60)
        db.execute("CREATE TABLE IF NOT EXISTS sha (key TEXT PRIMARY KEY, sha TEXT)")
    except sqlite3.Error:  # an unusable sidecar only costs speed
        return file_sha256(p)
    try:
        row = db.execute("SELECT sha FROM sha WHERE key = ?", (key,)).fetchone()
        if row:
            return row[0]
        sha = file_sha256(p)
        with db:
            db.execute("INSERT OR REPLACE INTO sha VALUES (?, ?)", (key, sha))
        return sha
    finally:
        db.close()


def content_tree_hash(root: str | Path) -> str:
    """Hash of a file's or a directory's content (relative paths + bytes, via content_sha256)."""
    root = Path(root)
    if root.is_file():
        return content_sha256(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return stable_hash([(p.relative_to(root).as_posix(), content_sha256(p)) for p in files], 32)
