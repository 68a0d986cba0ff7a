"""Code identity (ablate.identity): edits of code move it, comments / docstrings / layout do not; every
sweep stage declares the modules its work imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from ablate.identity import code_identity, module_files

SRC = '''"""A module."""

def f(x):
    """Doc."""
    return x + 1  # one
'''


@pytest.fixture()
def pkg(tmp_path, monkeypatch):
    root = tmp_path / "idpkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "m.py").write_text(SRC)
    (root / "other.py").write_text("Y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("idpkg", None)
    yield root
    sys.modules.pop("idpkg", None)


def test_code_edits_move_the_identity_and_presentation_does_not(pkg):
    m = pkg / "sub" / "m.py"
    before = code_identity("idpkg.sub")
    assert code_identity("idpkg.sub.m") != before  # a module is not its package
    m.write_text(SRC.replace('"""Doc."""', '"""Other doc,\n    two lines."""').replace("# one", "# two") + "\n\n")
    assert code_identity("idpkg.sub") == before
    m.write_text(SRC.replace("x + 1", "x + 2"))
    assert code_identity("idpkg.sub") != before
    assert code_identity("idpkg") != code_identity("idpkg.sub")  # the package holds other.py too
    with pytest.raises(ValueError, match="no module or package 'idpkg.nope'"):
        code_identity("idpkg.nope")


def _imports(files: list[Path]) -> set[str]:
    out = set()
    for f in files:
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                out.add(n.module)
            elif isinstance(n, ast.Import):
                out.update(a.name for a in n.names)
    return {m for m in out if m.split(".")[0] in ("ablate", "t3")}


# what a stage may use without declaring it: plumbing that computes nothing the outputs hold, and the
# base and world, whose content hashes are in the keys already
OUTSIDE = ("ablate", "ablate.core", "ablate.fs", "ablate.ui", "ablate.names", "ablate.compat", "ablate.base", "ablate.world",
           "t3")


@pytest.mark.parametrize("stage", ["train", "eval"])
def test_every_stage_declares_the_modules_its_code_imports(stage):
    from ablate.sweep.stage import STAGES

    code = STAGES[stage].code
    used = _imports([f for m in code for f in module_files(m)])
    covered = lambda m: any(m == c or m.startswith(c + ".") for c in code) or m in OUTSIDE  # noqa: E731
    assert not sorted(m for m in used if not covered(m)), f"add them to {stage}'s `code` (ablate/sweep/stage.py)"
