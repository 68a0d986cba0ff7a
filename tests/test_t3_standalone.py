"""t3 stands alone: it imports nothing from ablate (statically, anywhere in its source, and at runtime).

    .venv/bin/pytest tests/test_t3_standalone.py -q
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

T3 = Path(__file__).resolve().parents[1] / "t3"


def test_no_t3_source_imports_ablate():
    bad = []
    for f in sorted(T3.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [f"{f.relative_to(T3.parent)}:{node.lineno}: {n}" for n in names if n.split(".")[0] == "ablate"]
    assert not bad, "t3 must not import ablate:\n" + "\n".join(bad)


def test_t3_runs_without_ablate_loaded(tmp_path):
    code = ("import sys, t3, t3.util, t3.corpus, t3.synth, t3.families, t3.layout, t3.pool, t3.lexicon, t3.paraphrase\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'ablate'], 'ablate was imported'\n"
            "try:\n    t3.parse_mix('orderr=1')\nexcept t3.util.UserError as e:\n    print('user error:', e)\n")
    # ABLATE_HIDE_MODULES=none switches off the venv's ablate-compat.pth hook, which imports ablate at every
    # interpreter start (ablate.compat); what is checked here is that t3 itself needs none of it
    env = dict(os.environ, ABLATE_HIDE_MODULES="none")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True, env=env)
    assert "user error: --mix: unknown family `orderr`" in out.stdout


def test_t3_errors_are_ablate_user_errors():
    import t3.util

    from ablate.core import UserError

    assert UserError is t3.util.UserError  # the CLI prints a bad corpus as a user error, exit 2
