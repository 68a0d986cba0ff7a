"""LoRA training end to end on a micro Qwen2 / micro LLaVA: outputs, PEFT load, masking, skip, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ablate.core import UserError
from ablate.train import TrainOptions, train_adapter

FAST = TrainOptions(batch_size=8, epochs=1.0, learning_rate=5e-3, lora_rank=4, lora_alpha=8)


def test_adapter_files_manifest_and_peft_load(train_lm_dir, train_pool, tmp_path):
    import ablate  # noqa: F401
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    steps = []
    out = tmp_path / "a"
    m = train_adapter(train_lm_dir, train_pool, out, n=32, options=FAST, on_step=lambda *a: steps.append(a),
                      show_progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "loss.parquet",
                                                     "manifest.json", "tensorboard"]  # report_to's default
    assert json.loads((out / "manifest.json").read_text()) == m
    assert m["steps"] == 4 and m["samples"] == 32
    from ablate.base.precision import resolve_precision

    assert m["precision"] == resolve_precision("auto")  # bf16 only where the CPU runs it natively
    assert [s[:2] for s in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    loss = pl.read_parquet(out / "loss.parquet")
    assert loss["step"].to_list() == [1, 2, 3, 4] and loss["loss"].is_finite().all()

    base = AutoModelForCausalLM.from_pretrained(train_lm_dir)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, out)
        after = tuned(ids).logits
    assert not torch.allclose(before, after, atol=1e-4), "the adapter did not change the outputs"


def test_loss_is_on_the_assistant_turn_only(train_lm_dir, train_pool, tmp_path):
    from ablate.train.data import select_examples
    from ablate.train.loop import make_trainer

    sel = select_examples(train_pool, 4)
    trainer, _ = make_trainer(train_lm_dir, sel.examples, FAST, tmp_path / "w", "cpu", "fp32")
    row = trainer.train_dataset[0]
    tok = trainer.processing_class
    learned = [t for t in row["labels"] if t != -100]
    answer = sel.examples[0]["completion"][0]["content"]
    # the template's own newline after <|im_end|> belongs to the assistant turn, nothing of the user turn
    assert tok.decode(learned).rstrip("\n") == answer + "<|im_end|>"
    assert len(learned) < len(row["input_ids"]) / 3
    assert row["labels"][-len(learned):] == row["input_ids"][-len(learned):]


def test_rerun_returns_at_once_and_nested_volumes_differ(train_lm_dir, train_pool, tmp_path, monkeypatch):
    out = tmp_path / "a"
    m1 = train_adapter(train_lm_dir, train_pool, out, n=16, options=FAST, show_progress=False)
    import ablate.train.loop as loop

    monkeypatch.setattr(loop, "run_training", lambda *a, **k: pytest.fail("retrained a finished adapter"))
    assert train_adapter(train_lm_dir, train_pool, out, n=16, options=FAST, show_progress=False) == m1
    monkeypatch.undo()
    # other inputs into the same dir retrain and replace it
    m2 = train_adapter(train_lm_dir, train_pool, out, n=24, options=FAST, show_progress=False)
    assert m2["hash"] != m1["hash"] and m2["data"]["n"] == 24
    assert json.loads((out / "manifest.json").read_text())["hash"] == m2["hash"]
    # deterministic: the same inputs elsewhere give the same weights
    m3 = train_adapter(train_lm_dir, train_pool, tmp_path / "b", n=16, options=FAST, show_progress=False)
    assert m3["adapter_sha256"] == m1["adapter_sha256"] and m3["hash"] == m1["hash"]


def test_crash_mid_training_leaves_nothing(train_lm_dir, train_pool, tmp_path):
    def boom(step, total, loss, sps):
        if step == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train_adapter(train_lm_dir, train_pool, tmp_path / "a", n=32, options=FAST, on_step=boom, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_vlm_trains_language_model_only(train_llava_dir, train_pool, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "a"
    opts = TrainOptions(batch_size=8, max_steps=1, target_modules=("all-linear",), lora_rank=4)
    m = train_adapter(train_llava_dir, train_pool, out, n=8, options=opts, show_progress=False)
    assert m["target_modules"] and all(".language_model." in t for t in m["target_modules"])
    with safe_open(out / "adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and not [k for k in keys if "vision" in k or "projector" in k]
    # short names that CLIP shares (q_proj) stay inside the language model
    m2 = train_adapter(train_llava_dir, train_pool, tmp_path / "b", n=8, show_progress=False,
                       options=TrainOptions(batch_size=8, max_steps=1, target_modules=("q_proj",), lora_rank=4))
    assert len(m2["target_modules"]) == 2 and all("language_model" in t for t in m2["target_modules"])


@pytest.mark.parametrize("targets,msg", [(("fc1",), "names vision-tower/projector modules only"),
                                         (("linear_1",), "names vision-tower/projector modules only"),
                                         (("nope_proj",), "matches no Linear module")])
def test_bad_targets_are_refused_and_nothing_written(train_llava_dir, train_pool, tmp_path, targets, msg):
    with pytest.raises(UserError, match=msg):
        train_adapter(train_llava_dir, train_pool, tmp_path / "a", n=8, show_progress=False,
                      options=TrainOptions(batch_size=8, max_steps=1, target_modules=targets))
    assert list(tmp_path.iterdir()) == []


def test_input_errors(train_lm_dir, train_pool, tmp_path):
    with pytest.raises(UserError, match="n=0 means the base model"):
        train_adapter(train_lm_dir, train_pool, tmp_path / "a", n=0, options=FAST)
    with pytest.raises(UserError):
        train_adapter(str(tmp_path / "no-such-model"), train_pool, tmp_path / "a", n=4, options=FAST)
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"prompt": ["x"]}).write_parquet(bad)
    with pytest.raises(UserError, match="lacks column"):
        train_adapter(train_lm_dir, bad, tmp_path / "a", n=1, options=FAST)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not an adapter directory"):
        train_adapter(train_lm_dir, train_pool, tmp_path / "taken", n=4, options=FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "taken"]


def test_cli_reports_bad_input_with_status_2(train_pool, tmp_path, capsys):
    from ablate.cli import main

    assert main(["train", "--base", str(tmp_path / "missing"), "--data", str(train_pool), "--out",
                 str(tmp_path / "o"), "--n", "0"]) == 2
    assert "n=0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_real_micro_base_and_synthesized_t3(micro_base, t3_world_corpus, tmp_path):
    """The contract path: ablate.base BaseModel + t3.synthesize output; the adapter loads on lm/."""
    import ablate  # noqa: F401
    import t3
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    t3.synthesize(t3_world_corpus, tmp_path / "t3", t3.SynthSpec(n=16, probe_n=4, frames=3, seed=0))
    m = train_adapter(micro_base, tmp_path / "t3", tmp_path / "a", n=16, show_progress=False,
                      options=TrainOptions(batch_size=8, lora_rank=4))
    assert m["base"]["hash"] == micro_base.hash and m["steps"] == 2
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(micro_base.lm_dir), tmp_path / "a")


def test_compact_cpu_loss_matches_trl_loss_and_gradients(train_lm_dir, train_pool):
    """ablate's CPU loss (LM head on answer positions only) equals TRL's compute_loss: loss and LoRA grads,
    padded and padding-free, with and without num_items_in_batch."""
    import importlib.util

    path = Path(__file__).parent.parent / "benchmarks" / "bench_train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parity(train_lm_dir, train_pool, n=8, batch_size=4) is True
