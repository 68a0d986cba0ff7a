"""Each family's marked answer is right by construction: re-derived here from the frame captions alone.

The checks read a generated Parquet row (captions in temporal order, question, options, answer) and
recompute the answer with t3.pool.key_phrase and the lexicons, without looking at generator state.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

import t3
from t3 import lexicon
from t3.layout import LETTERS, text_video_prompt
from t3.paraphrase import CLOSINGS, INTROS
from t3.pool import key_phrase

SEG = {"at the beginning": 0, "in the middle": 1, "at the end": 2}


def seg(t: int, n: int) -> int:
    return min(3 * t // n, 2)


def check_order(sub, caps, q, options, answer):
    phr = [key_phrase(c) for c in caps]

    def sequence(opt: str) -> list[str]:
        if sub == "phrase":
            return opt.split(", ")
        if sub == "sentence":
            m = re.fullmatch(r"First (.*), and finally (.*)\.", opt)
            return m.group(1).split(", then ") + [m.group(2)]
        items = dict(re.findall(r"\((\d)\) (.*?)(?= \(\d\) |$)", q.split(": ", 1)[1]))
        return [items[d] for d in re.findall(r"\((\d)\)", opt)]

    def in_order(opt: str) -> bool:
        pos = [phr.index(p) for p in sequence(opt)]
        return pos == sorted(pos)

    assert [o for o in options if in_order(o)] == [options[LETTERS.index(answer)]]


def check_attribute(sub, caps, q, options, answer):
    right = options[LETTERS.index(answer)]
    first, last = caps[0], caps[-1]
    # frames: the first caption up to a change point, its edit afterwards
    cut = next((i for i, c in enumerate(caps) if c != first), len(caps))
    assert all(c == first for c in caps[:cut]) and all(c == last for c in caps[cut:])
    if first == last:
        assert sub == "direction" and right == "it remains unchanged"
        return
    a, b = lexicon.find_attributes(first), lexicon.find_attributes(last)
    diff = [(x, y) for x, y in zip(a, b) if x.text.lower() != y.text.lower()]
    assert len(a) == len(b) and len(diff) == 1
    x, y = diff[0]
    grp = lexicon.GROUPS[y.group]
    assert grp.noun in q
    if sub == "from_to":
        assert right == f"from {x.text.lower()} to {y.text.lower()}"
    else:
        xv = grp.forms[y.form].index(x.text.lower())
        assert right == (f"it becomes {grp.up}" if y.value > xv else f"it becomes {grp.down}")


def check_referring(sub, caps, q, options, answer):
    phr = [key_phrase(c) for c in caps]
    right = options[LETTERS.index(answer)]
    absent = [o for o in options if o not in phr]
    assert len(absent) == 1 and absent[0] != right  # exactly one distractor is absent from the video
    if sub == "segment":
        s = next(v for k, v in SEG.items() if k in q.lower())
        hits = [o for o in options if o in phr and seg(phr.index(o), len(phr)) == s]
        assert hits == [right]
    else:
        rel, anchor = re.search(r"(after|before) (.*?)(?: in the video)?\?$", q).groups()
        a = phr.index(anchor)
        assert phr.index(right) == (a + 1 if rel == "after" else a - 1)


def check_grounding(sub, caps, q, options, answer):
    phr = [key_phrase(c) for c in caps]
    right = options[LETTERS.index(answer)]
    target = [p for p in phr if p in q or p[0].upper() + p[1:] in q]
    t = phr.index(max(target, key=len))
    if sub == "segment":
        assert SEG[right] == seg(t, len(phr))
    else:
        assert right == f"frame {t + 1}"


CHECKS = {"order": check_order, "attribute": check_attribute, "referring": check_referring,
          "grounding": check_grounding}


@pytest.fixture(scope="module", params=[(4, 1), (3, 2)], ids=["4x1", "3x2"])
def synth_rows(request, t3_world_corpus, tmp_path_factory):
    frames, scale = request.param
    out = tmp_path_factory.mktemp("fam") / "out"
    spec = t3.SynthSpec(n=480, probe_n=120, frames=frames, length_scale=scale, seed=3)
    t3.synthesize(t3_world_corpus, out, spec)
    return pl.concat([pl.read_parquet(out / "train.parquet"), pl.read_parquet(out / "probe.parquet")]), spec


def test_every_answer_is_right_by_construction(synth_rows):
    df, spec = synth_rows
    seen = set()
    for r in df.iter_rows(named=True):
        user, asst = r["messages"]
        assert (user["role"], asst["role"]) == ("user", "assistant")
        opts, caps = r["options"], r["captions"]
        assert len(caps) == r["n_frames"] == spec.n_frames
        assert len(set(opts)) == len(opts) >= 3, opts  # options are unique
        assert asst["content"] == f"({r['answer']}) {opts[LETTERS.index(r['answer'])]}"
        q = user["content"].split("\nQuestion: ", 1)[1].split("\n(A) ", 1)[0]
        # the prompt is exactly the shared layout with one of the paraphrases
        assert any(user["content"] == text_video_prompt(caps, q, opts, i, c) for i in INTROS for c in CLOSINGS)
        CHECKS[r["task"]](r["subtask"], caps, q, opts, r["answer"])
        seen.add((r["task"], r["subtask"]))
    assert seen == {(f, s) for f, fam in t3.FAMILIES.items() for s in fam.subtasks}


def test_world_captions_attribute_groups_are_found():
    cap = "The image shows a large red circle in the top left corner of a dimly lit room."
    assert [(lexicon.GROUPS[m.group].name, m.text) for m in lexicon.find_attributes(cap)] == [
        ("size", "large"), ("colour", "red"), ("shape", "circle"), ("position", "top left"), ("lighting", "dimly lit")]
    m = lexicon.find_attributes(cap)[-1]
    assert lexicon.edit(cap, m, 2).endswith("a brightly lit room.")
    assert [lexicon.GROUPS[m.group].name for m in lexicon.find_attributes("The door was turned on and left open.")] \
        == ["power", "openness"]
    assert key_phrase(cap) == "a large red circle"


def test_checks_reject_a_wrong_answer(synth_rows):
    """The checks above can fail: moving the answer to another letter breaks every family's check."""
    df, _ = synth_rows
    failed = set()
    for r in df.iter_rows(named=True):
        q = r["messages"][0]["content"].split("\nQuestion: ", 1)[1].split("\n(A) ", 1)[0]
        wrong = LETTERS[(LETTERS.index(r["answer"]) + 1) % len(r["options"])]
        try:
            CHECKS[r["task"]](r["subtask"], r["captions"], q, r["options"], wrong)
        except (AssertionError, ValueError, StopIteration, KeyError, AttributeError):
            failed.add(r["task"])
        else:
            raise AssertionError(f"check accepted a wrong answer: {r['id']}")
    assert failed == set(CHECKS)


@pytest.mark.parametrize(
    ("caption", "found"),
    [
        ("A big pink cross on the middle left against a dim backdrop.",
         [("size", "big"), ("colour", "pink"), ("shape", "cross"), ("position", "middle left"),
          ("lighting", "dim backdrop")]),
        ("In this light image, there is a tiny cyan star at the top center.",
         [("lighting", "light image"), ("size", "tiny"), ("colour", "cyan"), ("shape", "star"),
          ("position", "top center")]),
        ("The room is light.", [("lighting", "is light")]),
        ("A loose-fitting polo on a snowy evening, the jar is half-full.",
         [("fit", "loose-fitting"), ("weather", "snowy"), ("time", "evening"), ("fullness", "half-full")]),
        ("A traffic light and a lightbulb.", []),
    ],
)
def test_lexicon_covers_world_and_generic_phrasings(caption, found):
    assert [(lexicon.GROUPS[m.group].name, m.text) for m in lexicon.find_attributes(caption)] == found
