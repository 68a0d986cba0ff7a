"""Build a world directory: captioned images (LLaVA pretrain format) and the TempCompass-style bench.

    ablate world --out /tmp/world --images 2000 --videos 60
    python -c "from ablate.world import default_world; print(default_world())"

`build_world` writes atomically (a temporary sibling renamed at the end) and is deterministic for a
seed: the same parameters give byte-identical files and the same `content_hash`. Rendering and
encoding run in 2 worker processes (the machine has 2 cores); PNGs use a low compression level
because writing them dominates the build time.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ablate.core import UserError, atomic_dir, cache_root, read_json, stable_hash, tree_hash, write_json

CODE_VERSION = "world-3"  # bump when rendering, captions or questions change: default_world rebuilds
DEFAULTS = {"images": 20000, "videos": 240, "frames": 8, "size": 64, "seed": 0}
HELDOUT_FRACTION = 0.05
PROMPT = "<image>\nDescribe the image."


def _image_job(job: tuple[str, dict, int]) -> None:
    from PIL import Image

    from ablate.world.render import render
    from ablate.world.scene import Scene

    path, scene, size = job
    Image.fromarray(render(Scene.from_dict(scene), size)).save(path, compress_level=1)


def _run_jobs(fn, jobs: list, name: str, workers: int, show: bool) -> None:
    from ablate.ui import progress

    with progress(name, total=len(jobs), enabled=show) as bar:
        if workers <= 1 or len(jobs) < 16:
            for j in jobs:
                fn(j)
                bar.advance(1)
            return
        import multiprocessing as mp

        # spawn, not fork: a caller (the base-model build) may hold torch/OpenMP threads, and forking a
        # threaded process can deadlock; spawning two workers costs well under a second.
        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(fn, jobs, chunksize=32):
                bar.advance(1)


def _llava(i: int, cap: str) -> dict[str, Any]:
    iid = f"{i:06d}"
    return {"id": iid, "image": f"images/{iid}.png",
            "conversations": [{"from": "human", "value": PROMPT}, {"from": "gpt", "value": cap}]}


def _write_captions(root: Path, images: int, size: int, seed: int, workers: int, show: bool) -> dict[str, int]:
    from ablate.world.captions import caption
    from ablate.world.scene import sample_scene

    cdir = root / "captions"
    (cdir / "images").mkdir(parents=True)
    records, jobs = [], []
    with open(cdir / "scenes.jsonl", "w", encoding="utf-8") as fh:
        for i in range(images):
            rng = random.Random(f"world-image-{seed}-{i}")
            scene = sample_scene(rng)
            rec = _llava(i, caption(scene, rng))
            records.append(rec)
            fh.write(json.dumps({"id": rec["id"], "scene": scene.to_dict()}, sort_keys=True) + "\n")
            jobs.append((str(cdir / rec["image"]), scene.to_dict(), size))
    n_held = max(1, round(images * HELDOUT_FRACTION)) if images > 1 else 0
    write_json(cdir / "captions.json", records[: images - n_held])
    write_json(cdir / "heldout.json", records[images - n_held:])
    _run_jobs(_image_job, jobs, "world images", workers, show)
    return {"images": images, "train": images - n_held, "heldout": n_held}


def build_world(out: str | Path, images: int = DEFAULTS["images"], videos: int = DEFAULTS["videos"],
                frames: int = DEFAULTS["frames"], size: int = DEFAULTS["size"], seed: int = DEFAULTS["seed"],
                workers: int = 2, overwrite: bool = False, show: bool = True) -> dict[str, Any]:
    """Write a world into `out` (atomically) and return its manifest."""
    from ablate.world.bench import plan_bench, render_video_job, write_bench_files

    if images < 1:
        raise UserError(f"--images must be >= 1, got {images}")
    if videos < 2 or videos % 2:
        raise UserError(f"--videos must be an even number >= 2 (each clip comes with its reversal), got {videos}")
    if frames < 3:
        raise UserError(f"--frames must be >= 3 (beginning, middle and end), got {frames}")
    if size < 32 or size % 2:
        raise UserError(f"--size must be an even number >= 32 pixels, got {size}")
    out = Path(out)
    if out.exists() and not overwrite:
        if (out / "manifest.json").exists():
            raise UserError(f"{out}: already holds a world (manifest.json); pick another --out or pass --overwrite")
        if not out.is_dir() or any(out.iterdir()):
            raise UserError(f"{out}: exists and is not an empty directory; pick another --out")
        out.rmdir()  # empty: atomic_dir renames the finished world into its place
    params = {"images": images, "videos": videos, "frames": frames, "size": size, "seed": seed, "code": CODE_VERSION}
    # overwrite=False: if a concurrent build of the same world finished first, ours is discarded.
    with atomic_dir(out, overwrite=overwrite) as tmp:
        cap_counts = _write_captions(tmp, images, size, seed, workers, show)
        items = plan_bench(videos, frames, seed)
        bench = tmp / "bench"
        (bench / "videos").mkdir(parents=True)
        counts = write_bench_files(items, bench)
        jobs = [(str(bench / "videos" / f"{it.video_id}.mp4"), [s.to_dict() for s in it.clip.frames], size) for it in items]
        _run_jobs(render_video_job, jobs, "world videos", workers, show)
        manifest = {"params": params, "captions": cap_counts, "bench": counts,
                    "seeds": {"images": f"world-image-{seed}-<i>", "bench": f"world-bench-{seed}-<pair>"},
                    "content_hash": tree_hash(tmp)}
        write_json(tmp / "manifest.json", manifest)
    return read_json(out / "manifest.json")


def world_key(**params) -> str:
    """Cache key of a world: its parameters and the code version."""
    return stable_hash({**DEFAULTS, **params, "code": CODE_VERSION})


def default_world(**params) -> Path:
    """The default world under cache_root()/world/<key>/, built on first use (a few ~minutes at most)."""
    root = cache_root() / "world" / world_key(**params)
    if not (root / "manifest.json").exists():
        build_world(root, **{**DEFAULTS, **params})
    return root


def add_cli(sub) -> None:
    p = sub.add_parser("world", help="build the embedded world: captioned images + TempCompass-format video bench",
                       description="Render the embedded world: captions/ (LLaVA pretrain format) and bench/ "
                       "(TempCompass layout, with reversal pairs and a text twin).")
    p.add_argument("--out", required=True, help="output directory (must not hold a world yet)")
    p.add_argument("--images", type=int, default=DEFAULTS["images"], help="captioned images (default %(default)s)")
    p.add_argument("--videos", type=int, default=DEFAULTS["videos"], help="bench videos, even: clip + reversal (default %(default)s)")
    p.add_argument("--frames", type=int, default=DEFAULTS["frames"], help="frames per video (default %(default)s)")
    p.add_argument("--size", type=int, default=DEFAULTS["size"], help="image side in pixels (default %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="render processes (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing world in --out")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    import time

    from ablate.ui import console

    t0 = time.perf_counter()
    m = build_world(args.out, images=args.images, videos=args.videos, frames=args.frames, size=args.size,
                    seed=args.seed, workers=args.workers, overwrite=args.overwrite)
    b = m["bench"]
    console.print(f"world -> {args.out}: {m['captions']['images']} images ({m['captions']['heldout']} held out), "
                  f"{b['videos']} videos, {b['questions']} questions "
                  f"({', '.join(f'{n} {t}' for t, n in b['task'].items())}); "
                  f"content_hash {m['content_hash']} in {time.perf_counter() - t0:.1f}s", highlight=False)
    return 0
