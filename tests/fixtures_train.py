"""Fixtures for the training tests: a micro Qwen2 LM, a micro LLaVA (tiny CLIP + Qwen2), chat data.

    def test_x(train_lm_dir, train_pool): train_adapter(train_lm_dir, train_pool, tmp / "a", n=8, ...)

Built here in a second (byte-level BPE trained on the rows, Qwen-style chat template,
head_dim 64 as vLLM's CPU backend requires), independent of the base-model area, so the training
tests exercise exactly the generic "local HF directory" path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FAMILIES = ("order", "attribute", "referring", "grounding")
WORDS = "red blue green circle square triangle left right top bottom first then last beginning middle end".split()


def micro_rows(n: int, seed: int = 0) -> list[dict]:
    """T3-shaped rows: id, task, messages (user, assistant)."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        caps = [" ".join(rng.choice(WORDS) for _ in range(4)) for _ in range(3)]
        ans = rng.choice("ABCD")
        user = "Captions:\n" + "\n".join(caps) + "\nQuestion: what comes first ?\n(A) red (B) blue (C) green (D) square\nOnly give the best option:"
        rows.append({
            "id": f"s{i}",
            "task": FAMILIES[i % 4],
            "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": f"({ans}) {rng.choice(WORDS)}"}],
        })
    return rows


def _tokenizer(out: Path):
    """Byte-level BPE trained on the micro rows (any text encodes; nothing is dropped)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<|im_start|>", "<|im_end|>", "<image>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    texts = [m["content"] for r in micro_rows(200) for m in r["messages"]] + ["user assistant"]
    tk.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<|im_end|>",
                                  additional_special_tokens=["<|im_start|>", "<image>"])
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out)
    return tok


def _qwen2_config(vocab_size: int):
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=64, max_position_embeddings=512,
                       tie_word_embeddings=True)


def build_micro_lm(out: Path) -> Path:
    import ablate  # noqa: F401
    import torch
    from transformers import Qwen2ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(out)
    torch.manual_seed(0)
    cfg = _qwen2_config(len(tok))
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    return out


def build_micro_llava(out: Path) -> Path:
    import ablate  # noqa: F401
    import torch
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(out)
    torch.manual_seed(0)
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=1,
                              image_size=32, patch_size=16, projection_dim=64)
    cfg = LlavaConfig(vision_config=vision, text_config=_qwen2_config(len(tok)),
                      image_token_index=tok.convert_tokens_to_ids("<image>"))
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    return out


def write_pool(path: Path, n: int, seed: int = 0) -> Path:
    import polars as pl

    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(micro_rows(n, seed)).write_parquet(path)
    return path


@pytest.fixture(scope="session")
def train_lm_dir(tmp_path_factory) -> Path:
    return build_micro_lm(tmp_path_factory.mktemp("train-lm") / "lm")


@pytest.fixture(scope="session")
def train_llava_dir(tmp_path_factory) -> Path:
    return build_micro_llava(tmp_path_factory.mktemp("train-llava") / "full")


@pytest.fixture(scope="session")
def train_pool(tmp_path_factory) -> Path:
    """A synthesis-like dir with train.parquet of 64 rows."""
    d = tmp_path_factory.mktemp("train-pool")
    write_pool(d / "train.parquet", 64)
    return d


def tensorboard_scalars(run_dir: Path, tag: str = "train/loss") -> dict[int, float]:
    """{step: value} of one scalar in a TensorBoard run dir, read by TensorBoard's own EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {e.step: e.value for e in acc.Scalars(tag)}
