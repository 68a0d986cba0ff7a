"""Hostile caption corpora through `ablate synth` (and one through `ablate sweep`): each is refused with
exit status 2 and a message naming the file (and record or line where there is one), and no output
directory appears. Formats: LLaVA / ShareGPT4V JSON, COCO JSON, JSONL, Parquet (plain and ReCap
`conversations`), CSV.

    python -m pytest -q tests/hostile/test_hostile_corpora.py
"""

from __future__ import annotations

import gzip
import json

import pytest

from fixtures_t3 import world_captions

CAPS = world_captions()[:120]


def llava(caps=CAPS) -> bytes:
    return json.dumps([{"id": str(i), "image": f"{i}.jpg", "conversations": [
        {"from": "human", "value": "<image>\nDescribe the photo."}, {"from": "gpt", "value": c}]}
        for i, c in enumerate(caps)], indent=1).encode()


def coco(caps=CAPS) -> bytes:
    return json.dumps({"images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(len(caps))],
                       "annotations": [{"image_id": i, "id": i, "caption": c} for i, c in enumerate(caps)]},
                      indent=1).encode()


def jsonl(caps=CAPS) -> bytes:
    return "".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in enumerate(caps)).encode()


def csv(caps=CAPS) -> bytes:
    return ("id,caption\n" + "".join(f'{i},"{c}"\n' for i, c in enumerate(caps))).encode()


def parquet(caps=CAPS, recap=False) -> bytes:
    import io

    import polars as pl

    if recap:
        df = pl.DataFrame({"id": [str(i) for i in range(len(caps))],
                           "conversations": [[{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": c}]
                                             for c in caps]})
    else:
        df = pl.DataFrame({"id": list(range(len(caps))), "caption": caps})
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


FORMATS = {"llava.json": llava, "coco.json": coco, "c.jsonl": jsonl, "c.csv": csv, "c.parquet": parquet,
           "recap-00000-of-00026.parquet": lambda: parquet(recap=True)}


def synth(cli, path, tmp_path, *extra):
    out = tmp_path / "out"
    r = cli("synth", path, "--out", out, "--n", "24", "--probe-n", "4", "--quiet", *extra)
    if r.code != 0:
        assert not out.exists()  # nothing half-written
    return r


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_whole_synthesizes(cli, tmp_path, name):
    p = tmp_path / name
    p.write_bytes(FORMATS[name]())
    synth(cli, p, tmp_path).ok()


@pytest.mark.parametrize("name, needle", [
    ("llava.json", "invalid JSON"), ("coco.json", "invalid JSON"), ("c.jsonl", "invalid JSON"),
    ("c.csv", "cannot read as csv"), ("c.parquet", "cannot read as parquet"),
    ("recap-00000-of-00026.parquet", "cannot read as parquet"),
])
def test_every_format_truncated(cli, tmp_path, name, needle):
    data = FORMATS[name]()
    cut = data[: len(data) // 2]
    if name.endswith(".csv"):  # cut inside a quoted caption, as a broken copy would
        cut = data[: data.index(b',"', len(data) // 2) + 7]
    p = tmp_path / name
    p.write_bytes(cut)
    r = synth(cli, p, tmp_path).user_error(str(p), needle)
    if name.endswith("json") or name.endswith("jsonl"):
        assert f"{p}:" in r.err  # and the line


def test_llava_record_of_wrong_type(cli, tmp_path):
    recs = json.loads(llava())
    recs[7]["conversations"] = "A red circle."
    p = tmp_path / "llava.json"
    p.write_text(json.dumps(recs))
    synth(cli, p, tmp_path).user_error(f"{p}: record 7:", "`conversations` list")


def test_llava_t3_training_file_given_as_corpus(cli, tmp_path):
    p = tmp_path / "temp_qa_attribute_train.json"
    p.write_text(json.dumps([[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]]))
    synth(cli, p, tmp_path).user_error(f"{p}: record 0: a bare conversation list")


def test_coco_captions_not_strings(cli, tmp_path):
    p = tmp_path / "coco.json"
    p.write_text(json.dumps({"annotations": [{"image_id": i, "caption": i} for i in range(50)]}))
    synth(cli, p, tmp_path).user_error(str(p), "no usable caption among 50 records (missing 50)")


def test_jsonl_without_caption_field(cli, tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("".join(json.dumps({"id": i, "url": "x"}) + "\n" for i in range(20)))
    synth(cli, p, tmp_path).user_error(str(p), "no caption column found", "--caption-field")


def test_jsonl_line_not_an_object(cli, tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(jsonl() + b'["not", "an", "object"]\n')
    synth(cli, p, tmp_path).user_error(f"{p}:121:", "expected a JSON object per line")


def test_parquet_caption_column_of_numbers(cli, tmp_path):
    import polars as pl

    p = tmp_path / "c.parquet"
    pl.DataFrame({"caption": list(range(50))}).write_parquet(p)
    synth(cli, p, tmp_path).user_error(str(p), "column `caption` holds Int64, not caption text")


def test_too_few_captions_names_the_corpus(cli, tmp_path):  # issue #13, item 5
    p = tmp_path / "few.json"
    p.write_bytes(llava(CAPS[:3]))
    synth(cli, p, tmp_path).user_error(f"{p}: the", "split of the corpus has only", "distinct key phrases")


def test_duplicate_captions_only(cli, tmp_path):
    p = tmp_path / "dups.json"
    p.write_bytes(llava([CAPS[0]] * 200))
    r = synth(cli, p, tmp_path).user_error(f"{p}: the", "distinct key phrases")
    assert "Traceback" not in r.err


def test_no_attribute_words_names_the_corpus(cli, tmp_path):  # issue #13, item 5
    caps = [f"Object number {i} named thing{i} on display." for i in range(80)]
    p = tmp_path / "plain.json"
    p.write_bytes(llava(caps))
    synth(cli, p, tmp_path, "--mix", "attribute=1").user_error(f"{p}: the", "attribute")


def test_huge_captions_are_dropped_and_counted(cli, tmp_path):
    p = tmp_path / "huge.json"
    p.write_bytes(llava(["A " + "very " * 200_000 + "long caption."] * 3 + CAPS))
    synth(cli, p, tmp_path).ok()
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert man["corpus"]["dropped"]["too_long"] == 3 and man["corpus"]["n_captions"] == len(CAPS)


def test_only_huge_captions(cli, tmp_path):
    p = tmp_path / "huge.json"
    p.write_bytes(llava([f"A {i} " + "very " * 100_000 for i in range(5)]))
    synth(cli, p, tmp_path).user_error(f"{p}: no usable caption among 5 records (too_long 5)")


def test_gzip_bytes_under_a_json_name(cli, tmp_path):
    p = tmp_path / "captions.json"
    p.write_bytes(gzip.compress(llava()))
    synth(cli, p, tmp_path).user_error(str(p))


def test_gzip_bytes_with_format_given(cli, tmp_path):
    p = tmp_path / "captions.json"
    p.write_bytes(gzip.compress(llava()))
    synth(cli, p, tmp_path, "--corpus-format", "llava").user_error(str(p), "not UTF-8")


def test_zero_byte_corpus(cli, tmp_path):
    p = tmp_path / "empty.json"
    p.write_bytes(b"")
    synth(cli, p, tmp_path).user_error(str(p))


def test_binary_corpus(cli, tmp_path):
    import random

    p = tmp_path / "noise.json"
    p.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(4096)))
    synth(cli, p, tmp_path).user_error(str(p))


def test_non_utf8_jsonl(cli, tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(jsonl() + b'{"caption": "caf\xe9 latte on a table"}\n')
    synth(cli, p, tmp_path).user_error(str(p), "not UTF-8")


def test_empty_corpus_directory(cli, tmp_path):
    d = tmp_path / "shards"
    d.mkdir()
    synth(cli, d, tmp_path).user_error(f"{d}: empty directory")


def test_missing_corpus(cli, tmp_path):
    synth(cli, tmp_path / "nope.json", tmp_path).user_error("nope.json: caption corpus not found")


def test_sweep_with_a_broken_corpus_stops_before_training(cli, tmp_path):
    p = tmp_path / "captions.json"
    p.write_bytes(llava()[:500])
    r = tmp_path / "r.toml"
    r.write_text(f'[recipe]\nname = "c"\n[base]\nmodel = "micro"\n[data]\ncorpus = "{p}"\npool = 40\nprobe = 4\n'
                 '[mixes]\nall = { order = 1 }\n[grid]\nvolume = [0, 20]\n'
                 f'[eval]\nbenchmarks = [{{ name = "t3-text", path = "{tmp_path}" }}]\n')
    runs = tmp_path / "runs"
    cli("sweep", r, "--runs-dir", runs, "--reports-dir", tmp_path / "reports").user_error(f"{p}:", "invalid JSON")
    assert not (runs / "synth").exists() and not (runs / "train").exists()
