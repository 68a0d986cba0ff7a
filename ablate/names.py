"""The one rule for names that become paths, and path containment for everything the tool writes.

    from ablate.names import check_name, child_path
    check_name(recipe_name, "recipe.name", "recipes/x.toml")       # UserError unless safe
    out = child_path(reports_dir, recipe_name)                      # reports_dir/<name>, never outside

Recipes are data that people share: a name in one (recipe name, mix name, variant id, benchmark
name) must never place a file. A safe name is non-empty, at most MAX_LEN characters of letters,
digits, `-`, `_` and `.`, and does not start with a dot (so no `.`, `..`, hidden files, or
separators). `child_path` derives a path under a root and refuses one that resolves outside it
(`..`, absolute parts, symlinks leading out), whatever the name rule let through.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ablate.core import UserError

MAX_LEN = 128
_SAFE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


def name_problem(value: object) -> str | None:
    """Why `value` is not a safe name, or None if it is."""
    if not isinstance(value, str):
        return f"expected a name (string), got {type(value).__name__} {value!r}"
    if not value:
        return "empty name"
    if len(value) > MAX_LEN:
        return f"name is {len(value)} characters long (at most {MAX_LEN})"
    if value.startswith("."):
        return f"name {value!r} starts with a dot"
    if not _SAFE.fullmatch(value):
        return (f"name {value!r} may use only letters, digits, '-', '_' and '.' "
                "(it becomes a file or directory name)")
    return None


def is_safe_name(value: object) -> bool:
    return name_problem(value) is None


def check_name(value: object, key: str, source: str | Path) -> str:
    """Return `value` if it is a safe name; else raise UserError naming the key and the file."""
    why = name_problem(value)
    if why is not None:
        raise UserError(f"{source}: {why} (key `{key}`)")
    return value  # type: ignore[return-value]


def child_path(root: str | Path, *parts: str) -> Path:
    """root/part/... , refused (UserError) if it is absolute, holds `..` or resolves outside root.

    Symlinks are followed for the check (an existing link under root that points out is refused),
    so a later write to the returned path lands under root.
    """
    root = Path(root)
    for part in parts:
        p = str(part)
        if not p or os.path.isabs(p) or ".." in Path(p).parts or "\0" in p:
            raise UserError(f"refusing path {p!r} under {root}: it must be a relative name inside that directory")
    path = root.joinpath(*parts)
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise UserError(f"refusing path {path}: it resolves to {path.resolve()}, outside {base} (symlink?)")
    return path
