"""Caption corpus readers: LLaVA pretrain / ReCap / ShareGPT4V JSON, COCO captions, JSONL, Parquet, CSV.

    >>> from t3.corpus import read_captions
    >>> corpus = read_captions("blip_laion_cc_sbu_558k.json")          # doctest: +SKIP
    >>> corpus.captions[:2], corpus.dropped                            # doctest: +SKIP
    (['the divine child jesus with mary and joseph', ...], {'empty': 0, 'duplicate': 31, ...})

Formats (see /work/shared/FORMATS.md): `llava` (a JSON list of records with `conversations`; the
caption is the first turn whose `from` is gpt, found by role; ShareGPT4V has the same shape),
`coco` (`annotations[]` with `caption`), and `jsonl` / `parquet` / `csv` with a caption column
(`caption_field`, or the first of caption/text/conversations/... that exists; a `conversations`
column, as in LLaVA-ReCap Parquet shards, is read like llava). `auto` detects the format by content.
A directory is read as all its files of one format, in sorted order (ReCap ships 26 shards).

Cleaning: whitespace collapsed, `<image>` removed, cut to the first sentence (as the paper does);
empty, duplicate and over-long captions are dropped and counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from t3.util import UserError, iter_jsonl

FORMATS = ("auto", "llava", "sharegpt4v", "recap", "coco", "jsonl", "parquet", "csv")
CAPTION_FIELDS = ("caption", "text", "conversations", "captions", "blip_caption", "description", "sentence")
# a sentence ends at . ! ? followed by a capital (or the end), except after common abbreviations
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z\"'(]|\s*$)")
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "no", "mt"}
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Corpus:
    """Usable captions (unique, cleaned, in file order) and what was dropped, by reason."""

    captions: list[str]
    dropped: dict[str, int]
    n_records: int
    format: str
    path: str
    files: list[str] = field(default_factory=list)


def clean(text: str, first_sentence: bool = True) -> str:
    """Collapse whitespace, drop `<image>` markers, optionally keep only the first sentence."""
    text = _SPACE.sub(" ", text.replace("<image>", " ")).strip()
    if first_sentence:
        for m in _SENTENCE_END.finditer(text):
            if text[m.start()] == ".":
                word = text[: m.start()].rsplit(" ", 1)[-1]
                if word.lower() in _ABBREV or (len(word) == 1 and word.isupper()):
                    continue  # "Mr. Smith", "J. Doe": not a sentence end
            return text[: m.end()]
    return text


def detect_format(path: Path) -> str:
    """Guess a file's format from its first bytes (and, for JSON, its first record)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        return "llava"
    if text.startswith("{"):
        first_line = text.split("\n", 1)[0].strip()
        try:
            obj = json.loads(first_line)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "annotations" not in obj and "\n" in text.strip():
            return "jsonl"
        return "coco"
    if path.suffix.lower() in (".csv", ".tsv") or "," in text.split("\n", 1)[0]:
        return "csv"
    raise UserError(f"{path}: cannot tell the caption corpus format from its content; pass --corpus-format "
                    f"(one of {', '.join(FORMATS[1:])})")


def _gpt_turn(conv) -> str | None:
    if not isinstance(conv, list):
        return None
    for turn in conv:
        if isinstance(turn, dict) and str(turn.get("from", turn.get("role", ""))).lower() in ("gpt", "assistant"):
            v = turn.get("value", turn.get("content"))
            return v if isinstance(v, str) else None
    return None


def _read_llava(path: Path) -> list[str | None]:
    from t3.util import read_json

    data = read_json(path, "caption corpus")
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of records with `conversations` (LLaVA format)")
    out: list[str | None] = []
    for k, rec in enumerate(data):
        if isinstance(rec, list):
            raise UserError(f"{path}: record {k}: a bare conversation list (T3 training data?), not a caption "
                            f"record with `conversations`")
        if not isinstance(rec, dict) or not isinstance(rec.get("conversations"), list):
            raise UserError(f"{path}: record {k}: expected an object with a `conversations` list")
        out.append(_gpt_turn(rec["conversations"]))
    return out


def _read_coco(path: Path) -> list[str | None]:
    from t3.util import read_json

    data = read_json(path, "caption corpus")
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise UserError(f"{path}: expected a COCO captions object with an `annotations` list")
    out: list[str | None] = []
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise UserError(f"{path}: annotations[{k}]: expected an object with `caption`")
        c = ann.get("caption")
        out.append(c if isinstance(c, str) else None)
    return out


def _pick_field(path: Path, columns: list[str], caption_field: str | None) -> str:
    if caption_field:
        if caption_field not in columns:
            raise UserError(f"{path}: no column `{caption_field}` (columns: {', '.join(columns)})")
        return caption_field
    for name in CAPTION_FIELDS:
        if name in columns:
            return name
    raise UserError(f"{path}: no caption column found (columns: {', '.join(columns)}); pass --caption-field")


def _value(v) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        if v and isinstance(v[0], dict):
            return _gpt_turn(v)
        return v[0] if v and isinstance(v[0], str) else None  # a list of captions: take the first
    return None


def _read_jsonl(path: Path, caption_field: str | None) -> list[str | None]:
    out: list[str | None] = []
    name = None
    for _, rec in iter_jsonl(path):
        if name is None:
            name = _pick_field(path, list(rec), caption_field)
        out.append(_value(rec.get(name)))
    return out


def _read_table(path: Path, fmt: str, caption_field: str | None) -> list[str | None]:
    import polars as pl

    try:
        if fmt == "parquet":
            columns = list(pl.read_parquet_schema(path))
            name = _pick_field(path, columns, caption_field)
            df = pl.read_parquet(path, columns=[name])
        else:
            df = pl.read_csv(path, separator="\t" if path.suffix.lower() == ".tsv" else ",", infer_schema=False)
            name = _pick_field(path, df.columns, caption_field)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - polars raises many types; the user needs the file name
        raise UserError(f"{path}: cannot read as {fmt} ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    col = df.get_column(name)
    if col.dtype == pl.List(pl.Struct) or (isinstance(col.dtype, pl.List) and isinstance(col.dtype.inner, pl.Struct)):
        fields = [f.name for f in col.dtype.inner.fields]
        role = "from" if "from" in fields else "role"
        text = "value" if "value" in fields else "content"
        col = df.select(
            pl.col(name).list.eval(
                pl.element().filter(pl.element().struct.field(role).str.to_lowercase().is_in(["gpt", "assistant"]))
                .struct.field(text)
            ).list.first()
        ).to_series()
    elif isinstance(col.dtype, pl.List):
        col = col.list.first()
    if col.dtype != pl.String:
        raise UserError(f"{path}: column `{name}` holds {col.dtype}, not caption text")
    if fmt == "csv":
        col = col.fill_null("")  # an empty CSV cell is an empty caption, not a missing one
    return col.to_list()


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UserError(f"{path}: empty directory, no caption files")
        return files
    if not path.exists():
        raise UserError(f"{path}: caption corpus not found")
    return [path]


def read_captions(path: str | Path, format: str = "auto", caption_field: str | None = None,
                  first_sentence: bool = True, max_chars: int = 400, min_chars: int = 3) -> Corpus:
    """Read and clean a caption corpus (a file or a directory of shards). Raises UserError on bad input."""
    path = Path(path)
    if format not in FORMATS:
        raise UserError(f"unknown corpus format `{format}` (one of {', '.join(FORMATS)})")
    files = _files(path)
    raw: list[str | None] = []
    fmt = format
    for f in files:
        fmt = detect_format(f) if format == "auto" else format
        try:
            if fmt in ("llava", "sharegpt4v", "recap"):
                raw += _read_jsonl(f, caption_field) if f.suffix == ".jsonl" else _read_llava(f)
            elif fmt == "coco":
                raw += _read_coco(f)
            elif fmt == "jsonl":
                raw += _read_jsonl(f, caption_field)
            else:
                raw += _read_table(f, fmt, caption_field)
        except UnicodeDecodeError as e:
            raise UserError(f"{f}: not UTF-8 text ({e.reason} at byte {e.start}); is it a {fmt} file?") from None
    dropped = {"missing": 0, "empty": 0, "too_long": 0, "duplicate": 0}
    seen: set[str] = set()
    captions: list[str] = []
    for text in raw:
        if text is None:
            dropped["missing"] += 1
            continue
        c = clean(text, first_sentence)
        if len(c) < min_chars:
            dropped["empty"] += 1
        elif len(c) > max_chars:
            dropped["too_long"] += 1
        elif c in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(c)
            captions.append(c)
    if not captions:
        why = ", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "no records"
        raise UserError(f"{path}: no usable caption among {len(raw)} records ({why})")
    return Corpus(captions, dropped, len(raw), fmt, str(path), [str(f) for f in files])
