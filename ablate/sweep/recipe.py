"""Recipes: a TOML file -> frozen, validated dataclasses (the sweep's whole input).

    from ablate.sweep.recipe import load_recipe
    recipe = load_recipe("recipes/data_scale.toml", overrides=["train.lora_rank=8"])
    print(recipe.name, recipe.grid)

    $ ablate validate recipes/*.toml

Validation is strict and collects every problem before raising: unknown sections or keys, wrong
types, out-of-range values, unknown mixes / task families / benchmarks, missing paths. Each problem is
one line `file:line: message (key `section.key`)`, and all of them are raised together as one UserError.
Rules that span keys (volume <= pool, probe for t3-probe, replay with its ratio, ...) and the safe-name
rule for recipe and mix names live in ablate.sweep.recipe_checks / ablate.names.

Paths (corpus, base model directory, benchmark roots, replay file) are checked when `check_paths` is
true (the default for `ablate sweep`). `ablate validate --no-path-check` / `ablate plan` check the
schema only, so a recipe written for another machine (recipes/qwen2vl_paper.toml, whose paths are
placeholders under /data/...) validates here. The sweep always checks paths before running anything.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import t3

from ablate.core import UserError
from ablate.eval.benchmarks import REGISTRY
from ablate.sweep.schema import Errors as _Errors, check_value, key_lines, type_ok as _type_ok
from ablate.sweep.sections import (BaseSection, BenchmarkSpec, DataSection, EvalSection, Recipe, RecipeSection, SweepSection,
                                   TrainSection, WorldSection, train_ident)

FAMILIES = tuple(t3.FAMILIES)  # the four T3 task families, defined once in t3.families
GENERIC = "generic"  # pseudo-family: plain caption-description text, the HotpotQA-style control
BUILTIN_AXES = ("mix", "volume", "seed")


def _train_choices() -> dict[str, tuple]:
    from ablate.train.stage import OPTION_CHOICES
    from ablate.train.tracking import REPORT_TO

    return {**OPTION_CHOICES, "report_to": REPORT_TO}


SECTIONS = {"recipe": RecipeSection, "base": BaseSection, "world": WorldSection, "data": DataSection, "train": TrainSection, "eval": EvalSection,
            "sweep": SweepSection}
GRID_SECTIONS = ("train", "data", "eval")
RANGES: dict[str, tuple[float, float]] = {
    "data.pool": (1, 10**8), "data.probe": (0, 10**7), "data.frames": (3, 1024),
    "world.images": (1, 10**7), "world.videos": (2, 10**6), "world.frames": (3, 512), "world.size": (16, 1024),
    "train.lora_rank": (1, 4096), "train.lora_alpha": (0, 1e6), "train.lora_dropout": (0, 0.99),
    "train.learning_rate": (1e-9, 1.0), "train.warmup_ratio": (0, 1), "train.epochs": (0.01, 1000),
    "train.max_steps": (-1, 10**9), "train.batch_size": (1, 65536), "train.grad_accum": (1, 65536),
    "train.max_length": (16, 10**6), "train.replay_ratio": (0, 100), "eval.frames": (1, 1024),
    "eval.max_tokens": (1, 65536), "recipe.seed": (0, 2**31), "seed": (0, 2**31), "volume": (0, 10**8),
    "sweep.gpus_per_cell": (0, 1024), "sweep.cpus_per_cell": (0, 4096), "sweep.max_retries": (0, 1000),
    "sweep.timeout": (1, 10**8), "sweep.eval_shards": (1, 4096),
}
CHOICES: dict[str, tuple] = {
    **{f"train.{k}": v for k, v in _train_choices().items()},
    "data.length_scale": (1, 2, 4, 8), "eval.engine": ("vllm", "hf"), "eval.scoring": ("ablate", "official"),
    "sweep.executor": ("local", "ray"),
    "data.corpus_format": ("auto", "llava", "coco", "sharegpt4v", "jsonl", "parquet", "csv"),
}


def _check_value(err: _Errors, key: str, value: Any, tp: Any, rkey: str | None = None) -> bool:
    """Type, range and choice check; `rkey` names the RANGES/CHOICES entry when it differs from key."""
    return check_value(err, key, value, tp, RANGES, CHOICES, rkey)


def _section(err: _Errors, name: str, cls, raw: Any) -> Any:
    if not isinstance(raw, dict):
        err.add(name, f"section `{name}` must be a table")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for k, v in raw.items():
        if k not in fields:
            err.add(f"{name}.{k}", f"unknown key; section `{name}` accepts {', '.join(sorted(fields))}")
        elif _check_value(err, f"{name}.{k}", v, hints[k]):
            values[k] = v
    missing = [f for f in fields.values() if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and f.name not in values]
    for f in missing:
        err.add(name, f"missing required key `{f.name}` in section `{name}`")
    if missing:
        return None
    return cls(**values)


def _parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.lora_rank=8")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word is a string: --set base.model=/models/x
    return [p.strip() for p in key.strip().split(".")], value


def _apply_override(raw: dict, parts: list[str], value: Any) -> None:
    node = raw
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {'.'.join(parts)}: `{p}` is not a table")
    node[parts[-1]] = value


def parse_recipe(text: str, path: str = "<recipe>", overrides: list[str] | tuple = (),
                 check_paths: bool = True) -> Recipe:
    """Parse and validate recipe text; raise one UserError listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None) or (re.search(r"line (\d+)", str(e)) or [None, 1])[1]
        raise UserError(f"{path}:{line}: invalid TOML ({e})") from None
    lines = key_lines(text)
    for item in overrides:
        parts, value = _parse_override(item)
        _apply_override(raw, parts, value)
        lines[".".join(parts)] = 0  # reported as line 0 = "from --set"
    err = _Errors(path, lines)
    known = set(SECTIONS) | {"mixes", "grid"}
    for k in raw:
        if k not in known:
            err.add(k, f"unknown section `{k}`; known: {', '.join(sorted(known))}")
    if "recipe" not in raw:
        err.add("recipe", "missing section `recipe` (needs at least name = \"...\")")
    sec = {n: _section(err, n, cls, raw.get(n, {})) if n in raw or n != "recipe" else None
           for n, cls in SECTIONS.items()}
    mixes = _mixes(err, raw.get("mixes", {}))
    benches = _benchmarks(err, raw.get("eval", {}).get("benchmarks")) if sec["eval"] else []
    if sec["eval"]:
        sec["eval"] = dataclasses.replace(sec["eval"], benchmarks=benches)
    grid = _grid(err, raw.get("grid", {}), mixes)
    if sec["train"] is not None:
        _train_options_ok(err, sec["train"])
    from ablate.sweep.recipe_checks import check_names, cross_field, grid_paths

    check_names(err, sec, raw.get("mixes", {}))
    if not err.items:
        cross_field(err, sec, mixes, grid, benches)
    if check_paths and not err.items:
        _paths(err, sec, benches)
        for key, value in grid_paths(grid):
            if not Path(value).exists():
                err.add(key, f"file {value} does not exist")
    if err.items:
        n = len(err.items)
        raise UserError(f"{path}: {n} problem{'s' * (n > 1)}:\n  " + "\n  ".join(err.items))
    return Recipe(path=str(path), mixes=mixes, grid=grid, **sec)


def _train_options_ok(err: _Errors, train) -> None:
    """TrainOptions' own checks (the ones beyond type and range), reported under the key."""
    from ablate.train.stage import TrainOptions

    try:
        TrainOptions(**{k: v for k, v in train_ident(train).items() if v is not None})
    except UserError as e:
        m = re.match(r"train option `(\w+)`", str(e))
        err.add(f"train.{m.group(1)}" if m else "train", str(e))


def _mixes(err: _Errors, raw: Any) -> dict[str, dict[str, float]]:
    if not isinstance(raw, dict):
        err.add("mixes", "section `mixes` must be a table of name = { family = weight, ... }")
        return {}
    out = {}
    for name, weights in raw.items():
        key = f"mixes.{name}"
        if not isinstance(weights, dict) or not weights:
            err.add(key, "a mix is a non-empty inline table such as { order = 1, attribute = 1 }")
            continue
        ok = True
        for fam, w in weights.items():
            if fam not in FAMILIES + (GENERIC,):
                err.add(f"{key}.{fam}", f"unknown task family `{fam}`; known: {list(FAMILIES) + [GENERIC]}")
                ok = False
            elif not _type_ok(w, float) or w < 0:
                err.add(f"{key}.{fam}", f"weight must be a number >= 0, got {w!r}")
                ok = False
        if ok and GENERIC in weights and len(weights) > 1:
            err.add(key, "`generic` is a control mix and cannot be combined with T3 families")
            ok = False
        if ok and sum(weights.values()) <= 0:
            err.add(key, "weights sum to 0")
            ok = False
        if ok:
            out[name] = {k: float(v) for k, v in weights.items()}
    return out


def _benchmarks(err: _Errors, raw: Any) -> list[BenchmarkSpec]:
    if raw is None:
        return [BenchmarkSpec(b) for b in EvalSection().benchmarks]
    out = []
    for i, b in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(b, str):
            b = {"name": b}
        if (not isinstance(b, dict) or set(b) - {"name", "path"} or not isinstance(b.get("name"), str)
                or not isinstance(b.get("path", ""), str)):
            err.add("eval.benchmarks", f"entry {i}: a benchmark is a name or {{ name = ..., path = ... }}")
            continue
        if b["name"] not in REGISTRY:
            err.add("eval.benchmarks", f"unknown benchmark `{b['name']}`; known: {list(REGISTRY)}")
        elif REGISTRY[b["name"]].needs_path and not b.get("path"):
            err.add("eval.benchmarks", f"benchmark `{b['name']}` needs a path: {{ name = \"{b['name']}\", path = \"...\" }}")
        else:
            out.append(BenchmarkSpec(b["name"], b.get("path")))
    if not out and not err.items:
        err.add("eval.benchmarks", "no benchmarks")
    return out


def _grid(err: _Errors, raw: Any, mixes: dict) -> dict[str, list]:
    out: dict[str, list] = {}
    flat: dict[str, Any] = {}
    for k, v in (raw.items() if isinstance(raw, dict) else []):
        if k in GRID_SECTIONS and isinstance(v, dict):  # dotted keys: train.lora_rank = [...]
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    for k, v in flat.items():
        key = f"grid.{k}"
        if not isinstance(v, list) or not v:
            err.add(key, "a grid axis is a non-empty list of values")
            continue
        if len(set(map(repr, v))) != len(v):
            err.add(key, "duplicate values on a grid axis")
            continue
        if k == "mix":
            for m in v:
                if not isinstance(m, str) or m not in mixes:
                    err.add(key, f"unknown mix `{m}`; defined in section `mixes`: {', '.join(sorted(mixes)) or 'none'}")
        elif k in ("volume", "seed"):
            for x in v:
                _check_value(err, key, x, int, rkey=k)
        else:
            sect, _, name = k.partition(".")
            if sect not in GRID_SECTIONS or not name:
                err.add(key, f"unknown grid axis; use mix, volume, seed or train.X / data.X / eval.X")
                continue
            cls = SECTIONS[sect]
            hints = typing.get_type_hints(cls)
            if name not in hints or (sect == "eval" and name == "benchmarks"):
                err.add(key, f"section `{sect}` has no axis `{name}`")
                continue
            if k == "train.report_to":
                err.add(key, "the tracker is not a grid axis (it changes no result); set [train] report_to")
                continue
            for x in v:
                _check_value(err, key, x, hints[name], rkey=k)
        out[k] = list(v)
    out.setdefault("mix", [next(iter(mixes))] if mixes else [])
    if not out["mix"]:
        err.add("mixes", "define at least one mix in section `mixes`")
    out.setdefault("volume", [])
    if not out["volume"]:
        err.add("grid.volume", "put at least one data volume on the grid, e.g. volume = [0, 1000]")
    return out


def _paths(err: _Errors, sec: dict, benches: list[BenchmarkSpec]) -> None:
    data, base = sec["data"], sec["base"]
    if data and data.corpus != "world" and not Path(data.corpus).exists():
        err.add("data.corpus", f"corpus file {data.corpus} does not exist")
    if data and data.replay and data.replay != "base" and not Path(data.replay).exists():
        err.add("data.replay", f"replay file {data.replay} does not exist")
    from ablate.base import EMBEDDED

    if base and base.model not in EMBEDDED and not Path(base.model).is_dir():
        err.add("base.model", f"base model directory {base.model} does not exist (or use an embedded base: {', '.join(EMBEDDED)})")
    for b in benches:
        if b.path and not Path(b.path).exists():
            err.add("eval.benchmarks", f"benchmark `{b.name}` path {b.path} does not exist")
    if sec["train"]:  # the tracker's package must be installed here (tensorboard too: it is the default)
        from ablate.train.tracking import DEFAULT_REPORT_TO, check_report_to

        try:
            check_report_to(sec["train"].report_to or DEFAULT_REPORT_TO)
        except UserError as e:
            err.add("train.report_to", str(e))


def load_recipe(path: str | Path, overrides: list[str] | tuple = (), check_paths: bool = True) -> Recipe:
    """Read and validate a recipe file (see parse_recipe)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{p}: recipe not found") from None
    except (UnicodeDecodeError, IsADirectoryError) as e:
        raise UserError(f"{p}: cannot read recipe ({e})") from None
    return parse_recipe(text, str(p), overrides, check_paths)
