"""Slot lists (ablate.base.slots): frames, captions or both under one layout; answers true by construction."""

from __future__ import annotations

import random

from ablate.base.prompts import IMAGE_TOKEN, video_user_text
from ablate.base.slots import slot_question, slot_sample


def test_slot_counts_and_images_agree():
    rng = random.Random(0)
    for share in (0.0, 0.5, 1.0, None):
        for _ in range(30):
            s = slot_sample(rng, size=8, frame_share=share)
            assert s.user.count(IMAGE_TOKEN) == len(s.images)
            if share == 0.0:
                assert len(s.images) == 0
            if share == 1.0:
                assert len(s.images) >= 3


def test_video_prompt_has_the_slot_list_layout():
    assert video_user_text(2, "Q?") == "Frame 1: <image>\nFrame 2: <image>\nQ?"  # the `micro` layout
    text = video_user_text(3, "Q?", layout="slots")
    lines = text.split("\n")
    assert lines[2] == "Frames:" and lines[3:6] == [IMAGE_TOKEN] * 3 and lines[-1] == "Q?"


def test_answers_are_true_by_construction():
    from ablate.world.clips import sample_clip

    rng = random.Random(1)
    for _ in range(300):
        scenes = sample_clip(rng, 6)
        q, answer, task = slot_question(rng, scenes)
        present = {(o.color, o.shape) for s in scenes for o in s.objects}
        if task in ("slots_present", "slots_absent"):
            opt = answer.split(" ", 1)[1]
            named = [(c, sh) for c, sh in present if c in opt.split() and sh in opt.replace(",", " ").split()]
            assert bool(named) == (task == "slots_present"), (q, answer)
        if task == "slots_count":
            assert answer.split(" ", 1)[1] in ("zero", "one", "two", "three", "four", "five", "six")
        if task != "slots_describe_k":
            assert answer.startswith(("A.", "B.", "C.", "D.", "(A)", "(B)", "(C)", "(D)", "Caption", "yes", "no"))
