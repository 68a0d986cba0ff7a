"""Foreign artefacts (issue #27): a LoRA adapter made for another model (wrong hidden size, target
modules the base does not have, a rank above the engine's limit) and a base dir that is not what its
config.json says (no weights, weights of another shape, a cut file). `ablate eval` and `ablate train`
stop with exit status 2 before any engine or trainer starts, naming the adapter, the base and the first
offending tensor; in a sweep the foreign adapter is that variant's error row and the others are
evaluated. Also here: the eval cases of the filesystem class that need a real evaluation (a directory
where the generation cache or a predictions file goes, a full disk while writing the outputs).

Uses the random micro LLaVA base of tests/fixtures_eval.py (built in seconds) and hand-written PEFT
files. The sweep case trains two micro adapters and is marked slow (~1-2 min on 2 cores).

    python -m pytest -q tests/hostile/test_hostile_adapters.py
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

P = "base_model.model.model.layers.0."


def write_adapter(d: Path, tensors: dict[str, tuple], r: int, targets: list[str]) -> Path:
    """A PEFT LoRA adapter dir with these tensor shapes (small random values)."""
    import numpy as np
    from safetensors.numpy import save_file

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    save_file({k: rng.normal(0, 0.01, s).astype(np.float32) for k, s in tensors.items()},
              str(d / "adapter_model.safetensors"))
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": 2 * r,
                                                       "target_modules": targets, "task_type": "CAUSAL_LM"}))
    return d


def lora(module: str, r: int, d_in: int, d_out: int) -> dict[str, tuple]:
    return {f"{P}{module}.lora_A.weight": (r, d_in), f"{P}{module}.lora_B.weight": (d_out, r)}


FOREIGN = {  # case -> (tensors, rank, targets, words of the message); the micro base's LM is 128 wide
    "hidden": (lora("self_attn.q_proj", 4, 256, 256), 4, ["q_proj"],
               [f"{P}self_attn.q_proj.lora_A.weight has shape [4, 256]", "in_features 128"]),
    "targets": (lora("mlp.fc1", 4, 128, 128), 4, ["fc1"],
                [f"{P}mlp.fc1.lora_A.weight targets module model.layers.0.mlp.fc1, which the base does not have"]),
    "rank": (lora("self_attn.q_proj", 600, 128, 128), 600, ["q_proj"],
             ["LoRA rank 600", "above the vllm engine's maximum LoRA rank 512"]),
}


@pytest.fixture
def bench(tmp_path) -> Path:
    f = tmp_path / "order_val.jsonl"
    f.write_text("".join(json.dumps({"qid": i, "question": f"Which first?\n(A) red {i}\n(B) blue {i}",
                                     "answer": "(A)" if i % 2 else "(B)"}) + "\n" for i in range(4)))
    return f


@pytest.fixture
def no_engine(monkeypatch):
    """Fail the test if an inference engine is started."""
    import ablate.eval.engines as engines

    def boom(*a, **k):
        raise AssertionError("an engine was started")

    monkeypatch.setattr(engines, "load_engine", boom)


def ev(cli, base, bench, out, *extra):
    return cli("eval", "--base", base, "--bench", f"t3-text={bench}", "--max-tokens", "4", "--out", out, *extra)


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_foreign_adapter_in_eval(cli, eval_base, bench, tmp_path, no_engine, case):
    tensors, r, targets, words = FOREIGN[case]
    a = write_adapter(tmp_path / f"foreign-{case}", tensors, r, targets)
    out = tmp_path / "out"
    ev(cli, eval_base.root, bench, out, "--adapter", f"f={a}", "--engine", "vllm").user_error(
        f"variant f: adapter {a}", f"base {eval_base.root}", *words)
    assert not out.exists()


def test_adapter_above_vllm_rank_runs_on_hf(cli, eval_base, bench, tmp_path):
    """The rank limit is the engine's: the same adapter evaluates on the HF engine (the fix)."""
    tensors, r, targets, _ = FOREIGN["rank"]
    a = write_adapter(tmp_path / "r600", tensors, r, targets)
    ev(cli, eval_base.root, bench, tmp_path / "out", "--adapter", f"r600={a}", "--engine", "hf").ok()
    assert (tmp_path / "out" / "predictions.parquet").is_file()


def test_foreign_adapter_among_good_ones_names_it(cli, eval_base, eval_adapters, bench, tmp_path, no_engine):
    bad = write_adapter(tmp_path / "bad", *FOREIGN["hidden"][:3])
    ev(cli, eval_base.root, bench, tmp_path / "out", "--adapter", f"v0={eval_adapters['v0']}", "--adapter",
       f"bad={bad}").user_error(f"variant bad: adapter {bad}")


def _copy_lm(eval_base, dst: Path) -> Path:
    shutil.copytree(eval_base.lm_dir, dst)
    return dst


@pytest.mark.parametrize("damage", ["no weights", "other shape", "cut", "other layers"])
def test_base_dir_not_what_it_claims(cli, eval_base, train_pool, bench, tmp_path, no_engine, damage):
    d = _copy_lm(eval_base, tmp_path / "lm")
    w = d / "model.safetensors"
    cfg = json.loads((d / "config.json").read_text())
    if damage == "no weights":
        w.unlink()
        words = [f"{d}: has a config.json but no weights"]
    elif damage == "other shape":
        (d / "config.json").write_text(json.dumps({**cfg, "hidden_size": 256}))
        words = [f"{d}: the base model is not what its config.json describes", "model.embed_tokens.weight",
                 "[448, 128]", "[448, 256]"]
    elif damage == "other layers":
        (d / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 4}))
        words = ["num_hidden_layers=4, the weights hold 1 layers"]
    else:
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
        words = [f"{w}: cut short"]
    ev(cli, d, bench, tmp_path / "out", "--engine", "hf").user_error(*words)
    cli("train", "--base", d, "--data", train_pool, "--out", tmp_path / "adapter", "--max-steps", "1").user_error(*words)
    assert not (tmp_path / "adapter").exists()


def test_ablate_base_dir_without_lm_weights(cli, eval_base, bench, tmp_path, no_engine):
    root = tmp_path / "base"
    shutil.copytree(eval_base.root, root)
    (root / "lm" / "model.safetensors").unlink()
    ev(cli, root, bench, tmp_path / "out", "--engine", "hf").user_error(f"{root / 'lm'}: has a config.json but no weights")


def test_sweep_on_broken_base_stops_before_any_stage(cli, eval_base, tmp_path):
    from fixtures_t3 import world_captions, write_llava

    d = _copy_lm(eval_base, tmp_path / "lm")
    (d / "model.safetensors").unlink()
    corpus = write_llava(tmp_path / "captions.json", world_captions()[:120])
    r = tmp_path / "b.toml"
    r.write_text(f'[recipe]\nname = "b"\n[base]\nmodel = "{d}"\n[data]\ncorpus = "{corpus}"\npool = 16\nprobe = 8\n'
                 '[mixes]\nall = { order = 1 }\n[grid]\nvolume = [16]\n[eval]\nbenchmarks = ["t3-probe"]\nengine = "hf"\n')
    cli("sweep", r, "--runs-dir", tmp_path / "runs", "--reports-dir", tmp_path / "reports").user_error(
        f"{d}: has a config.json but no weights")
    assert not (tmp_path / "runs" / "synth").exists()


def test_directory_where_the_generation_cache_goes(cli, eval_base, bench, tmp_path, monkeypatch, no_engine):
    cache = tmp_path / "cache"
    (cache / "eval" / "generations.sqlite").mkdir(parents=True)
    monkeypatch.setenv("ABLATE_CACHE", str(cache))
    monkeypatch.delenv("ABLATE_NODE_CACHE", raising=False)
    ev(cli, eval_base.root, bench, tmp_path / "out", "--engine", "hf").user_error(
        "opening the generation cache failed", f"{cache / 'eval' / 'generations.sqlite'} is a directory where ablate writes a file")


def test_full_disk_and_directory_in_the_way_while_writing_eval_outputs(cli, eval_base, bench, tmp_path, monkeypatch):
    """The replies are in the generation cache before the outputs are written, so nothing computed is
    lost: after the fix the same command completes from the cache, without starting an engine."""
    import polars as pl

    import ablate.eval.engines as engines

    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ABLATE_NODE_CACHE", raising=False)
    out = tmp_path / "out"
    real = pl.DataFrame.write_parquet

    def full(self, path, *a, **k):
        Path(path).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    ev(cli, eval_base.root, bench, out, "--engine", "hf").user_error(
        f"{out}: writing the evaluation outputs failed: No space left on device [ENOSPC]", "free space")
    assert not list(out.glob(".*tmp*")) and not (out / "predictions.parquet").exists()
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    monkeypatch.setattr(engines, "load_engine", lambda *a, **k: (_ for _ in ()).throw(AssertionError("engine started")))
    (out / "predictions.parquet").mkdir()
    ev(cli, eval_base.root, bench, out, "--engine", "hf").user_error(
        "writing the evaluation outputs failed", f"{out / 'predictions.parquet'} is a directory where ablate writes a file")
    (out / "predictions.parquet").rmdir()
    ev(cli, eval_base.root, bench, out, "--engine", "hf").ok()
    assert pl.read_parquet(out / "predictions.parquet")["cached"].all()


@pytest.mark.slow
def test_foreign_adapter_in_a_sweep_is_that_variants_error_row(cli, eval_base, tmp_path):
    from safetensors.numpy import load_file

    from ablate.core import content_sha256
    from fixtures_t3 import world_captions, write_llava

    corpus = write_llava(tmp_path / "captions.json", world_captions())
    bench = tmp_path / "order_val.jsonl"
    bench.write_text("".join(json.dumps({"qid": i, "question": f"Which first?\n(A) red {i}\n(B) blue {i}",
                                         "answer": "(A)"}) + "\n" for i in range(4)))
    recipe = tmp_path / "fa.toml"
    recipe.write_text(f'[recipe]\nname = "fa"\n[base]\nmodel = "{eval_base.root}"\n[data]\ncorpus = "{corpus}"\n'
                      'pool = 32\nprobe = 8\nframes = 3\n[mixes]\nall = { order = 1, referring = 1 }\n'
                      '[grid]\nvolume = [16, 24]\n[train]\nlora_rank = 4\nmax_steps = 2\nbatch_size = 8\n'
                      f'[eval]\nbenchmarks = [{{ name = "t3-text", path = "{bench}" }}]\nengine = "hf"\nmax_tokens = 4\n')
    runs, reports = tmp_path / "runs", tmp_path / "reports"

    def sweep(*extra):
        return cli("sweep", recipe, "--runs-dir", runs, "--reports-dir", reports, *extra)

    def variants():
        return {v["label"]: v for v in json.loads((runs / "sweeps" / "fa" / "sweep.json").read_text())["variants"]}

    sweep().ok()
    tdir = runs / "train" / variants()["all/v24"]["stages"]["train"]
    good = {n: (tdir / n).read_bytes() for n in ("adapter_model.safetensors", "adapter_config.json", "manifest.json")}
    keys = sorted(load_file(str(tdir / "adapter_model.safetensors")))
    for case in ("hidden", "targets"):  # an adapter from elsewhere copied over the trained one, manifest and all
        tensors, r, targets, words = FOREIGN[case]
        write_adapter(tdir, tensors, r, targets)
        man = json.loads(good["manifest.json"])
        (tdir / "manifest.json").write_text(json.dumps({**man, "adapter_sha256": content_sha256(tdir / "adapter_model.safetensors")}))
        r = sweep()
        assert r.code == 1 and "Traceback" not in r.out + r.err, r.out + r.err
        v = variants()
        assert v["all/v16"]["status"] == "done", v["all/v16"]
        bad = v["all/v24"]
        assert bad["status"] == "failed" and bad["failed_stage"] == "eval"
        for w in [f"adapter {tdir} does not fit base {eval_base.root}", *words]:
            assert w in bad["error"], bad["error"]
    for n, b in good.items():  # the fix: the trained adapter back; the rerun completes
        (tdir / n).write_bytes(b)
    assert sorted(load_file(str(tdir / "adapter_model.safetensors"))) == keys
    sweep().ok()
    assert all(v["status"] == "done" for v in variants().values())
    r = sweep("--set", "train.lora_rank=600", "--set", 'eval.engine="vllm"')  # rank above vLLM's: no engine starts
    assert r.code == 1 and "Traceback" not in r.out + r.err
    for v in variants().values():
        assert v["status"] == "failed" and "above the vllm engine's maximum LoRA rank 512" in v["error"], v
