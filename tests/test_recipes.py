"""Every shipped recipe validates; the GPU-box recipes (paths under /data/) validate with their placeholder paths unchecked.

    .venv/bin/pytest tests/test_recipes.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.core import UserError
from ablate.sweep.plan import expand
from ablate.sweep.recipe import load_recipe

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.toml"))


def test_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"data_scale", "task_mix", "smoke", "qwen2vl_paper", "llava_next_video"} <= names
    assert "longva_paper" not in names  # LongVA cannot be loaded by transformers or vLLM (docs/models.md, LongVA)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates(path):
    placeholder = load_recipe(path, check_paths=False).base.model.startswith("/data/")  # written for a GPU box
    r = load_recipe(path, check_paths=not placeholder)
    assert r.name == path.stem
    variants = expand(r)
    assert len({v.id for v in variants}) == len(variants) >= 2
    assert sum(v.is_base for v in variants) == 1  # every shipped sweep compares against the base


def test_paper_recipe_paths_are_checked_when_asked():
    with pytest.raises(UserError) as e:
        load_recipe(Path(__file__).parent.parent / "recipes" / "qwen2vl_paper.toml")
    assert "key `base.model`" in str(e.value) and "key `data.corpus`" in str(e.value)


def test_task_mix_has_single_families_all_and_generic_control_on_smol():
    r = load_recipe(Path(__file__).parent.parent / "recipes" / "task_mix.toml")
    sizes = sorted(len(r.mixes[m]) for m in r.grid["mix"])
    assert sizes == [1, 1, 1, 1, 1, 4]  # the four families alone, the generic control, all four
    assert {"generic": 1.0} in [r.mixes[m] for m in r.grid["mix"]]
    assert r.base.model == "smol" and r.grid["volume"] == [0, 400]
