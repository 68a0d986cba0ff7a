"""Checks for typed TOML: where each key is, problems collected as `file:line: message (key `k`)`.

    from ablate.sweep.schema import Errors, check_value, key_lines
    err = Errors("r.toml", key_lines("[data]\\npool = -5\\n"))
    check_value(err, "data.pool", -5, int, {"data.pool": (1, 10**8)}, {})
    err.items   # ['r.toml:2: value -5 out of range [1, 100000000] (key `data.pool`)']

Used by ablate.sweep.recipe, which knows the sections, ranges and choices.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any


def key_lines(text: str) -> dict[str, int]:
    """Map dotted key paths (`data.pool`, `mixes.all.order`, `[grid]` section `grid`) to 1-based lines.

    tomllib gives no positions, so this scans the text: headers, `key =` lines, inline-table keys.
    """
    out: dict[str, int] = {}
    table: list[str] = []
    key_re = re.compile(r'^\s*((?:[A-Za-z0-9_\-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"))*)\s*=')
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("[") and not s.startswith("[["):
            table = [p.strip().strip('"') for p in s.strip("[] ").split("]")[0].split(".")]
            out.setdefault(".".join(table), i)
            continue
        m = key_re.match(line)
        if not m:
            continue
        parts = [p.strip().strip('"') for p in m.group(1).split(".")]
        full = ".".join(table + parts)
        out.setdefault(full, i)
        rest = line[m.end():]
        if "{" in rest:  # inline table: every inner key lives on this line
            for k in re.findall(r'([A-Za-z0-9_\-]+|"[^"]*")\s*=', rest):
                out.setdefault(f"{full}.{k.strip(chr(34))}", i)
    return out


class Errors:
    def __init__(self, path: str, lines: dict[str, int]):
        self.path, self.lines, self.items = path, lines, []

    def add(self, key: str, msg: str) -> None:
        k = key
        while k and k not in self.lines:  # fall back to the nearest enclosing key that has a line
            k = k.rpartition(".")[0]
        line = self.lines.get(k, 1)
        where = f"{self.path} (--set {k})" if line == 0 else f"{self.path}:{line}"
        self.items.append(f"{where}: {msg} (key `{key}`)")


def type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is Any:
        return True
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list or tp is list:
        args = typing.get_args(tp)
        return isinstance(value, list) and (not args or all(type_ok(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_value(err: Errors, key: str, value: Any, tp: Any, ranges: dict, choices: dict,
                rkey: str | None = None) -> bool:
    """Type, range and choice check; `rkey` names the ranges/choices entry when it differs from key."""
    rkey = rkey or key
    if not type_ok(value, tp):
        err.add(key, f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
        return False
    if rkey in ranges and isinstance(value, (int, float)):
        lo, hi = ranges[rkey]
        if not lo <= value <= hi:
            err.add(key, f"value {value!r} out of range [{lo}, {hi}]")
            return False
    if rkey in choices and value is not None and value not in choices[rkey]:
        err.add(key, f"value {value!r} not one of {list(choices[rkey])}")
        return False
    return True
