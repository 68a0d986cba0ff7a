"""Pretraining data of the base: answer formats covered, nothing temporal asked."""

from __future__ import annotations

import random
import re

from ablate.base.data import EACH_PROMPTS, stage1_sample, stage2_batch, stage2_sample

TEMPORAL = re.compile(r"\b(before|after|first|last|then|later|earlier|change[sd]?|becomes?|begin\w*|end|"
                      r"start|finish|order|sequence|happen\w*|move[sd]?|appear\w*|disappear\w*)\b", re.I)


def _samples(n=400):
    rng = random.Random(0)  # both video layouts: "Frame k:" lines (`micro`) and the T3 list layout (`smol`)
    return [stage2_sample(rng, 8, 8) for _ in range(n)] + [stage2_sample(rng, 8, 8, layout="slots") for _ in range(n)]


def test_no_temporal_questions():
    for s in _samples():
        question = s.user.replace("<image>", "")
        for p in EACH_PROMPTS:  # "describe each frame in order" lists frames; it asks nothing about time
            question = question.replace(p, "")
        assert not TEMPORAL.search(question), s.user


def test_answer_formats_and_balance():
    ss = _samples(800)
    tasks = {s.task for s in ss}
    assert {"caption", "describe_frame", "describe_each", "attr_open", "attr_mc_tc", "attr_mc_t3",
            "attr_yes_no", "caption_match"} <= tasks
    for s in ss:
        assert s.user.count("<image>") == len(s.images)
        if s.task == "attr_mc_tc":
            assert re.match(r"^[A-D]\. \S", s.answer) and "\nA. " in s.user and s.user.endswith("Please directly give the best option:")
            letter = s.answer[0]
            assert f"\n{letter}. {s.answer[3:]}\n" in s.user
        if s.task == "attr_mc_t3":
            assert re.match(r"^\([A-D]\) \S", s.answer) and f"\n{s.answer}\n" in s.user
        if s.task == "attr_yes_no":
            assert s.answer in ("yes", "no") and s.user.endswith("Please answer yes or no:")
        if s.task == "describe_each":
            assert s.answer.count("Frame ") == len(s.images)
    yn = [s.answer for s in ss if s.task == "attr_yes_no"]
    assert 0.35 < yn.count("yes") / len(yn) < 0.65
    letters = [s.answer[0] for s in ss if s.task == "attr_mc_tc"] + [s.answer[1] for s in ss if s.task == "attr_mc_t3"]
    assert len(set(letters)) == 4


def test_batches_are_homogeneous_and_captions_true():
    from ablate.base.evaluate import caption_scores
    from ablate.world.scene import sample_scene

    rng = random.Random(1)
    for _ in range(20):
        b = stage2_batch(rng, 8, 8, 8)
        assert len({s.task.split("_")[0] for s in b}) <= 2
        # one slot count per batch (slot lists mix frames and captions, so their image counts vary)
        assert len({s.user.count("\n<image>") if not s.task.startswith("slots") else 0 for s in b}) == 1
    # the caption metric accepts the world's own captions (it parses every paraphrase)
    from ablate.world.captions import caption, describe

    for i in range(200):
        scene = sample_scene(random.Random(i))
        assert all(caption_scores(describe(scene), scene).values()), describe(scene)
        scores = caption_scores(caption(scene, random.Random(i)), scene)
        assert scores["color"] and scores["shape"] and scores["position"], caption(scene, random.Random(i))
    assert stage1_sample(random.Random(0), 8).task == "caption"


def test_stage0_patch_labels_follow_pixels():
    """Each object's colour/shape/size label sits in the patch holding its centre; empty patches are 0."""
    from ablate.base.data import patch_labels, stage0_batch
    from ablate.world.scene import COLOR_NAMES, POSITIONS, Obj, Scene

    scene = Scene(objects=(Obj("star", "blue", "large", "top right"), Obj("circle", "red", "small", "bottom left", dx=0.4)),
                  lighting="dim")
    lab, light = patch_labels(scene, 64, 3)
    assert light == 0 and lab.shape == (3, 9)
    assert COLOR_NAMES[lab[0, POSITIONS.index("top right")] - 1] == "blue"
    assert COLOR_NAMES[lab[0, POSITIONS.index("bottom left")] - 1] == "red"  # shifted, but its centre stays in the cell
    assert (lab[:, [i for i, p in enumerate(POSITIONS) if p not in ("top right", "bottom left")]] == 0).all()
    images, labels, lights = stage0_batch(random.Random(0), 64, 3, 16)
    assert images.shape == (16, 64, 64, 3) and labels.shape == (16, 3, 9) and lights.shape == (16,)
    assert (labels[:, 0] > 0).sum(1).min() >= 1  # every image has at least one object


def test_frame_questions_name_one_frame():
    rng = random.Random(3)
    ss = [stage2_sample(rng, 8, 8, task="frame_question") for _ in range(60)]
    for s in ss:
        assert s.task.startswith("frame_") and s.user.startswith("Frame 1: <image>\n")
        k = int(re.search(r"frame (\d+)", s.user.split("\n", len(s.images))[-1]).group(1))
        assert 1 <= k <= len(s.images)
    assert {s.task for s in ss} >= {"frame_attr_yes_no", "frame_caption_match"}


def test_stage1_captions_name_objects_in_reading_order():
    from ablate.world.captions import caption
    from ablate.world.scene import POSITIONS, sample_scene

    checked = 0
    for i in range(200):
        scene = sample_scene(random.Random(i), n_objects=3)
        if len({o.color for o in scene.objects}) < 3:
            continue
        text = caption(scene, random.Random(i), grid_order=True)
        by_grid = sorted(scene.objects, key=lambda o: POSITIONS.index(o.position))
        assert [text.index(f" {o.color}") for o in by_grid] == sorted(text.index(f" {o.color}") for o in by_grid), text
        checked += 1
    assert checked > 50
