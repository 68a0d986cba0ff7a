"""t3.synthesize / `ablate synth`: determinism, nesting, train/probe split, letter balance, manifest, CLI."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest

import t3
from ablate.cli import main
from ablate.core import UserError, file_sha256
from fixtures_t3 import T3_DATA

SMALL = dict(n=300, probe_n=60, frames=4, seed=7)


def _sha(d):
    return {p.name: file_sha256(p) for p in sorted(d.iterdir())}


def test_outputs_columns_and_manifest(t3_world_corpus, tmp_path):
    m = t3.synthesize(t3_world_corpus, tmp_path / "o", t3.SynthSpec(**SMALL), export=("llava",))
    df = pl.read_parquet(tmp_path / "o" / "train.parquet")
    assert df.columns == ["id", "task", "subtask", "messages", "options", "answer", "captions", "n_frames"]
    assert df.schema["messages"] == pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
    assert df.height == 300 and pl.read_parquet(tmp_path / "o" / "probe.parquet").height == 60
    on_disk = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert on_disk["content_hash"] == m["content_hash"] and len(m["content_hash"]) == 16
    assert m["train"]["per_family"] == {"attribute": 75, "grounding": 75, "order": 75, "referring": 75}
    assert m["corpus"]["sha256"] == file_sha256(t3_world_corpus) and "dropped" in m["corpus"]
    assert m["spec"]["n"] == 300 and m["generator_version"] == t3.GENERATOR_VERSION
    llava = json.loads((tmp_path / "o" / "train_llava.json").read_text())
    assert len(llava) == 300 and llava[0]["conversations"][1]["from"] == "gpt"
    assert llava[0]["conversations"][0]["value"] == df["messages"][0][0]["content"]


def test_deterministic_byte_identical(t3_world_corpus, tmp_path):
    spec = t3.SynthSpec(**SMALL)
    a = t3.synthesize(t3_world_corpus, tmp_path / "a", spec)
    b = t3.synthesize(t3_world_corpus, tmp_path / "b", spec)
    assert a == b and _sha(tmp_path / "a") == _sha(tmp_path / "b")
    c = t3.synthesize(t3_world_corpus, tmp_path / "c", t3.SynthSpec(**{**SMALL, "seed": 8}))
    assert c["content_hash"] != a["content_hash"]
    assert _sha(tmp_path / "c")["train.parquet"] != _sha(tmp_path / "a")["train.parquet"]


def test_nested_prefixes(t3_world_corpus, tmp_path):
    big = t3.synthesize(t3_world_corpus, tmp_path / "big", t3.SynthSpec(**{**SMALL, "n": 1500}))
    small = t3.synthesize(t3_world_corpus, tmp_path / "small", t3.SynthSpec(**{**SMALL, "n": 137}))
    assert big["content_hash"] != small["content_hash"]
    b = pl.read_parquet(tmp_path / "big" / "train.parquet")
    s = pl.read_parquet(tmp_path / "small" / "train.parquet")
    assert b.head(137).equals(s)
    # the probe set does not depend on n either
    assert pl.read_parquet(tmp_path / "big" / "probe.parquet").equals(pl.read_parquet(tmp_path / "small" / "probe.parquet"))


def test_train_and_probe_captions_are_disjoint(t3_world_corpus, tmp_path):
    t3.synthesize(t3_world_corpus, tmp_path / "o", t3.SynthSpec(**{**SMALL, "n": 1500, "probe_n": 400}))
    tr = set(pl.read_parquet(tmp_path / "o" / "train.parquet")["captions"].explode())
    pr = set(pl.read_parquet(tmp_path / "o" / "probe.parquet")["captions"].explode())
    assert tr and pr and not tr & pr


@pytest.mark.parametrize("n", [400, 999])
def test_letters_exactly_balanced_per_subtask(t3_world_corpus, tmp_path, n):
    t3.synthesize(t3_world_corpus, tmp_path / "o", t3.SynthSpec(**{**SMALL, "n": n}))
    df = pl.read_parquet(tmp_path / "o" / "train.parquet")
    for (task, sub), g in df.group_by(["task", "subtask"]):
        m = len(g["options"][0])
        counts = Counter(g["answer"])
        assert set(counts) == set("ABCD"[:m]), (task, sub, counts)
        assert max(counts.values()) - min(counts.values()) <= 1, (task, sub, counts)
        full = g.height - g.height % m  # every complete block of m items has each letter once
        assert Counter(g["answer"][:full]) == {l: full // m for l in "ABCD"[:m]}


def test_mix_proportions_and_single_family(t3_world_corpus, tmp_path):
    m = t3.synthesize(t3_world_corpus, tmp_path / "o",
                      t3.SynthSpec(**{**SMALL, "mix": t3.parse_mix("order=1,attribute=2"), "n": 301}))
    assert m["train"]["per_family"] == {"attribute": 201, "order": 100}
    df = pl.read_parquet(tmp_path / "o" / "train.parquet")
    assert df["task"].head(6).to_list() == ["attribute", "order", "attribute"] * 2


def test_length_scaling(t3_world_corpus, tmp_path):
    m = t3.synthesize(t3_world_corpus, tmp_path / "o", t3.SynthSpec(**{**SMALL, "frames": 3, "length_scale": 8,
                                                                        "mix": {"attribute": 1, "order": 1}}))
    assert m["n_frames"] == 24
    assert set(pl.read_parquet(tmp_path / "o" / "train.parquet")["captions"].list.len()) == {24}


def test_same_content_hash_is_reused(t3_world_corpus, tmp_path):
    spec = t3.SynthSpec(**SMALL)
    t3.synthesize(t3_world_corpus, tmp_path / "o", spec)
    (tmp_path / "o" / "marker").write_text("x")
    t3.synthesize(t3_world_corpus, tmp_path / "o", spec)  # same hash: nothing rewritten
    assert (tmp_path / "o" / "marker").exists()
    t3.synthesize(t3_world_corpus, tmp_path / "o", t3.SynthSpec(**{**SMALL, "n": 10}))  # new hash: replaced
    assert not (tmp_path / "o" / "marker").exists()


@pytest.mark.parametrize(
    ("mix", "needle"),
    [("order=1,bogus=2", "unknown family `bogus`"), ("order=x", "not a number"), ("", "no family"),
     ("order=0", "weight > 0")],
)
def test_bad_mix(mix, needle):
    with pytest.raises(UserError, match=needle):
        t3.SynthSpec(mix=t3.parse_mix(mix))


def test_bad_spec_values():
    with pytest.raises(UserError, match="frames"):
        t3.SynthSpec(frames=2)
    with pytest.raises(UserError, match="probe_fraction"):
        t3.SynthSpec(probe_fraction=1.5)


def test_too_few_phrases_and_no_attributes(tmp_path):
    with pytest.raises(UserError, match="distinct key phrases"):
        t3.synthesize(T3_DATA / "llava_pretrain.json", tmp_path / "o", t3.SynthSpec(n=5, probe_n=0))
    corpus = tmp_path / "plain.jsonl"
    corpus.write_text("".join(json.dumps({"caption": f"Item number {i} here."}) + "\n" for i in range(200)))
    with pytest.raises(UserError, match="no caption with a known attribute"):
        t3.synthesize(corpus, tmp_path / "o", t3.SynthSpec(mix={"attribute": 1}, n=5, probe_n=0))
    t3.synthesize(corpus, tmp_path / "o", t3.SynthSpec(mix={"order": 1}, n=5, probe_n=0))


def test_cli_summary_and_errors(t3_world_corpus, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", str(t3_world_corpus), "--out", str(out), "--n", "200", "--probe-n", "40",
                 "--mix", "order=1,referring=1", "--export", "llava"]) == 0
    text = capsys.readouterr().out
    assert "order" in text and "referring" in text and "dropped" in text and "train A" in text
    assert (out / "train_llava.json").exists()
    assert main(["synth", str(t3_world_corpus), "--out", str(out), "--mix", "orderr=1"]) == 2
    assert "unknown family `orderr`" in capsys.readouterr().err
    assert main(["synth", str(t3_world_corpus), "--out", str(out), "--corpus-format", "xml"]) == 2
    assert "unknown corpus format" in capsys.readouterr().err


def test_no_torch_and_a_light_cli_module():
    import subprocess
    import sys

    code = ("import sys, t3, ablate.synth.stage; "
            "assert 'torch' not in sys.modules and 'polars' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
