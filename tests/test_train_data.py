"""Training data selection: nested volumes, mix filter, replay, error paths (no torch)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from fixtures_train import write_pool

from ablate.core import UserError
import t3

from ablate.train.stage import TrainOptions
from ablate.train.data import select_examples


def test_volumes_are_nested_prefixes(tmp_path):
    pool = write_pool(tmp_path / "t3" / "train.parquet", 40)
    small, big = select_examples(pool.parent, 8), select_examples(pool, 16)
    assert big.examples[:8] == small.examples
    assert small.content_hash != big.content_hash
    first = pl.read_parquet(pool)["messages"][0].to_list()
    assert small.examples[0] == {"prompt": first[:1], "completion": first[1:]}


def test_mix_selection_is_nested_and_weighted(tmp_path):
    pool = write_pool(tmp_path / "train.parquet", 80)
    mix = {"order": 3, "grounding": 1, "attribute": 0}
    a, b = select_examples(pool, 8, mix=mix), select_examples(pool, 20, mix=mix)
    assert b.examples[:8] == a.examples
    assert a.families == {"order": 6, "grounding": 2}
    assert b.families == {"order": 15, "grounding": 5}
    with pytest.raises(UserError, match="only 40 are available"):
        select_examples(pool, 41, mix={"order": 1, "grounding": 1})
    with pytest.raises(UserError, match="not in"):
        select_examples(pool, 4, mix={"ordre": 1})


def test_replay_is_mixed_in_by_ratio(tmp_path):
    pool = write_pool(tmp_path / "train.parquet", 20)
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                       {"role": "assistant", "content": f"a{i}"}]}) + "\n" for i in range(30)))
    sel = select_examples(pool, 10, replay=replay, replay_ratio=2.0)
    assert (sel.n_t3, sel.n_replay, len(sel.examples)) == (10, 20, 30)
    # interleaved: each T3 row is followed by its two replay rows, replay rows in file order
    replies = [ex["completion"][0]["content"] for ex in sel.examples]
    assert replies[1:3] == ["a0", "a1"] and replies[4:6] == ["a2", "a3"]
    assert [r for r in replies if r.startswith("a") and r[1:].isdigit()] == [f"a{i}" for i in range(20)]
    with pytest.raises(UserError, match="needs 40 rows"):
        select_examples(pool, 20, replay=replay, replay_ratio=2.0)
    with pytest.raises(UserError, match="needs a replay file"):
        select_examples(pool, 10, replay_ratio=1.0)


def test_replay_keeps_volumes_nested(tmp_path):
    """With replay, the selection of n T3 rows is still a prefix of that of 2n (what nested wsd runs need):
    after the k-th T3 row, the replay rows so far number replay_count(k, ratio) (k x ratio, half up)."""
    from ablate.train.data import replay_count

    pool = write_pool(tmp_path / "train.parquet", 40)
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                       {"role": "assistant", "content": f"REPLAY{i}"}]}) + "\n"
                              for i in range(40)))
    for ratio in (0.5, 0.3, 1.0, 1.5):
        small, big = (select_examples(pool, n, replay=replay, replay_ratio=ratio) for n in (8, 16))
        assert (small.n_replay, big.n_replay) == (replay_count(8, ratio), replay_count(16, ratio))
        assert big.examples[:len(small.examples)] == small.examples
        is_replay = [ex["completion"][0]["content"].startswith("REPLAY") for ex in big.examples]
        counts = []  # replay rows so far, read just before each T3 row after the first, and at the end
        for k, r in enumerate(is_replay):
            if not r and k > 0:
                counts.append(sum(is_replay[:k]))
        counts.append(sum(is_replay))
        assert counts == [replay_count(k, ratio) for k in range(1, 17)]
    assert [replay_count(k, 0.5) for k in range(1, 6)] == [1, 1, 2, 2, 3]  # half up, not Python's round-half-even
    assert replay_count(10, 0.3) == 3 and replay_count(7, 0) == 0


def test_data_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"text": ["x"]}).write_parquet(bad)
    with pytest.raises(UserError, match=r"bad.parquet: training data lacks column\(s\) `messages`"):
        select_examples(bad, 1)
    with pytest.raises(UserError, match="not found"):
        select_examples(tmp_path / "nope", 1)
    turns = tmp_path / "turns.parquet"
    pl.DataFrame({"messages": [[{"role": "user", "content": "hi"}]]}).write_parquet(turns)
    with pytest.raises(UserError, match="row 0: `messages` must end with an assistant turn"):
        select_examples(turns, 1)
    pool = write_pool(tmp_path / "p.parquet", 4)
    with pytest.raises(UserError, match="n=0 means the base model"):
        select_examples(pool, 0)
    with pytest.raises(UserError, match="`task`"):
        pl.DataFrame({"messages": pl.read_parquet(pool)["messages"]}).write_parquet(tmp_path / "nt.parquet")
        select_examples(tmp_path / "nt.parquet", 2, mix={"order": 1})


def test_options_are_validated():
    assert TrainOptions().batching == "padded"
    assert TrainOptions(packing=True).batching == "packed"
    assert TrainOptions(max_steps=0).max_steps is None and TrainOptions(max_steps=-1).max_steps is None
    assert TrainOptions(target_modules="all-linear").target_modules == ("all-linear",)
    for bad in ({"lora_rank": 0}, {"learning_rate": 2.0}, {"lr_scheduler": "cosine2"}, {"batch_size": 1.5},
                {"max_steps": 1.5}, {"lora_dropout": 1.0}, {"target_modules": ()}, {"replay_ratio": -1}):
        with pytest.raises(UserError, match=f"train option `{next(iter(bad))}`"):
            TrainOptions(**bad)
    assert t3.parse_mix("order=1,attribute=0.5") == {"order": 1.0, "attribute": 0.5}  # `ablate train --mix`
    with pytest.raises(UserError, match="weight of `order` is not a number"):
        t3.parse_mix("order=x")
