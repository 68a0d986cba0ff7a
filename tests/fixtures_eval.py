"""Fixtures for the evaluation tests: a random tiny Qwen2 LM (head_dim 64, vLLM-servable) with a
tokenizer and chat template, random LoRA adapters for it, and fixture copies of every real benchmark
format under tests/data/bench/ (videos are written here with OpenCV, never committed).

    .venv/bin/pytest tests/test_eval_scoring.py -q
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ablate  # noqa: F401  (hides the broken media libs before transformers loads)

DATA = Path(__file__).parent / "data" / "bench"

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "Based on the following captions describing keyframes of a video, answer the next question.",
    "Captions: a red circle on the left. a blue square in the middle. a green triangle on the right.",
    "Question: Which object appears first? (A) (B) (C) (D) A. B. C. D. yes no Only give the best option:",
    "Please directly give the best option: Please answer yes or no: Caption A: Sentence B: Option 1:",
    "The camera moves left. The light becomes brighter. The ball spins fast, then slow, then stops.",
]


def build_tiny_lm(out: Path, vocab: int = 600, layers: int = 2, seed: int = 0) -> Path:
    """A random Qwen2ForCausalLM (hidden 128, head_dim 64) + BPE tokenizer with a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=layers,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
                      tie_word_embeddings=False, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                      bos_token_id=None, torch_dtype="float32")
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():  # larger weights so greedy outputs differ between adapters and prompts
        for p in model.parameters():
            p.mul_(3.0)
    model.save_pretrained(out, safe_serialization=True)
    return out


def build_lora(lm_dir: Path, out: Path, seed: int, rank: int = 4) -> Path:
    """A random LoRA adapter (non-zero B so it changes outputs) saved in PEFT format."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(lm_dir, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if "lora_" in n:
                p.normal_(0, 0.3)
    peft.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_lm") / "lm")


@pytest.fixture(scope="session")
def tiny_adapters(tiny_lm, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {f"v{i}": build_lora(tiny_lm, root / f"v{i}", seed=i + 1) for i in range(2)}


def write_video(path: Path, frames: int = 12, size: int = 32, seed: int = 0) -> Path:
    """A tiny mp4 (moving coloured square) written with OpenCV."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8, (size, size))
    rng = np.random.default_rng(seed)
    color = [int(c) for c in rng.integers(0, 255, 3)]
    for t in range(frames):
        img = np.zeros((size, size, 3), np.uint8)
        x = (t * 2) % (size - 8)
        img[8:16, x:x + 8] = color
        w.write(img)
    w.release()
    return path


def build_random_llava_base(root: Path, seed: int = 0):
    """An untrained LLaVA base in ablate's base layout (full/, lm/, vision/), built in seconds with
    ablate.base's own builders; weights scaled up so replies vary with the frames."""
    import torch

    from ablate.base import BaseModel
    from ablate.base.config import get_config
    from ablate.base.model import new_model, save_views
    from ablate.base.tokenizer import train_tokenizer
    from ablate.core import write_json

    cfg = get_config("micro", seed=seed)
    tok = train_tokenizer(_CORPUS * 8, vocab_size=cfg.vocab_size)
    model = new_model(cfg, tok)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "language_model" in n or "projector" in n:
                p.mul_(3.0)
    save_views(model, tok, cfg, root)
    write_json(root / "manifest.json", {"hash": f"random-micro-{seed}"})
    return BaseModel(root=root, lm_dir=root / "lm", full_dir=root / "full", hash=f"random-micro-{seed}", kind="llava")


@pytest.fixture(scope="session")
def eval_base(tmp_path_factory):
    return build_random_llava_base(tmp_path_factory.mktemp("eval_base"))


@pytest.fixture(scope="session")
def eval_adapters(eval_base, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval_adapters")
    return {f"v{i}": build_lora(eval_base.lm_dir, root / f"v{i}", seed=i + 1) for i in range(2)}


@pytest.fixture()
def bench_data(tmp_path) -> Path:
    """A writable copy of tests/data/bench with tiny videos added where each format keeps them."""
    root = tmp_path / "bench"
    shutil.copytree(DATA, root)
    for i, vid in enumerate(["v001", "v002_reverse"]):
        write_video(root / "tempcompass" / "videos" / f"{vid}.mp4", seed=i)
    write_video(root / "videomme" / "data" / "vidA.mp4", seed=3)
    write_video(root / "videomme" / "data" / "vidB.MP4", seed=4)
    write_video(root / "mlvu" / "video" / "5_order" / "order_1.mp4", seed=5)
    write_video(root / "mlvu" / "video" / "2_needle" / "needle_1.mp4", seed=6)
    write_video(root / "mlvu_hf" / "video" / "order_1.mp4", seed=7)
    (root / "videomme" / "data" / "vidC.mp4").write_bytes(b"not a video")  # corrupt on purpose
    return root


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_stub_eval(job, out: Path, benchmark: str = "t3-text") -> None:
    """A stand-in for the eval stage's run (EVAL.run) in sweep tests that do not evaluate: every adapter of the
    job right on one text item, written as the stage writes its outputs."""
    import polars as pl

    from ablate.core import atomic_dir, write_json

    with atomic_dir(out) as tmp:
        rows = [{"variant": v, "benchmark": benchmark, "modality": "text", "correct": True} for v in job.adapters]
        pl.DataFrame(rows).write_parquet(tmp / "predictions.parquet")
        pl.DataFrame(rows).write_parquet(tmp / "scores.parquet")
        write_json(tmp / "eval.json", {"adapters": sorted(job.adapters)})
