"""Training options from one source: every TrainOptions field is a [train] key and an `ablate train` flag.

    .venv/bin/pytest tests/test_train_options.py -q
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from ablate.core import field_docs
from ablate.sweep.recipe import parse_recipe
from ablate.sweep.sections import TrainSection
from ablate.train.stage import OPTION_CHOICES, TrainOptions

FIELDS = [f.name for f in dataclasses.fields(TrainOptions)]


def other_value(name: str):
    """A valid value different from the default, chosen from the field's type (so new fields are covered)."""
    default, tp = getattr(TrainOptions(), name), typing.get_type_hints(TrainOptions)[name]
    if name in OPTION_CHOICES:
        return next(c for c in OPTION_CHOICES[name] if c != default)
    if tp is bool:
        return not default
    if typing.get_origin(tp) is tuple:
        return ("q_proj", "v_proj")
    if default is None:
        return 5
    if isinstance(default, int):
        return default + 1
    return default + 0.5 if default + 0.5 < 1 or default >= 1 else default / 2 + 0.01


def toml(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return repr(value)


def cli_args(name: str, value) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    return [flag, ",".join(value) if isinstance(value, tuple) else str(value)]


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_is_settable_from_a_recipe(name):
    from ablate.sweep.plan import expand
    from ablate.sweep.runner import train_options

    value = other_value(name)
    text = (f'[recipe]\nname = "x"\n[mixes]\nall = {{ order = 1 }}\n[grid]\nvolume = [10]\n'
            f"[train]\n{name} = {toml(value)}\n")
    if name == "replay_ratio":  # a replay share needs replay data (the recipe's cross-field rule)
        text = text.replace("[grid]", '[data]\nreplay = "replay.jsonl"\n[grid]')
    r = parse_recipe(text, "x.toml", check_paths=False)
    got = getattr(r.train, name)
    assert (tuple(got) if isinstance(value, tuple) else got) == value
    opts = TrainOptions(**train_options(expand(r)[0]))  # what the sweep hands the training stage
    assert getattr(opts, name) == value
    grid = parse_recipe(text.replace(f"[train]\n{name} = {toml(value)}\n", "")
                        .replace("volume = [10]", f"volume = [10]\ntrain.{name} = [{toml(value)}]"), "x.toml",
                        check_paths=False)
    assert TrainOptions(**train_options(expand(grid)[0])) == opts  # and as a grid axis


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_is_settable_from_ablate_train(name):
    import argparse

    from ablate.train.cli import add_cli, options_from_args

    value = other_value(name)
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["train", "--base", "b", "--data", "d", "--out", "o", *cli_args(name, value)])
    opts = options_from_args(args)
    assert getattr(opts, name) == value
    assert opts == dataclasses.replace(TrainOptions(), **{name: value})  # nothing else moved


def test_section_and_flags_carry_the_dataclass_docs():
    docs = field_docs(TrainOptions)
    assert set(docs) == set(FIELDS) and all(docs.values())
    section = {f.name: f for f in dataclasses.fields(TrainSection)}
    assert list(section) == FIELDS + ["report_to"]  # the tracker: in [train], never a TrainOptions field
    assert all(f.default is None and f.metadata["doc"] == docs.get(f.name, f.metadata["doc"]) and f.metadata["doc"]
               for f in section.values())


def test_old_flag_spellings_still_work():
    import argparse

    from ablate.train.cli import add_cli, options_from_args

    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["train", "--base", "b", "--data", "d", "--out", "o", "--lr", "0.01",
                              "--scheduler", "linear", "--batching", "grouped", "--target-modules", "q_proj,k_proj"])
    o = options_from_args(args)
    assert (o.learning_rate, o.lr_scheduler, o.batching, o.target_modules) == (0.01, "linear", "grouped", ("q_proj", "k_proj"))


def test_recipe_reports_train_option_errors_under_the_key():
    from ablate.core import UserError

    text = '[recipe]\nname = "x"\n[mixes]\nall = { order = 1 }\n[grid]\nvolume = [10]\n[train]\nprecision = "fp8"\n'
    with pytest.raises(UserError, match=r"x.toml:8: value 'fp8' not one of \['auto', 'fp32', 'bf16'\] \(key `train.precision`\)"):
        parse_recipe(text, "x.toml", check_paths=False)
    with pytest.raises(UserError, match=r"x.toml:8: train option `learning_rate`: must be in \(0, 1\).*key `train.learning_rate`"):
        parse_recipe(text.replace('precision = "fp8"', "learning_rate = 1.0"), "x.toml", check_paths=False)
