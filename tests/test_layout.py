"""The import picture the layout promises: stages never import the sweep or each other; no package cycles.

    .venv/bin/pytest tests/test_layout.py -q
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("synth", "train", "eval")
LOWER = ("base", "world")  # what stages may build on, besides core and t3


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] != "ablate" or len(parts) == 1 else parts[1]


def _imports() -> dict[str, set[str]]:
    """Package -> packages it imports (module level or inside functions)."""
    out: dict[str, set[str]] = {}
    for f in sorted((ROOT / "ablate").rglob("*.py")):
        here = _package(".".join(f.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for n in names:
                if n.split(".")[0] in ("ablate", "t3") and _package(n) != here:
                    out.setdefault(here, set()).add(_package(n))
    return out


def test_stages_do_not_import_up_or_sideways():
    deps = _imports()
    for s in STAGES + LOWER:
        assert "sweep" not in deps.get(s, set()), f"ablate/{s} imports ablate.sweep"
    for s in STAGES:
        others = deps.get(s, set()) & (set(STAGES) - {s})
        assert not others, f"ablate/{s} imports the stage(s) {sorted(others)}: go through files and the runner"
    for s in LOWER:
        assert not deps.get(s, set()) & set(STAGES), f"ablate/{s} imports a stage"


def test_no_package_cycles():
    deps = _imports()

    def reach(p, seen):
        for q in deps.get(p, ()):
            if q not in seen:
                seen.add(q)
                reach(q, seen)
        return seen

    cyclic = [p for p in deps if p in reach(p, set()) and p != "ablate"]  # `import ablate` (compat) is the root
    assert not cyclic, f"package import cycle through {cyclic}"
