"""Pretraining data of the base: answer formats covered, nothing temporal asked."""

from __future__ import annotations

import random
import re

from ablate.base.data import EACH_PROMPTS, stage1_sample, stage2_batch, stage2_sample

TEMPORAL = re.compile(r"\b(before|after|first|last|then|later|earlier|change[sd]?|becomes?|begin\w*|end|"
                      r"start|finish|order|sequence|happen\w*|move[sd]?|appear\w*|disappear\w*)\b", re.I)


def _samples(n=400):
    rng = random.Random(0)
    return [stage2_sample(rng, 8, 8) for _ in range(n)]


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
        assert len({s.task.split("_")[0] for s in b}) <= 2 and len({len(s.images) for s in b}) == 1
    # the caption metric accepts the world's own captions (it parses every paraphrase)
    from ablate.world.captions import caption, describe

    for i in range(200):
        scene = sample_scene(random.Random(i))
        assert all(caption_scores(describe(scene), scene).values()), describe(scene)
        scores = caption_scores(caption(scene, random.Random(i)), scene)
        assert scores["color"] and scores["shape"] and scores["position"], caption(scene, random.Random(i))
    assert stage1_sample(random.Random(0), 8).task == "caption"
