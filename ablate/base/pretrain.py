"""Pretrain the embedded base on CPU and cache it: stage 0 vision tower, stage 1a projector alignment,
stage 1 captions, stage 2 instructions (each only where its config gives it steps).

    from ablate.base.pretrain import build
    root, key = build("micro")       # seconds; tests use this (ablate.base.build_base wraps it)
    root, key = build("smol")        # the real one; cached afterwards

The result lives in `cache_root()/base/<hash>/` where hash = stable_hash(config, data hash, code
version); a second call finds it and returns at once. Outputs: full/, lm/, vision/, manifest.json
(see ablate.base.model and ablate.base.evaluate for what goes in them). The stage-0 tower is cached
on its own under `cache_root()/base-vision/<vision_key>/`: bases that share the vision side reuse it.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from ablate.base.config import BaseConfig, get_config
from ablate.core import atomic_dir, cache_root, file_sha256, stable_hash, write_json

# files whose content determines the built model (the world's generators are its data)
_CODE_FILES = ("base/config.py", "base/data.py", "base/slots.py", "base/replay.py", "base/model.py", "base/tokenizer.py",
               "base/pretrain.py", "base/prompts.py", "base/evaluate.py")


# the world modules that generate pretraining data (bench/build code does not affect the base)
_WORLD_FILES = ("scene.py", "render.py", "captions.py", "clips.py")


def code_version() -> dict[str, str]:
    import ablate

    pkg = Path(ablate.__file__).parent
    files = [pkg / f for f in _CODE_FILES] + [pkg / "world" / f for f in _WORLD_FILES]
    return {p.relative_to(pkg).as_posix(): file_sha256(p)[:16] for p in files if p.exists()}


def build_key(cfg: BaseConfig, corpus: list[str], lm=None) -> str:
    """The base's identity; the precision in it is the resolved one ("bf16" / "fp32"), never "auto".

    A pretrained LM enters by its content hash (`lm`, an ablate.base.lm_source.PretrainedLM), never by the
    path it was read from: the same weights from the registry or a local copy build the same base.
    """
    from dataclasses import replace

    ident = {"config": replace(cfg.resolved(), lm_path=""), "data": stable_hash(corpus), "code": code_version()}
    if cfg.lm:
        ident["lm"] = lm.hash
    return stable_hash(ident)


def pretrained_lm(cfg: BaseConfig, fetch: bool = True, verbose: bool = True):
    """The config's pretrained LM (ablate.base.lm_source), or None for a from-scratch LM; without `fetch`,
    None also where it is not in the cache yet."""
    import os

    from ablate.base.lm_source import ENV, cached_lm, resolve_lm

    if not cfg.lm:
        return None
    if fetch or cfg.lm_path or os.environ.get(ENV):
        return resolve_lm(cfg.lm, cfg.lm_path or None, verbose=verbose)
    return cached_lm(cfg.lm)


def base_corpus(cfg: BaseConfig) -> list[str]:
    """What the from-scratch tokenizer is trained on; empty for a pretrained LM (it brings its own)."""
    from ablate.base.data import tokenizer_corpus

    if cfg.lm:
        return []
    return tokenizer_corpus(random.Random(cfg.seed), cfg.tokenizer_captions, cfg.clip_frames, layout=cfg.layout)


VISION_FIELDS = ("frame_size", "patch_size", "render_size", "vision_hidden", "vision_layers", "vision_heads",
                 "vision_intermediate", "stage0_steps", "stage0_batch", "lr", "warmup", "seed")


def vision_key(cfg: BaseConfig) -> str:
    """Identity of the stage-0 vision tower: its config fields, the code that trains it and the world's renderer.

    The tower is initialised from its own seed (`_init_tower`) and trained on its own data stream, so
    it does not depend on the LM or the later stages; bases that share it reuse it from the cache.
    """
    import inspect

    from ablate.base import data, model

    src = [inspect.getsource(f) for f in (train_vision, _init_tower, data.stage0_batch, data.patch_labels, data._clip,
                                          model.llava_config)]
    world = {k: v for k, v in code_version().items() if k.startswith("world/")}
    return stable_hash({"fields": {f: getattr(cfg, f) for f in VISION_FIELDS}, "src": stable_hash(src), "world": world})


def _init_tower(model, cfg: BaseConfig) -> None:
    """Re-initialise the vision tower from a seed of its own (independent of the LM's size)."""
    import torch

    tower = model.model.vision_tower
    torch.manual_seed(cfg.seed + 11)
    tower.apply(tower._init_weights)


def pretrain_vision(model, cfg: BaseConfig, verbose=True) -> dict:
    """Stage 0, or the same tower from the cache when a base with the same vision side was built before."""
    import torch
    from safetensors.torch import load_file, save_file

    from ablate.core import read_json

    vdir = cache_root() / "base-vision" / vision_key(cfg)
    tower = model.model.vision_tower
    if (vdir / "tower.safetensors").is_file():
        tower.load_state_dict(load_file(vdir / "tower.safetensors"))
        tower.eval()
        return {**read_json(vdir / "stage0.json"), "cached": str(vdir)}
    _init_tower(model, cfg)
    curves = train_vision(model, cfg, random.Random(cfg.seed + 1), verbose)
    with atomic_dir(vdir, overwrite=True) as tmp:
        save_file({k: v.detach().contiguous() for k, v in tower.state_dict().items()}, tmp / "tower.safetensors")
        write_json(tmp / "stage0.json", curves)
    return curves


def collate(samples, tokenizer, tokens_per_frame: int, image_token_id: int, pad_id: int, frame_size: int):
    """Token ids with each <image> expanded to tokens_per_frame slots; labels on the answer only."""
    import numpy as np
    import torch

    from ablate.base.embed import preprocess
    from ablate.base.model import CLIP_MEAN, CLIP_STD
    from ablate.base.prompts import chat_text

    fulls = tokenizer([chat_text(tokenizer, s.user, s.answer) for s in samples], add_special_tokens=False)["input_ids"]
    prompts = tokenizer([chat_text(tokenizer, s.user) for s in samples], add_special_tokens=False)["input_ids"]
    rows, labels = [], []
    for full, prompt in zip(fulls, prompts):
        n_prompt = len(prompt)
        ids, lab = [], []
        for i, t in enumerate(full):
            rep = tokens_per_frame if t == image_token_id else 1
            ids += [t] * rep
            lab += ([-100] * rep) if i < n_prompt else [t]
        rows.append(ids)
        labels.append(lab)
    L = max(map(len, rows))
    input_ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    lab_t = torch.full((len(rows), L), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, (r, lb) in enumerate(zip(rows, labels)):
        input_ids[i, : len(r)] = torch.tensor(r)
        lab_t[i, : len(lb)] = torch.tensor(lb)
        mask[i, : len(r)] = 1
    images = np.concatenate([s.images for s in samples])
    pixel_values = torch.from_numpy(preprocess(images, frame_size, CLIP_MEAN, CLIP_STD)) if len(images) else None
    return {"input_ids": input_ids, "attention_mask": mask, "labels": lab_t, "pixel_values": pixel_values}


def _lr(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))  # cosine down to 5% of peak


def train_vision(model, cfg: BaseConfig, rng, verbose=True) -> dict:
    """Stage 0: train the vision tower alone to name, per patch, the object centred in it.

    Linear heads on the tower's output tokens (the features LLaVA feeds its projector) predict colour,
    shape and size of the object whose centre lies in each patch (or "none"), where the patch is (its
    index on the grid, so every token says where it is, not only what), and the lighting from their
    mean. The heads are thrown away afterwards; the tower is what later stages look through.
    """
    import torch
    import torch.nn.functional as F

    from ablate.base.data import stage0_batch
    from ablate.base.embed import preprocess
    from ablate.base.evaluate import HELDOUT_SEED
    from ablate.base.model import CLIP_MEAN, CLIP_STD
    from ablate.ui import progress
    from ablate.world.scene import COLOR_NAMES, SHAPES, SIZES

    tower = model.model.vision_tower
    grid = cfg.frame_size // cfg.patch_size
    heads = torch.nn.ModuleList([torch.nn.Linear(cfg.vision_hidden, 1 + len(v)) for v in (COLOR_NAMES, SHAPES, SIZES)]
                                + [torch.nn.Linear(cfg.vision_hidden, 2), torch.nn.Linear(cfg.vision_hidden, grid * grid)])
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    losses, t0 = [], time.perf_counter()
    tower.train()

    def run(images, labels, light):
        x = torch.from_numpy(preprocess(images, cfg.frame_size, CLIP_MEAN, CLIP_STD))
        feats = tower(x, output_hidden_states=True).hidden_states[-1][:, 1:]  # [B, grid*grid, hidden]
        logits = [head(feats) for head in heads[:3]]
        lab = torch.from_numpy(labels)
        loss = sum(F.cross_entropy(lg.flatten(0, 1), lab[:, k].flatten()) for k, lg in enumerate(logits))
        loss = loss + F.cross_entropy(heads[3](feats.mean(1)), torch.from_numpy(light))
        where = torch.arange(grid * grid).repeat(len(feats))
        loss = loss + F.cross_entropy(heads[4](feats).flatten(0, 1), where)
        return loss, logits, lab

    with progress(f"base {cfg.name} stage0 vision", total=cfg.stage0_steps, enabled=verbose) as bar:
        for step in range(cfg.stage0_steps):
            for g in opt.param_groups:
                g["lr"] = _lr(step, cfg.stage0_steps, cfg.warmup, cfg.lr)
            loss, _, _ = run(*stage0_batch(rng, cfg.render_size, grid, cfg.stage0_batch))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            bar.advance(1, loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    tower.eval()
    with torch.no_grad():  # per-patch accuracy on fresh images, over patches that hold an object
        _, logits, lab = run(*stage0_batch(random.Random(HELDOUT_SEED), cfg.render_size, grid, 256))
        has = lab[:, 0] > 0
        acc = {k: round(float((lg.argmax(-1) == lab[:, i])[has].float().mean()), 4)
               for i, (k, lg) in enumerate(zip(("color", "shape", "size"), logits))}
    k = max(1, len(losses) // 10)
    return {"steps": cfg.stage0_steps, "batch_size": cfg.stage0_batch, "samples": cfg.stage0_steps * cfg.stage0_batch,
            "seconds": round(time.perf_counter() - t0, 1), "heldout_patch_accuracy": acc,
            "loss_first": round(sum(losses[:k]) / k, 4), "loss_last": round(sum(losses[-k:]) / k, 4),
            "loss_curve": [round(sum(losses[i:i + k]) / len(losses[i:i + k]), 4) for i in range(0, len(losses), k)]}


def patch_word_targets(tokenizer, embed, labels, light, grid: int):
    """[B, grid*grid, hidden] targets: per patch, the mean input embedding of the words that say what it shows.

    A patch with an object's centre: "<size> <colour> <shape> at the <position>"; an empty one: "<lighting>
    empty <position>" (so the lighting is said too). The words are the pretrained LM's own tokens, so the
    projector learns to speak the LM's input space before any LM pass (`align_projector`).
    """
    import torch

    from ablate.world.scene import COLOR_NAMES, LIGHTING, POSITIONS, SHAPES, SIZES

    memo: dict[str, torch.Tensor] = {}

    def mean_embedding(text: str):
        if text not in memo:
            ids = torch.tensor(tokenizer(" " + text, add_special_tokens=False)["input_ids"])
            memo[text] = embed[ids].mean(0)
        return memo[text]

    pos = POSITIONS if grid == 3 else [f"patch {i}" for i in range(grid * grid)]
    rows = []
    for lab, li in zip(labels, light):
        rows.append(torch.stack([
            mean_embedding(f"{SIZES[lab[2, i] - 1]} {COLOR_NAMES[lab[0, i] - 1]} {SHAPES[lab[1, i] - 1]} at the {pos[i]}")
            if lab[0, i] else mean_embedding(f"{LIGHTING[li]} empty {pos[i]}") for i in range(grid * grid)]))
    return torch.stack(rows)


def align_projector(model, tokenizer, cfg: BaseConfig, rng, verbose=True) -> dict:
    """Stage 1a: train the projector alone to map each patch's features onto `patch_word_targets` (relative MSE).

    No LM forward or backward: a step costs the frozen tower and the projector only, so the projector starts
    the LM-loss stages already in the LM's embedding space, at a small fraction of their cost per sample.
    """
    import torch

    from ablate.base.data import stage0_batch
    from ablate.base.embed import preprocess
    from ablate.base.model import CLIP_MEAN, CLIP_STD
    from ablate.ui import progress

    grid = cfg.frame_size // cfg.patch_size
    tower, proj = model.model.vision_tower, model.model.multi_modal_projector
    embed = model.get_input_embeddings().weight.detach()
    opt = torch.optim.AdamW(proj.parameters(), lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.98))
    losses, t0 = [], time.perf_counter()
    with progress(f"base {cfg.name} stage1a align", total=cfg.align_steps, enabled=verbose) as bar:
        for step in range(cfg.align_steps):
            for g in opt.param_groups:
                g["lr"] = _lr(step, cfg.align_steps, cfg.warmup, cfg.lr)
            images, labels, light = stage0_batch(rng, cfg.render_size, grid, cfg.align_batch)
            with torch.no_grad():
                x = torch.from_numpy(preprocess(images, cfg.frame_size, CLIP_MEAN, CLIP_STD))
                feats = tower(x, output_hidden_states=True).hidden_states[-1][:, 1:]  # [B, grid*grid, vision_hidden]
            target = patch_word_targets(tokenizer, embed, labels, light, grid)  # [B, grid*grid, hidden]
            out = proj(feats)
            loss = ((out - target) ** 2).sum(-1).div(target.pow(2).sum(-1)).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            bar.advance(1, loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    k = max(1, len(losses) // 10)
    return {"steps": cfg.align_steps, "batch_size": cfg.align_batch, "samples": cfg.align_steps * cfg.align_batch,
            "seconds": round(time.perf_counter() - t0, 1),
            "loss_first": round(sum(losses[:k]) / k, 4), "loss_last": round(sum(losses[-k:]) / k, 4),
            "loss_curve": [round(sum(losses[i:i + k]) / len(losses[i:i + k]), 4) for i in range(0, len(losses), k)]}


def train_stage(model, tokenizer, cfg: BaseConfig, name: str, steps: int, make_batch, rng, verbose=True) -> dict:
    """Run `steps` AdamW steps (a fresh optimizer, warm-up + cosine to peak `cfg.lr`) on freshly generated
    batches of what requires grad (the projector, and the LM unless frozen); return the loss curve summary.

    bf16 autocast where `cfg.precision` is "bf16" (only chosen where the CPU runs it natively, see
    ablate.base.precision): about 2x faster matmuls there; weights and the saved model stay float32.
    """
    import torch

    from ablate.ui import progress

    params = [p for p in model.parameters() if p.requires_grad]  # the tower is frozen after stage 0
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    losses, t0, n_seen = [], time.perf_counter(), 0
    model.train()
    with progress(f"base {cfg.name} {name}", total=steps, enabled=verbose) as bar:
        for step in range(steps):
            samples = make_batch(rng)
            batch = collate(samples, tokenizer, cfg.tokens_per_frame, image_id, tokenizer.pad_token_id, cfg.frame_size)
            for g in opt.param_groups:
                g["lr"] = _lr(step, steps, cfg.warmup, cfg.lr)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            n_seen += len(samples)
            bar.advance(1, loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}",
                        samples_s=f"{n_seen / (time.perf_counter() - t0):.0f}")
    model.eval()
    k = max(1, len(losses) // 10)
    return {"steps": steps, "batch_size": cfg.batch_size, "samples": n_seen, "seconds": round(time.perf_counter() - t0, 1),
            "loss_first": round(sum(losses[:k]) / k, 4), "loss_last": round(sum(losses[-k:]) / k, 4),
            "loss_curve": [round(sum(losses[i:i + k]) / len(losses[i:i + k]), 4) for i in range(0, len(losses), k)]}


def build(config: str | BaseConfig, verbose: bool = True, **overrides) -> tuple[Path, str]:
    """Build (or find in the cache) the base model for `config`: its directory and its hash."""
    from ablate.ui import console

    cfg = get_config(config, **overrides) if isinstance(config, str) else config.resolved()
    corpus = base_corpus(cfg)
    lm = pretrained_lm(cfg, verbose=verbose)
    key = build_key(cfg, corpus, lm)
    root = cache_root() / "base" / key
    if not (root / "manifest.json").exists():
        _train_into(cfg, corpus, key, root, verbose, lm)
    elif verbose:
        console.print(f"base {cfg.name}: cached at {root}")
    return root, key


def _train_into(cfg: BaseConfig, corpus: list[str], key: str, root: Path, verbose: bool, lm=None) -> None:
    import torch

    from ablate.base.data import stage1_sample, stage2_batch
    from ablate.base.evaluate import heldout_metrics
    from ablate.base.model import new_model, save_views
    from ablate.base.replay import write_replay
    from ablate.base.tokenizer import pretrained_tokenizer, train_tokenizer
    from ablate.ui import console

    t_start = time.perf_counter()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        if lm is not None:
            tokenizer = pretrained_tokenizer(lm.dir)
            model = new_model(cfg, tokenizer, lm.dir)
        else:
            tokenizer = train_tokenizer(corpus, cfg.vocab_size)
            model = new_model(cfg, tokenizer)
        curves = {"stage0_vision": pretrain_vision(model, cfg, verbose)}
        rng = random.Random(cfg.seed + 2)  # stages 1-2 draw from their own stream (stage 0 may come from the cache)
        if cfg.freeze_vision:
            model.model.vision_tower.requires_grad_(False)
        if cfg.freeze_lm:  # the pretrained LM stays as it is; only the projector learns to feed it
            model.model.language_model.requires_grad_(False)
            model.lm_head.requires_grad_(False)
        if cfg.align_steps:
            curves["stage1a_align"] = align_projector(model, tokenizer, cfg, rng, verbose)
        s = cfg.render_size
        stages = [("stage1_captions", "stage1 captions", cfg.stage1_steps,
                   lambda r: [stage1_sample(r, s, cfg.canonical_captions) for _ in range(cfg.batch_size)]),
                  ("stage2_instructions", "stage2 instructions", cfg.stage2_steps,
                   lambda r: stage2_batch(r, s, cfg.clip_frames, cfg.batch_size, layout=cfg.layout))]
        for stage, name, steps, make_batch in stages:
            if steps:
                curves[stage] = train_stage(model, tokenizer, cfg, name, steps, make_batch, rng, verbose)
        t_train = time.perf_counter() - t_start
        with atomic_dir(root) as tmp:
            sizes = save_views(model, tokenizer, cfg, tmp)
            write_replay(tmp / "replay.jsonl", cfg.replay_rows, cfg.seed)
            metrics = heldout_metrics(model, tokenizer, cfg, verbose=verbose)
            write_json(tmp / "manifest.json", {
                "hash": key, "config": cfg, "code": code_version(), "sizes": sizes, "curves": curves,
                "heldout": metrics, "train_seconds": round(t_train, 1),
                "build_seconds": round(time.perf_counter() - t_start, 1), "threads": cfg.threads,
                "precision": cfg.precision, "lm": {"name": cfg.lm, "hash": lm.hash, "source": lm.source} if lm else None,
            })
        if verbose:
            console.print(f"base {cfg.name}: built in {time.perf_counter() - t_start:.0f}s -> {root}")
    finally:
        torch.set_num_threads(threads_before)
