"""Caption corpus readers on tiny fixture files in the real formats (tests/data/t3/)."""

from __future__ import annotations

import shutil

import pytest

from ablate.core import UserError
from fixtures_t3 import T3_DATA
from t3.corpus import clean, detect_format, read_captions


def test_llava_pretrain_first_gpt_turn_by_role_and_drop_counts():
    c = read_captions(T3_DATA / "llava_pretrain.json")
    assert c.format == "llava"
    # first sentence only; gpt turn found by role even when it comes first; whitespace collapsed
    assert c.captions == ["A red bicycle leaning on a wall in the evening.", "the divine child jesus with mary and joseph",
                          "A dimly lit kitchen with an open window."]
    assert c.dropped == {"missing": 1, "empty": 1, "too_long": 0, "duplicate": 1}
    assert c.n_records == 6


def test_full_captions_and_max_chars():
    c = read_captions(T3_DATA / "llava_pretrain.json", first_sentence=False, max_chars=45)
    assert "A red bicycle leaning on a wall in the evening. The wall is old." not in c.captions
    assert c.dropped["too_long"] == 1


def test_sharegpt4v():
    c = read_captions(T3_DATA / "sharegpt4v.json", format="sharegpt4v")
    assert c.captions == ["The image shows a large blue lunch box filled with food.",
                          "This image captures a snowy mountain village at dawn."]
    assert read_captions(T3_DATA / "sharegpt4v.json").captions == c.captions  # auto detects it too


def test_coco_captions():
    c = read_captions(T3_DATA / "coco_captions.json")
    assert c.format == "coco"
    assert c.captions[:2] == ["A black Honda motorcycle parked in front of a garage.",
                              "A Honda Motorcycle parked in a grass driveway"]
    assert c.dropped["duplicate"] == 1 and c.dropped["empty"] == 1 and len(c.captions) == 3


def test_recap_parquet_conversations_column():
    c = read_captions(T3_DATA / "recap-train-00000-of-00026.parquet")
    assert c.format == "parquet"
    assert c.captions == [
        "The image shows a tiny white cottage beside a calm lake under an overcast sky.",
        "The image depicts a crowded market street in the afternoon.",
        "The image shows a brown horse standing in a wet field at sunset.",
    ]


def test_directory_of_shards(tmp_path):
    for k in range(2):
        shutil.copy(T3_DATA / "recap-train-00000-of-00026.parquet", tmp_path / f"train-{k:05d}-of-00002.parquet")
    c = read_captions(tmp_path)
    assert len(c.captions) == 3 and c.dropped["duplicate"] == 3 and len(c.files) == 2


def test_jsonl_and_csv_with_caption_field():
    j = read_captions(T3_DATA / "captions.jsonl")
    assert j.format == "jsonl" and j.captions[0] == "A yellow taxi on a rainy street at night."
    assert read_captions(T3_DATA / "captions.jsonl", "jsonl", caption_field="text").captions == j.captions
    c = read_captions(T3_DATA / "captions.csv", caption_field="caption")
    assert c.format == "csv" and c.captions == ["A closed door, painted green.", "A small boat on a foggy lake."]
    assert c.dropped["empty"] == 1


def test_detect_format():
    assert detect_format(T3_DATA / "llava_pretrain.json") == "llava"
    assert detect_format(T3_DATA / "coco_captions.json") == "coco"
    assert detect_format(T3_DATA / "captions.jsonl") == "jsonl"
    assert detect_format(T3_DATA / "captions.csv") == "csv"
    assert detect_format(T3_DATA / "recap-train-00000-of-00026.parquet") == "parquet"


def test_clean_first_sentence():
    assert clean("A man. He walks.") == "A man."
    assert clean("<image> Mr. Smith at 3.5 km. Then more.") == "Mr. Smith at 3.5 km."
    assert clean("no full stop here") == "no full stop here"


@pytest.mark.parametrize(
    ("name", "kwargs", "needle"),
    [
        ("bad.json", {}, "bad.json:3:"),  # file:line:col of the JSON error
        ("bad.jsonl", {}, "bad.jsonl:2: invalid JSON"),
        ("no_captions.json", {}, "no usable caption"),
        ("captions.csv", {"caption_field": "nope"}, "no column `nope`"),
        ("captions.jsonl", {"format": "tsv"}, "unknown corpus format `tsv`"),
        ("missing.json", {}, "missing.json: caption corpus not found"),
        ("coco_captions.json", {"format": "llava"}, "expected a JSON list"),
    ],
)
def test_errors_name_the_file(name, kwargs, needle):
    with pytest.raises(UserError, match=None) as e:
        read_captions(T3_DATA / name, **kwargs)
    assert needle in str(e.value)
    if name != "captions.jsonl":
        assert name in str(e.value)


def test_cli_error_exit_code_2_no_traceback(tmp_path, capsys):
    from ablate.cli import main

    assert main(["synth", str(T3_DATA / "bad.json"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.json:3" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_binary_garbage_is_a_user_error(tmp_path):
    bad = tmp_path / "garbage.json"
    bad.write_bytes(b"[\xff\xfe\x00\x81 not json")
    with pytest.raises(UserError, match="garbage.json"):
        read_captions(bad)
