"""The training speed levers: lora_layers, length-grouped batches, the completion-only LM head, bf16 on CPU,
and keys that stay what they were while the new options keep their defaults.

    .venv/bin/pytest tests/test_train_speed.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ablate.train import TrainOptions, train_adapter


def _trainer(lm_dir, pool, tmp_path, **opts):
    from ablate.train.data import select_examples
    from ablate.train.loop import make_trainer

    sel = select_examples(pool, 16)
    return make_trainer(Path(lm_dir), sel.examples, TrainOptions(batch_size=4, lora_rank=4, **opts),
                        tmp_path / "work", "cpu", "fp32")


@pytest.mark.parametrize("lora_layers,below_has_grad", [(0, True), (1, False)])
def test_lora_layers_adapts_the_top_layers_and_backward_stops_there(train_lm_dir, train_pool, tmp_path,
                                                                    lora_layers, below_has_grad):
    """2-layer micro LM: lora_layers=1 puts LoRA on layer 1 only, and layer 0's output needs no gradient
    (autograd never enters it), while with LoRA on all layers it does."""
    trainer, targets = _trainer(train_lm_dir, train_pool, tmp_path, lora_layers=lora_layers, max_steps=1)
    layers = {t.split(".layers.")[1].split(".")[0] for t in targets}
    assert layers == ({"0", "1"} if lora_layers == 0 else {"1"})
    seen = []
    layer0 = trainer.model.get_base_model().model.layers[0]
    layer0.register_forward_hook(lambda m, i, out: seen.append((out[0] if isinstance(out, tuple) else out).requires_grad))
    trainer.train()
    assert seen and all(s == below_has_grad for s in seen)


def test_lora_layers_adapter_and_errors(train_lm_dir, train_pool, tmp_path):
    from ablate.core import UserError

    m = train_adapter(train_lm_dir, train_pool, tmp_path / "a", n=8, show_progress=False,
                      options=TrainOptions(batch_size=4, lora_rank=4, lora_layers=1, precision="fp32"))
    cfg = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert all(".layers.1." in t for t in cfg["target_modules"]) and m["options"]["lora_layers"] == 1
    with pytest.raises(UserError, match="lora_layers"):
        TrainOptions(lora_layers=-1)


def test_group_by_length_batches_carry_fewer_pad_tokens(train_lm_dir, tmp_path):
    import polars as pl

    from tests.fixtures_train import micro_rows

    rows = micro_rows(32)
    for i, r in enumerate(rows):  # lengths from 1x to 8x
        r["messages"][0]["content"] = (r["messages"][0]["content"] + " ") * (1 + i % 8)
    pl.DataFrame(rows).write_parquet(tmp_path / "train.parquet")

    def pads(**opts) -> int:
        from ablate.train.data import select_examples
        from ablate.train.loop import make_trainer

        trainer, _ = make_trainer(Path(train_lm_dir), select_examples(tmp_path, 32).examples,
                                  TrainOptions(batch_size=4, **opts), tmp_path / "w", "cpu", "fp32")
        return sum(int((b["attention_mask"] == 0).sum()) for b in trainer.get_train_dataloader())

    assert pads(group_by_length=True) < 0.75 * pads()  # same rows, similar lengths together


def test_auto_precision_on_cpu_is_bf16_only_where_native(monkeypatch):
    from ablate.base import precision
    from ablate.train.loop import device_and_precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert device_and_precision("auto") == ("cpu", "bf16")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert device_and_precision("auto") == ("cpu", "fp32")
    assert device_and_precision("bf16") == ("cpu", "bf16")


def test_lm_head_runs_on_completion_positions_only(train_lm_dir, train_pool, tmp_path):
    """The CPU loss projects only the positions with a label: the LM head sees far fewer rows than tokens."""
    trainer, _ = _trainer(train_lm_dir, train_pool, tmp_path, max_steps=1)
    head = trainer.model.get_base_model().get_output_embeddings()
    rows = []
    head.register_forward_hook(lambda m, i, out: rows.append(i[0].reshape(-1, i[0].shape[-1]).shape[0]))
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.compute_loss(trainer.model, dict(batch))
    n_labels = int((batch["labels"][:, 1:] != -100).sum())
    assert rows == [n_labels] and n_labels < batch["input_ids"].numel() / 3


def test_new_options_at_their_defaults_keep_every_key():
    """Fields added after train-1 enter keys only when set: the default options hash as they did before."""
    from ablate.core import stable_hash
    from ablate.train.stage import LATER_FIELDS, options_record

    rec = options_record(TrainOptions())
    assert not set(LATER_FIELDS) & set(rec)
    assert stable_hash(rec) == "2b5c8a878a3d79c4"  # TrainOptions() before lora_layers / warmup_steps / decay_ratio
    for f, v in (("lora_layers", 4), ("warmup_steps", 3), ("decay_ratio", 0.2)):
        assert options_record(TrainOptions(**{f: v}))[f] == v
        assert stable_hash(options_record(TrainOptions(**{f: v}))) != stable_hash(rec)


def test_sweep_train_key_of_an_existing_recipe_is_unchanged():
    from ablate.sweep.plan import expand
    from ablate.sweep.recipe import parse_recipe
    from ablate.sweep.runner import train_options

    text = '[recipe]\nname = "x"\n[mixes]\nall = { order = 1 }\n[grid]\nvolume = [10]\n[train]\nlora_rank = 8\n'
    opts = train_options(expand(parse_recipe(text, "x.toml", check_paths=False))[0])
    assert "lora_layers" not in opts and opts["lora_rank"] == 8
    opts2 = train_options(expand(parse_recipe(text + "lora_layers = 6\n", "x.toml", check_paths=False))[0])
    assert opts2 == {**opts, "lora_layers": 6}
