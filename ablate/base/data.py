"""Pretraining data for the embedded base, generated on the fly from the world's scene/render/caption APIs.

    >>> import random
    >>> from ablate.base.data import stage1_sample
    >>> s = stage1_sample(random.Random(0), size=64)
    >>> s.images.shape, s.user.startswith("<image>")
    ((1, 64, 64, 3), True)

Stage 0 pretrains the vision tower alone: `stage0_batch` gives rendered images with per-patch labels
(the colour, shape and size of the object whose centre lies in the patch, and the lighting), the
structured stand-in for the contrastive image-text pretraining that gives LLaVA its CLIP tower.

A sample is (user text with one `<image>` per frame, assistant answer, frames). Stage 1 is single-image
captioning (LLaVA's caption pretraining analogue, with the world's varied captions, objects named in
reading order). Stage 2 teaches
non-temporal instructions: describe frame k, describe each frame in order, and single-image attribute
questions in every answer format the benchmarks use (open answer, TempCompass "A." options, T3 "(A)"
options, yes/no, caption matching), about a single image or about frame k of a clip. Nothing here asks about order, change, before/after or
beginning/end: that is what T3 text data must teach.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ablate.base.prompts import IMAGE_TOKEN, video_user_text

CAPTION_PROMPTS = (
    "Describe the image.", "Write a short caption for this image.", "What does the image show?",
    "Describe this picture briefly.", "Provide a caption for the image.",
)
FRAME_PROMPTS = ("Describe frame {k}.", "What is shown in frame {k}?", "Describe what frame {k} shows.")
EACH_PROMPTS = ("Describe each frame in order.", "Describe every frame of the video, one per line.")
TC_MC_CLOSE = "Please directly give the best option:"
TC_YN_CLOSE = "Please answer yes or no:"
T3_CLOSES = ("Only give the best option:", "Please directly give the best option:", "Answer with the option's letter from the given choices directly.")
LETTERS = "ABCD"


@dataclass(frozen=True)
class Sample:
    user: str
    answer: str
    images: np.ndarray  # uint8 [n_images, S, S, 3], one per <image> in `user`
    task: str


def patch_labels(scene, render_size: int, grid: int) -> tuple[np.ndarray, int]:
    """int64 [3, grid*grid] (colour, shape, size; 0 = no object centre in the patch) and the lighting index."""
    from ablate.world.render import object_geometry
    from ablate.world.scene import COLOR_NAMES, LIGHTING, SHAPES, SIZES

    lab = np.zeros((3, grid * grid), np.int64)
    for o in scene.objects:
        cx, cy, _ = object_geometry(o, render_size)
        col = min(grid - 1, max(0, int(cx * grid / render_size)))
        row = min(grid - 1, max(0, int(cy * grid / render_size)))
        i = row * grid + col
        lab[:, i] = (1 + COLOR_NAMES.index(o.color), 1 + SHAPES.index(o.shape), 1 + SIZES.index(o.size))
    return lab, LIGHTING.index(scene.lighting)


def stage0_batch(rng: random.Random, size: int, grid: int, n: int):
    """(uint8 images [n,S,S,3], labels [n,3,grid*grid], lighting [n]): half still scenes, half video frames."""
    from ablate.world.render import render
    from ablate.world.scene import sample_scene

    scenes = [sample_scene(rng) if rng.random() < 0.5 else rng.choice(_clip(rng, 8)) for _ in range(n)]
    labels = [patch_labels(sc, size, grid) for sc in scenes]
    return (np.stack([render(sc, size) for sc in scenes]), np.stack([lab for lab, _ in labels]),
            np.array([light for _, light in labels], np.int64))


def stage1_sample(rng: random.Random, size: int, canonical: bool = False) -> Sample:
    """One captioned image: a varied caption in grid order, or (`canonical`) the one short description the
    bench's text twin uses for a frame (`describe`), so a frame comes to mean what its caption line says."""
    from ablate.world.captions import caption, describe
    from ablate.world.render import render
    from ablate.world.scene import sample_scene

    scene = sample_scene(rng)
    prompt = rng.choice(CAPTION_PROMPTS)
    return Sample(IMAGE_TOKEN + "\n" + prompt, describe(scene) if canonical else caption(scene, rng, grid_order=True),
                  render(scene, size)[None], "caption")


def describe_each_answer(scenes) -> str:
    from ablate.world.captions import describe

    return "\n".join(f"Frame {i + 1}: {describe(s)}" for i, s in enumerate(scenes))


def _clip(rng: random.Random, frames: int):
    from ablate.world.clips import sample_clip

    return sample_clip(rng, frames)


def _describe_frame(rng, size, n, layout="frame_k"):
    from ablate.world.captions import describe
    from ablate.world.render import render_clip

    scenes = _clip(rng, n)
    k = rng.randint(1, n)
    q = rng.choice(FRAME_PROMPTS).format(k=k)
    return Sample(video_user_text(n, q, layout), describe(scenes[k - 1]), render_clip(scenes, size), "describe_frame")


def _describe_each(rng, size, n, layout="frame_k"):
    from ablate.world.render import render_clip

    scenes = _clip(rng, n)
    return Sample(video_user_text(n, rng.choice(EACH_PROMPTS), layout), describe_each_answer(scenes), render_clip(scenes, size),
                  "describe_each")


def _attribute_qa(rng: random.Random, scene) -> tuple[str, str, list[str]]:
    """(question, correct value, distractor values) about one object or the lighting of one image."""
    from ablate.world.scene import COLOR_NAMES, LIGHTING, POSITIONS, SHAPES, SIZES

    objs = list(scene.objects)
    o = rng.choice(objs) if objs else None
    kind = rng.choice(("color", "shape", "position", "size", "light", "count")) if o else "light"
    if kind == "color":
        return f"What color is the {o.shape} at the {o.position}?", o.color, [c for c in COLOR_NAMES if c != o.color]
    if kind == "shape":
        return f"What shape is the {o.color} object at the {o.position}?", o.shape, [s for s in SHAPES if s != o.shape]
    if kind == "position":
        return f"Where is the {o.color} {o.shape}?", o.position, [p for p in POSITIONS if p != o.position]
    if kind == "size":
        return f"What size is the {o.color} {o.shape}?", o.size, [s for s in SIZES if s != o.size]
    if kind == "count":
        words = ["one", "two", "three", "four"]
        return "How many objects are in the image?", words[len(objs) - 1], [w for w in words if w != words[len(objs) - 1]]
    return "Is the scene dimly lit or brightly lit?", scene.lighting, [x for x in LIGHTING if x != scene.lighting]


def _yes_no(rng: random.Random, scene) -> tuple[str, bool]:
    """A balanced yes/no question about one image."""
    from ablate.world.scene import COLOR_NAMES, POSITIONS, SHAPES, SIZES

    yes = rng.random() < 0.5
    objs = list(scene.objects)
    kind = rng.choice(("exists", "color", "position", "size", "light", "statement")) if objs else "light"
    if kind == "statement":  # TempCompass's yes/no wording, about what one image shows
        return f"Is the following statement about the image true? {_statement(rng, scene, yes)}", yes
    if kind == "light":
        light = scene.lighting if yes else ("bright" if scene.lighting == "dim" else "dim")
        return f"Is the scene {light}ly lit?", yes
    o = rng.choice(objs)
    if kind == "exists":
        if yes:
            return f"Is there a {o.color} {o.shape} in the image?", True
        present = {(x.color, x.shape) for x in objs}
        color, shape = rng.choice([(c, s) for c in COLOR_NAMES for s in SHAPES if (c, s) not in present])
        return f"Is there a {color} {shape} in the image?", False
    if kind == "color":
        color = o.color if yes else rng.choice([c for c in COLOR_NAMES if c != o.color])
        return f"Is the {o.shape} at the {o.position} {color}?", yes
    if kind == "size":
        size = o.size if yes else [s for s in SIZES if s != o.size][0]
        return f"Is the {o.color} {o.shape} {size}?", yes
    pos = o.position if yes else rng.choice([p for p in POSITIONS if p != o.position])
    return f"Is the {o.color} {o.shape} at the {pos}?", yes


def _statement(rng: random.Random, scene, true: bool) -> str:
    """A short sentence about one object of the scene ("The red star is at the top left."), true or not."""
    from ablate.world.scene import COLOR_NAMES, POSITIONS, SIZES

    o = rng.choice(list(scene.objects))
    kind = rng.choice(("position", "color", "size"))
    if kind == "position":
        pos = o.position if true else rng.choice([p for p in POSITIONS if p != o.position])
        return f"The {o.color} {o.shape} is at the {pos}."
    if kind == "color":
        color = o.color if true else rng.choice([c for c in COLOR_NAMES if c != o.color])
        return f"The {o.shape} at the {o.position} is {color}."
    size = o.size if true else rng.choice([x for x in SIZES if x != o.size])
    return f"The {o.color} {o.shape} is {size}."


def _question(rng: random.Random, scene, other) -> tuple[str, str, str]:
    """(question text, answer, task) about one scene, in one of the benchmarks' answer formats."""
    from ablate.world.captions import describe

    fmt = rng.choice(("open", "tc_mc", "t3_mc", "yes_no", "yes_no", "caption_match"))
    if fmt == "caption_match":  # a full description vs another scene's, or two short statements
        if scene.objects and rng.random() < 0.5:
            right, wrong = _statement(rng, scene, True), _statement(rng, scene, False)
        else:
            right, wrong = describe(scene), describe(other)
        lines = [right, wrong]
        rng.shuffle(lines)
        label = rng.choice(("Caption", "Sentence", "Option"))
        tags = ["A", "B"] if label != "Option" else ["1", "2"]
        opts = [f"{label} {t}: {line}" for t, line in zip(tags, lines)]
        q = rng.choice(("Which caption matches the image?", "Which caption matches the image best?")) + "\n" + "\n".join(opts) + "\n" + TC_MC_CLOSE
        return q, opts[lines.index(right)], "caption_match"
    question, right, wrong = _attribute_qa(rng, scene)
    if fmt == "open":
        return question, right, "attr_open"
    if fmt == "yes_no":
        q, yes = _yes_no(rng, scene)
        return q + "\n" + TC_YN_CLOSE, "yes" if yes else "no", "attr_yes_no"
    opts = [right] + rng.sample(wrong, min(len(wrong), rng.choice((1, 2, 3))))
    rng.shuffle(opts)
    letter = LETTERS[opts.index(right)]
    if fmt == "tc_mc":
        q = question + "\n" + "\n".join(f"{LETTERS[i]}. {x}" for i, x in enumerate(opts)) + "\n" + TC_MC_CLOSE
        return q, f"{letter}. {right}", "attr_mc_tc"
    q = f"Question: {question}\n" + "\n".join(f"({LETTERS[i]}) {x}" for i, x in enumerate(opts)) + "\n" + rng.choice(T3_CLOSES)
    return q, f"({letter}) {right}", "attr_mc_t3"


def _single_image_question(rng, size):
    from ablate.world.render import render
    from ablate.world.scene import sample_scene

    scene = sample_scene(rng)
    q, answer, task = _question(rng, scene, sample_scene(rng))
    return Sample(IMAGE_TOKEN + "\n" + q, answer, render(scene, size)[None], task)


def _frame_question(rng, size, n, layout="frame_k"):
    """A question about frame k of a clip (what is in one frame, never how frames relate in time)."""
    from ablate.world.render import render_clip
    from ablate.world.scene import sample_scene

    scenes = _clip(rng, n)
    k = rng.randint(1, n)
    q, answer, task = _question(rng, scenes[k - 1], sample_scene(rng))
    q = q.replace("the image", f"frame {k}") if "the image" in q else f"In frame {k}: {q}"
    return Sample(video_user_text(n, q, layout), answer, render_clip(scenes, size), "frame_" + task)


STAGE2_TASKS = {"caption": 0.15, "describe_frame": 0.2, "describe_each": 0.25, "question": 0.2, "frame_question": 0.2}
_CLIP_TASKS = {"describe_frame": _describe_frame, "describe_each": _describe_each, "frame_question": _frame_question}


def stage2_sample(rng: random.Random, size: int, max_frames: int = 8, task: str | None = None,
                  n_frames: int | None = None, layout: str = "frame_k") -> Sample:
    """One stage-2 sample of `task` (drawn by the STAGE2_TASKS weights when None) with n_frames frames."""
    if task is None:
        task = rng.choices(list(STAGE2_TASKS), weights=list(STAGE2_TASKS.values()))[0]
    if task == "caption":
        return stage1_sample(rng, size)
    if task == "question":
        return _single_image_question(rng, size)
    n = n_frames or (max_frames if rng.random() < 0.6 else rng.randint(3, max_frames))
    return _CLIP_TASKS[task](rng, size, n, layout)


def stage2_batch(rng: random.Random, size: int, max_frames: int, batch_size: int, layout: str = "frame_k") -> list[Sample]:
    """A batch of one task and one frame count, so padding stays small; clip batches are halved."""
    task = rng.choices(list(STAGE2_TASKS), weights=list(STAGE2_TASKS.values()))[0]
    n = max_frames if rng.random() < 0.6 else rng.randint(3, max_frames)
    bs = batch_size if task in ("caption", "question") else max(1, batch_size // 2)
    return [stage2_sample(rng, size, max_frames, task, n, layout) for _ in range(bs)]


def tokenizer_corpus(rng: random.Random, n_captions: int, max_frames: int = 8, layout: str = "frame_k") -> list[str]:
    """Texts the tokenizer is trained on: captions, stage-2 data, T3 / world / TempCompass vocabulary."""
    import ast
    from pathlib import Path

    from ablate.world.captions import caption, describe
    from ablate.world.scene import sample_scene

    texts: list[str] = []
    for _ in range(n_captions):
        scene = sample_scene(rng)
        texts += [caption(scene, rng), describe(scene)]
    for _ in range(max(20, n_captions // 20)):
        s = stage2_sample(rng, 8, max_frames, layout=layout)  # tiny renders: only the text is used
        texts += [s.user.replace(IMAGE_TOKEN, ""), s.answer]
    # every string literal of the T3 synthesiser and the world (templates, question phrasings, lexicons)
    import ablate.world.scene
    import t3.layout

    world = Path(ablate.world.scene.__file__).parent
    sources = sorted(Path(t3.layout.__file__).parent.glob("*.py")) + [world / f for f in ("scene.py", "captions.py", "clips.py")]
    for f in sources:
        if f.exists():
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and not node.value.startswith("\n    "):
                    texts += [node.value] * 5
    texts += ["system user assistant"] * 50
    texts += [f"({c}) {c}. {c}) Caption {c}: Sentence {c}: Option {i}: {i}" for i, c in enumerate("ABCDEFGHIJ", 1)] * 50
    texts += [" ".join(str(i) for i in range(0, 101))] * 20
    texts += [f"{TC_MC_CLOSE} {TC_YN_CLOSE} yes no Yes No"] * 50
    return texts
