"""World builds: output tree, LLaVA caption files, determinism, the cache, CLI errors, mp4 fidelity."""

from __future__ import annotations

import argparse
import json
import random

import pytest
from fixtures_world import MICRO_WORLD, perceive

from ablate.core import UserError, tree_hash


def test_output_tree(micro_world):
    m = json.loads((micro_world / "manifest.json").read_text())
    assert m["params"]["images"] == MICRO_WORLD["images"] and m["content_hash"]
    caps = json.loads((micro_world / "captions" / "captions.json").read_text())
    held = json.loads((micro_world / "captions" / "heldout.json").read_text())
    assert len(caps) + len(held) == MICRO_WORLD["images"] and len(held) == m["captions"]["heldout"] >= 1
    assert not {c["id"] for c in caps} & {c["id"] for c in held}
    scenes = {r["id"]: r["scene"] for r in map(json.loads, (micro_world / "captions" / "scenes.jsonl").read_text().splitlines())}
    for rec in caps + held:
        assert set(rec) == {"id", "image", "conversations"}
        human, gpt = rec["conversations"]
        assert human == {"from": "human", "value": "<image>\nDescribe the image."} and gpt["from"] == "gpt"
        assert (micro_world / "captions" / rec["image"]).is_file() and rec["id"] in scenes
    b = m["bench"]
    assert b["videos"] == MICRO_WORLD["videos"] and b["questions"] == 4 * MICRO_WORLD["videos"]
    assert b["task"] == {"multi-choice": 28, "yes_no": 56, "caption_matching": 28}
    assert len(list((micro_world / "bench" / "videos").glob("*.mp4"))) == MICRO_WORLD["videos"]


def test_png_captions_true_to_pixels(micro_world):
    import numpy as np
    from PIL import Image
    from test_world_scene import parse_caption

    for rec in json.loads((micro_world / "captions" / "captions.json").read_text())[:25]:
        img = np.asarray(Image.open(micro_world / "captions" / rec["image"]).convert("RGB"))
        seen = perceive(img)["objects"]
        named = parse_caption(rec["conversations"][1]["value"])
        assert {p: (o["color"], o["shape"], o["size"]) for p, o in named.items()} == \
            {p: (o["color"], o["shape"], o["size"]) for p, o in seen.items()}


def test_deterministic(tmp_path, micro_world):
    from ablate.world import build_world

    a = build_world(tmp_path / "a", **MICRO_WORLD, workers=1, show=False)
    b = build_world(tmp_path / "b", **MICRO_WORLD, workers=2, show=False)
    assert a["content_hash"] == b["content_hash"] == json.loads((micro_world / "manifest.json").read_text())["content_hash"]
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")
    c = build_world(tmp_path / "c", **{**MICRO_WORLD, "seed": 1}, workers=1, show=False)
    assert c["content_hash"] != a["content_hash"]


def test_default_world_is_cached(monkeypatch, tmp_path):
    from ablate.world import build
    from ablate.world.build import default_world

    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path))
    small = {"images": 10, "videos": 4}
    root = default_world(**small)
    assert root.parent == tmp_path / "world" and (root / "manifest.json").exists()
    calls = []
    monkeypatch.setattr(build, "build_world", lambda *a, **k: calls.append(1))
    assert default_world(**small) == root and calls == []


@pytest.mark.parametrize("bad", [["--videos", "5"], ["--frames", "2"], ["--images", "0"], ["--size", "7"]])
def test_cli_user_errors(tmp_path, bad):
    from ablate.world import add_cli

    p = argparse.ArgumentParser()
    add_cli(p.add_subparsers())
    args = p.parse_args(["world", "--out", str(tmp_path / "w"), *bad])
    with pytest.raises(UserError):
        args.func(args)
    assert not (tmp_path / "w").exists()


def test_cli_builds_and_refuses_existing(tmp_path, capsys):
    from ablate.world import add_cli

    p = argparse.ArgumentParser()
    add_cli(p.add_subparsers())
    args = p.parse_args(["world", "--out", str(tmp_path / "w"), "--images", "8", "--videos", "4", "--frames", "6"])
    assert args.func(args) == 0
    assert "content_hash" in capsys.readouterr().out
    with pytest.raises(UserError):
        args.func(args)


def test_static_scenes_survive_mp4(tmp_path):
    """Colours, shapes and sizes are still recoverable after mp4v compression at 64 px."""
    import decord

    from ablate.world.bench import write_video
    from ablate.world.render import render
    from ablate.world.scene import sample_scene

    scenes = [sample_scene(random.Random(i)) for i in range(40)]
    write_video(tmp_path / "s.mp4", [render(s, 64) for s in scenes])
    vr = decord.VideoReader(str(tmp_path / "s.mp4"))
    frames = vr.get_batch(list(range(len(vr)))).asnumpy()
    assert len(frames) == 40
    for img, s in zip(frames, scenes):
        seen = perceive(img)
        assert seen["lighting"] == s.lighting
        assert {p: (o["color"], o["shape"], o["size"]) for p, o in seen["objects"].items()} == \
            {o.position: (o.color, o.shape, o.size) for o in s.objects}
