"""Nested volumes in one warmup-stable-decay run: each saved adapter equals an independent wsd run.

    .venv/bin/pytest tests/test_train_nested.py -q
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from ablate.base.replay import write_replay
from ablate.core import UserError
from ablate.train import TrainOptions, train_adapter
from ablate.train.nested import decay_steps, plan_segments, train_nested, wsd_factor

OPTS = dict(lr_scheduler="wsd", warmup_steps=1, decay_ratio=0.25, batch_size=4, lora_rank=4, precision="fp32",
            learning_rate=5e-3)


def _tensors(d):
    from safetensors.torch import load_file

    return load_file(str(d / "adapter_model.safetensors"))


@pytest.mark.slow  # ~1-4 min on 2 shared cores: four micro trainings
def test_nested_adapters_equal_independent_wsd_runs(micro_base, t3_world_corpus, tmp_path):
    import t3
    import torch

    t3.synthesize(t3_world_corpus, tmp_path / "t3", t3.SynthSpec(n=48, probe_n=4, frames=3, seed=0))
    opts = TrainOptions(**OPTS)
    vols = (16, 32, 48)  # 4, 8, 12 steps; decays of 1, 2, 3 steps: 15 steps in all instead of 24
    nested = train_nested(micro_base, tmp_path / "t3", {v: tmp_path / f"n{v}" for v in vols}, opts, show_progress=False)
    assert sorted(nested) == list(vols)
    for v in vols:
        alone = train_adapter(micro_base, tmp_path / "t3", tmp_path / f"i{v}", n=v, options=opts, show_progress=False)
        assert nested[v]["hash"] == alone["hash"] and nested[v]["steps"] == alone["steps"] == v // 4
        a, b = _tensors(tmp_path / f"n{v}"), _tensors(tmp_path / f"i{v}")
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
        la, lb = pl.read_parquet(tmp_path / f"n{v}" / "loss.parquet"), pl.read_parquet(tmp_path / f"i{v}" / "loss.parquet")
        assert la["step"].to_list() == lb["step"].to_list() == list(range(1, v // 4 + 1))
        assert la["learning_rate"].to_list() == pytest.approx(lb["learning_rate"].to_list())
        assert la["loss"].to_list() == pytest.approx(lb["loss"].to_list(), rel=1e-4)
    # the volumes are different adapters (the test could not pass with one adapter copied three times)
    assert not torch.allclose(_tensors(tmp_path / "n16")["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"],
                              _tensors(tmp_path / "n48")["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"])
    # finished: the same call trains nothing and train_adapter sees the nested adapters as its own
    again = train_nested(micro_base, tmp_path / "t3", {v: tmp_path / f"n{v}" for v in vols}, opts, show_progress=False)
    assert {v: m["adapter_sha256"] for v, m in again.items()} == {v: m["adapter_sha256"] for v, m in nested.items()}
    assert train_adapter(micro_base, tmp_path / "t3", tmp_path / "n32", n=32, options=opts,
                         show_progress=False)["adapter_sha256"] == nested[32]["adapter_sha256"]


@pytest.mark.slow  # ~1-2 min on 2 shared cores: three micro trainings
def test_nested_with_replay_equals_independent_runs(micro_base, t3_world_corpus, tmp_path):
    """Replay rows interleave into the pool order, so nested volumes stay exact with replay; the steps count
    T3 and replay rows (16 T3 rows + 8 replay rows at ratio 0.5 = 6 steps of 4)."""
    import t3
    import torch

    t3.synthesize(t3_world_corpus, tmp_path / "t3", t3.SynthSpec(n=32, probe_n=4, frames=3, seed=0))
    replay = tmp_path / "replay.jsonl"
    write_replay(replay, 16)
    opts = TrainOptions(**OPTS, replay_ratio=0.5)
    nested = train_nested(micro_base, tmp_path / "t3", {v: tmp_path / f"n{v}" for v in (16, 32)}, opts,
                          show_progress=False, replay=replay)
    for v in (16, 32):
        alone = train_adapter(micro_base, tmp_path / "t3", tmp_path / f"i{v}", n=v, options=opts, replay=replay,
                              show_progress=False)
        assert nested[v]["hash"] == alone["hash"]
        assert (nested[v]["steps"], nested[v]["samples"], nested[v]["data"]["n_replay"]) == (
            alone["steps"], alone["samples"], alone["data"]["n_replay"]) == (v * 3 // 8, v * 3 // 2, v // 2)
        a, b = _tensors(tmp_path / f"n{v}"), _tensors(tmp_path / f"i{v}")
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert nested[16]["adapter_sha256"] != nested[32]["adapter_sha256"]


def test_wsd_learning_rates(train_lm_dir, train_pool, tmp_path):
    """An independent wsd run logs the warmup, stable and decay factors of wsd_factor."""
    opts = TrainOptions(**{**OPTS, "warmup_steps": 2, "decay_ratio": 0.3})
    train_adapter(train_lm_dir, train_pool, tmp_path / "a", n=40, options=opts, show_progress=False)
    lrs = pl.read_parquet(tmp_path / "a" / "loss.parquet")["learning_rate"].to_list()
    assert lrs == pytest.approx([5e-3 * f for f in (1 / 3, 2 / 3, 1, 1, 1, 1, 1, 3 / 4, 2 / 4, 1 / 4)])
    assert [wsd_factor(s, 2, 10, decay_steps(opts, 10)) for s in range(10)] == pytest.approx(
        [1 / 3, 2 / 3, 1, 1, 1, 1, 1, 3 / 4, 2 / 4, 1 / 4])


def test_segments_and_refusals(train_pool, tmp_path):
    opts = TrainOptions(**OPTS)
    segs = [(s.start, s.length, s.total, s.volume) for s in plan_segments(opts, [16, 32, 48])]
    assert segs == [(0, 3, math.inf, None), (3, 1, 4, 0), (3, 3, math.inf, None), (6, 2, 8, 1),
                    (6, 3, math.inf, None), (9, 3, 12, 2)]
    with pytest.raises(UserError, match="multiple of batch_size"):
        plan_segments(opts, [10])
    with pytest.raises(UserError, match="exceed"):
        plan_segments(TrainOptions(**{**OPTS, "warmup_steps": 4}), [16])
    with pytest.raises(UserError, match="wsd"):
        train_nested("micro", train_pool, {8: tmp_path / "a"}, TrainOptions(batch_size=4))
    grouped = TrainOptions(**OPTS, group_by_length=True, group_window=3)  # length windows of 12 rows
    assert [s.volume for s in plan_segments(grouped, [12, 24]) if s.volume is not None] == [0, 1]
    with pytest.raises(UserError, match="multiple of batch_size x grad_accum x group_window = 12"):
        plan_segments(grouped, [16])


def test_ablate_train_volumes(train_lm_dir, train_pool, tmp_path, capsys):
    from ablate.cli import main

    args = ["train", "--base", str(train_lm_dir), "--data", str(train_pool), "--out", str(tmp_path / "a"),
            "--volumes", "8,16", "--batch-size", "4", "--lora-rank", "4", "--decay-ratio", "0.5"]
    assert main(args) == 2  # the default cosine schedule cannot nest
    assert "wsd" in capsys.readouterr().err
    assert main(args + ["--lr-scheduler", "wsd"]) == 0
    assert (tmp_path / "a" / "n8" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "a" / "n16" / "manifest.json").is_file()
