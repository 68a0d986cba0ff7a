"""Hostile recipes: every one is refused by `ablate validate` / `ablate sweep` with exit status 2 and a
message naming the file and line (or `--set`) and the key; none places a file anywhere.

    python -m pytest -q tests/hostile/test_hostile_recipes.py
"""

from __future__ import annotations

import pytest

GOOD = """\
[recipe]
name = "h"

[data]
corpus = "world"
pool = 100
probe = 10

[mixes]
all = { order = 1, attribute = 1, referring = 1, grounding = 1 }

[grid]
mix = ["all"]
volume = [0, 50]
"""


def write(tmp_path, text: str | bytes, name: str = "r.toml"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_good_recipe_validates(cli, tmp_path):
    cli("validate", write(tmp_path, GOOD)).ok()


def test_toml_syntax_error_names_line(cli, tmp_path):
    p = write(tmp_path, GOOD.replace('pool = 100', 'pool = = 100'))
    cli("validate", p).user_error(f"{p}:6:", "invalid TOML")


@pytest.mark.parametrize("edit, needles", [
    (('pool = 100', 'pool = "many"'), ["r.toml:6:", "expected int", "key `data.pool`"]),
    (('pool = 100', 'pool = -5'), ["r.toml:6:", "out of range", "key `data.pool`"]),
    (('pool = 100', 'pool = 100\nlength_scale = 3'), ["r.toml:7:", "not one of [1, 2, 4, 8]", "key `data.length_scale`"]),
    (('pool = 100', 'poool = 100'), ["r.toml:6:", "unknown key", "key `data.poool`"]),
    (('[mixes]', '[extra]\nx = 1\n[mixes]'), ["r.toml:9:", "unknown section `extra`"]),
    (('volume = [0, 50]', 'volume = [0, 50]\nfoo = [1, 2]'), ["key `grid.foo`", "unknown grid axis"]),
    (('volume = [0, 50]', 'volume = [0, 50]\n"train.nope" = [1, 2]'), ["key `grid.train.nope`", "has no axis `nope`"]),
    (('volume = [0, 50]', 'volume = [0, 50, 50]'), ["r.toml:14:", "duplicate values", "key `grid.volume`"]),
    (('mix = ["all"]', 'mix = [["all"]]'), ["key `grid.mix`", "unknown mix"]),
    (('order = 1, attribute', 'order = -1, attribute'), ["r.toml:10:", "weight must be a number >= 0", "key `mixes.all.order`"]),
    (('order = 1, attribute', 'time_travel = 1, attribute'), ["unknown task family `time_travel`"]),
], ids=["type", "range", "choice", "unknown-key", "unknown-section", "unknown-axis", "unknown-section-axis",
        "duplicate-axis-values", "mix-not-a-name", "negative-weight", "unknown-family"])
def test_bad_values(cli, tmp_path, edit, needles):
    p = write(tmp_path, GOOD.replace(*edit))
    cli("validate", p).user_error(*needles)


# ---- cross-field rules (issue #13, item 4) --------------------------------------------------------

def test_volume_larger_than_pool(cli, tmp_path):
    p = write(tmp_path, GOOD.replace("volume = [0, 50]", "volume = [0, 50, 500]"))
    cli("validate", p).user_error(f"{p}:14:", "volume 500 is larger than data.pool = 100", "key `grid.volume`")
    cli("plan", p, "--runs-dir", tmp_path / "runs").user_error("volume 500")  # plan refuses it too


def test_volume_larger_than_a_pool_on_the_grid(cli, tmp_path):
    p = write(tmp_path, GOOD.replace("volume = [0, 50]", 'volume = [0, 50]\n"data.pool" = [40, 100]'))
    cli("validate", p).user_error("volume 50 is larger than data.pool = 40", "key `grid.volume`")


def test_volume_from_set_larger_than_pool(cli, tmp_path):
    p = write(tmp_path, GOOD)
    cli("validate", p, "--set", "grid.volume=[0, 99999]").user_error(
        f"{p} (--set grid.volume)", "volume 99999 is larger than data.pool = 100")


def test_probe_benchmark_without_probe_items(cli, tmp_path):
    p = write(tmp_path, GOOD.replace("probe = 10", "probe = 0"))
    cli("validate", p).user_error(f"{p}:7:", "needs probe items", "key `data.probe`")


def test_replay_ratio_without_replay_file(cli, tmp_path):
    p = write(tmp_path, GOOD + "\n[train]\nreplay_ratio = 2.0\n")
    cli("validate", p).user_error(f"{p}:17:", "needs a replay file", "key `train.replay_ratio`")


def test_two_mixes_with_the_same_weights(cli, tmp_path):
    p = write(tmp_path, GOOD.replace('mix = ["all"]', 'mix = ["all", "same"]').replace(
        "[grid]", "same = { order = 2, attribute = 2, referring = 2, grounding = 2 }\n\n[grid]"))
    cli("validate", p).user_error(f"{p}:12:", "mixes `all` and `same` have the same weights", "key `mixes.same`")


def test_odd_world_videos(cli, tmp_path):
    p = write(tmp_path, GOOD + "\n[world]\nvideos = 7\n")
    cli("validate", p).user_error(f"{p}:17:", "must be even", "key `world.videos`")


def test_benchmark_listed_twice(cli, tmp_path):
    p = write(tmp_path, GOOD + '\n[eval]\nbenchmarks = ["t3-probe", "world-text", "t3-probe"]\n')
    cli("validate", p).user_error("benchmark `t3-probe` is listed twice", "key `eval.benchmarks`")


def test_corpus_as_grid_axis(cli, tmp_path):
    p = write(tmp_path, GOOD.replace("volume = [0, 50]", 'volume = [0, 50]\n"data.corpus" = ["world", "x.json"]'))
    cli("validate", p, "--no-path-check").user_error("cannot be a grid axis", "key `grid.data.corpus`")


def test_benchmark_path_of_wrong_type(cli, tmp_path):
    p = write(tmp_path, GOOD + '\n[eval]\nbenchmarks = [{ name = "tempcompass", path = 3 }]\n')
    cli("validate", p).user_error("entry 0: a benchmark is a name or", "key `eval.benchmarks`")


def test_missing_corpus_path(cli, tmp_path):
    p = write(tmp_path, GOOD.replace('corpus = "world"', 'corpus = "/no/such/corpus.json"'))
    cli("validate", p).user_error(f"{p}:5:", "does not exist", "key `data.corpus`")
    cli("validate", p, "--no-path-check").ok()


# ---- names that become paths (issue #13, item 1) --------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "/tmp/x", ".hidden", "a/b", "", "x" * 200, "a\\b", "..", "a b"])
def test_recipe_name_that_is_a_path(cli, tmp_path, name):
    import json

    p = write(tmp_path, GOOD.replace('name = "h"', f"name = {json.dumps(name)}"))
    cli("validate", p).user_error(f"{p}:2:", "key `recipe.name`")


def test_path_like_name_sweep_writes_nothing(cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    p = write(work, GOOD)
    before = set(tmp_path.rglob("*"))
    cli("sweep", p, "--set", 'recipe.name="../../escape"', "--runs-dir", work / "runs",
        "--reports-dir", work / "reports").user_error(f"{p} (--set recipe.name)", "key `recipe.name`")
    assert set(tmp_path.rglob("*")) == before  # no runs dir, no report, nothing outside either


def test_mix_name_that_is_a_path(cli, tmp_path):
    p = write(tmp_path, GOOD.replace("all = {", '"../m" = {').replace('mix = ["all"]', 'mix = ["../m"]'))
    cli("validate", p).user_error(f"{p}:10:", "key `mixes.../m`", "mix name '../m'")


# ---- files that are not recipes -------------------------------------------------------------------

def test_non_utf8_recipe(cli, tmp_path):
    p = write(tmp_path, GOOD.encode().replace(b'"h"', b'"h\xff\xfe"'))
    cli("validate", p).user_error(f"{p}: cannot read recipe")


def test_empty_recipe(cli, tmp_path):
    p = write(tmp_path, b"")
    cli("validate", p).user_error(f"{p}:1:", "missing section `recipe`")


def test_binary_recipe(cli, tmp_path):
    import random

    p = write(tmp_path, bytes(random.Random(0).randrange(256) for _ in range(2048)))
    cli("validate", p).user_error(f"{p}")


def test_recipe_with_nul_bytes(cli, tmp_path):
    p = write(tmp_path, GOOD.replace('"h"', '"h\x00"'))
    cli("validate", p).user_error(f"{p}:2:", "invalid TOML")


def test_recipe_is_a_directory(cli, tmp_path):
    cli("validate", tmp_path).user_error(f"{tmp_path}: cannot read recipe")


def test_recipe_not_found(cli, tmp_path):
    cli("validate", tmp_path / "nope.toml").user_error("nope.toml: recipe not found")


# ---- --set garbage --------------------------------------------------------------------------------

@pytest.mark.parametrize("item, needles", [
    ("nonsense", ["--set 'nonsense': expected SECTION.KEY=VALUE"]),
    ("=3", ["expected SECTION.KEY=VALUE"]),
    ("data.pool=[1,", ["(--set data.pool)", "expected int", "key `data.pool`"]),
    ("data.pool.x=1", ["--set data.pool.x: `pool` is not a table"]),
    ("recipe=3", ["(--set recipe)", "section `recipe` must be a table"]),
    ("nosuch.key=1", ["unknown section `nosuch`"]),
    ("data.pool=1e400", ["expected int", "key `data.pool`"]),
    ("grid.volume=\"all\"", ["a grid axis is a non-empty list", "key `grid.volume`"]),
], ids=["no-equals", "no-key", "unclosed-list", "into-a-value", "section-to-value", "unknown-section", "inf",
        "axis-not-a-list"])
def test_set_garbage(cli, tmp_path, item, needles):
    cli("validate", write(tmp_path, GOOD), "--set", item).user_error(*needles)


def test_symlink_out_of_the_runs_dir_is_refused_before_any_work(cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "sweeps").symlink_to(outside)
    p = write(tmp_path, GOOD.replace('[data]', '[base]\nmodel = "micro"\n\n[data]'))
    cli("sweep", p, "--runs-dir", runs, "--reports-dir", tmp_path / "reports").user_error(
        "refusing path", "outside")
    assert not list(outside.iterdir()) and not (runs / "synth").exists()
