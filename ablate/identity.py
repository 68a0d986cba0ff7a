"""Code identity: one hash of the source of the modules a piece of work runs, so a code change reruns it.

    from ablate.identity import code_identity
    code_identity("ablate.train", "ablate.models")   # '3f2a9c01d4e5b6a7': every .py of both packages
    code_identity("t3.synth")                         # one module

Every sweep stage keys on the code identity of the modules it declares (ablate.sweep.stage: SynthStage,
TrainStage, EvalStage `code`), so there is no version constant to remember to bump: edit a stage's
code and that stage reruns, with every stage after it (their keys hold the key before them).

What counts is the code, not its presentation: each file is parsed and unparsed by Python's `ast` with
docstrings removed, so comments, docstrings, blank lines and formatting do not move a key; anything
that changes what runs does. (A Python upgrade whose `ast.unparse` writes some construct differently
moves the keys of the stages whose modules use it: they rerun once.) Modules are found from their
top-level package's directory and never imported.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

from ablate.core import stable_hash

_SEEN: dict[tuple, str] = {}  # (path, size, mtime_ns) -> hash: keys are computed per job, files parsed once


def module_files(name: str) -> list[Path]:
    """The .py files of module or package `name` (a dotted name under an importable top-level package)."""
    top, *rest = name.split(".")
    root = Path(importlib.import_module(top).__file__).parent
    p = root.joinpath(*rest)
    if rest and p.with_suffix(".py").is_file():
        return [p.with_suffix(".py")]
    if p.is_dir():
        return sorted(f for f in p.rglob("*.py") if "__pycache__" not in f.parts)
    raise ValueError(f"code_identity: no module or package {name!r} (looked for {p}.py and {p}/)")


def source_identity(path: Path) -> str:
    """sha256 of a Python file's code: its AST without docstrings, unparsed (comments and layout do not count)."""
    st = path.stat()
    seen = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if seen not in _SEEN:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        _SEEN[seen] = hashlib.sha256(ast.unparse(tree).encode()).hexdigest()
    return _SEEN[seen]


def code_identity(*names: str) -> str:
    """One hash of the code of modules / packages `names` (dotted), keyed by each file's path in its package."""
    files = {}
    for name in names:
        top = Path(importlib.import_module(name.split(".")[0]).__file__).parent
        for f in module_files(name):
            files[f"{top.name}/{f.relative_to(top).as_posix()}"] = source_identity(f)
    return stable_hash(files)
