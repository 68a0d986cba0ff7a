"""The evaluation stage's outputs: prediction rows, predictions.parquet / scores.parquet / eval.json, rescoring.

    from ablate.eval.outputs import rescore_dir
    rescore_dir("runs/eval/y")  # recompute scores from the stored replies, no inference

    $ ablate rescore runs/eval/y

Predictions are written separately from scores, so scores can always be recomputed from replies
(ablate.eval.scoring) without re-running a model.
"""

from __future__ import annotations

from pathlib import Path

from ablate.core import UserError, write_json
from ablate.eval.scoring import SCORERS_VERSION, SCORING_MODES, score, scores_from_rows

PRED_COLUMNS = ["variant", "adapter_sha256", "benchmark", "item_id", "modality", "task", "aspect", "sub_dim", "reply",
                "parsed", "match_status", "match_rule", "correct", "prompt_tokens", "gen_tokens", "latency_s", "error",
                "answer", "options", "scorer", "scorer_version", "scoring", "cached"]


def prediction_row(variant: str, sha: str, p, gen: dict | None, cached: bool, scoring: str = "ablate") -> dict:
    """One predictions.parquet row: variant `variant`'s reply `gen` (None: none) to prepared item `p`
    (ablate.eval.requests.Prepared), scored."""
    it = p.item
    err = p.error if p.error is not None else (None if gen is not None else "no generation")
    reply = gen["reply"] if gen is not None and err is None else None
    parsed, status, correct, rule = score(it.scorer, reply, it.options, it.answer, scoring)
    return {"variant": variant, "adapter_sha256": sha, "benchmark": it.benchmark, "item_id": it.item_id,
            "modality": it.modality, "task": it.task, "aspect": it.aspect, "sub_dim": it.sub_dim, "reply": reply,
            "parsed": parsed, "match_status": status, "match_rule": rule, "correct": correct,
            "prompt_tokens": gen["prompt_tokens"] if reply is not None else None,
            "gen_tokens": gen["gen_tokens"] if reply is not None else None,
            "latency_s": gen["latency_s"] if reply is not None else None, "error": err, "answer": it.answer,
            "options": list(it.options), "scorer": it.scorer, "scorer_version": SCORERS_VERSION[it.scorer],
            "scoring": scoring, "cached": bool(cached and reply is not None)}


def _pred_schema():
    import polars as pl

    s = {c: pl.String for c in PRED_COLUMNS}
    s.update(correct=pl.Boolean, prompt_tokens=pl.Int64, gen_tokens=pl.Int64, latency_s=pl.Float64,
             options=pl.List(pl.String), scorer_version=pl.Int64, cached=pl.Boolean)
    return s


def write_outputs(out: Path, rows: list[dict], manifest: dict) -> Path:
    import polars as pl

    from ablate.eval.scoring import scores_schema
    from ablate.fs import doing, ensure_dir

    ensure_dir(out, "creating the evaluation output dir", "--out")
    preds = pl.DataFrame(rows, schema=_pred_schema())
    scores = pl.DataFrame(scores_from_rows(rows), schema=scores_schema())
    with doing("writing the evaluation outputs", out, "--out"):
        for name, df in (("predictions.parquet", preds), ("scores.parquet", scores)):
            tmp = out / f".{name}.tmp"
            try:
                df.write_parquet(tmp)
                tmp.replace(out / name)
            finally:  # a full disk or a directory named like the file: no half-written temp file stays
                tmp.unlink(missing_ok=True)
        write_json(out / "eval.json", manifest)
    return out


def rescore_dir(d: str | Path, scoring: str | None = None) -> Path:
    """Recompute out/predictions.parquet (parsed, match_status, correct, match_rule, scorer_version,
    scoring) and out/scores.parquet from the stored replies with the current scorers (no inference).

    scoring None keeps the mode the predictions were scored with ("ablate" for older outputs)."""
    import polars as pl

    from ablate.eval.scoring import scores_schema, rescore_predictions

    d = Path(d)
    f = d / "predictions.parquet"
    if not f.exists():
        raise UserError(f"{f}: not found (is {d} an `ablate eval` output directory?)")
    try:
        preds = pl.read_parquet(f)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{f}: cannot read Parquet ({e})") from None
    missing = [c for c in ("variant", "benchmark", "reply", "answer", "options", "scorer", "error") if c not in preds.columns]
    if missing:
        raise UserError(f"{f}: missing column(s) {', '.join(missing)}")
    if scoring is None:
        modes = preds["scoring"].drop_nulls().unique().to_list() if "scoring" in preds.columns else []
        scoring = modes[0] if len(modes) == 1 else "ablate"
    if scoring not in SCORING_MODES:
        raise UserError(f"--scoring {scoring!r}: choose from {list(SCORING_MODES)}")
    preds = rescore_predictions(preds, scoring)
    preds = preds.select([c for c in PRED_COLUMNS if c in preds.columns] + [c for c in preds.columns if c not in PRED_COLUMNS])
    scores = pl.DataFrame(scores_from_rows(preds.to_dicts()), schema=scores_schema())
    for name, df in (("predictions.parquet", preds), ("scores.parquet", scores)):
        tmp = d / f".{name}.tmp"
        df.write_parquet(tmp)
        tmp.replace(d / name)
    m = d / "eval.json"
    if m.is_file():
        import json as _json

        manifest = _json.loads(m.read_text())
        manifest.update(scorers=SCORERS_VERSION, scoring=scoring)
        write_json(m, manifest)
    return d / "scores.parquet"


