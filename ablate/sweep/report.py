"""Reports: stored predictions -> results.parquet / results.csv / report.md with PNG figures.

    from ablate.sweep.report import build_report
    build_report(sweep_record, predictions_df, "reports/data_scale")

    $ ablate report recipes/data_scale.toml      # or a runs dir: rebuilds every sweep recorded there

Every number is recomputed from the per-item predictions (columns of ablate.eval.outputs'
predictions.parquet: variant, benchmark, item_id, modality, aspect, sub_dim, correct, error ...) with
Polars, so the report can be rebuilt at any time without inference. Uncertainty:
- accuracy: Wilson 95% interval;
- delta vs the base model: 95% paired bootstrap over items (the same items for both, resampled
  together, 2,000 resamples, fixed seed so the report is reproducible);
- text-vs-video correlation across variants: Pearson and Spearman with their p-values and a 95%
  bootstrap CI over variants.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ablate.core import atomic_write_text
from ablate.sweep.report_sections import (breakdown_section, corr_section, formats_section, match_rule_section,
                                          mix_section, scaling_section, transfer_section, verdict_section)
from ablate.sweep.report_summary import summary_section
from ablate.sweep.report_stats import results_table, variants_frame
from ablate.sweep.report_training import outcome_link, training_cells, training_section


def build_report(record: dict, predictions: pl.DataFrame, out_dir: str | Path) -> Path:
    """Write report.md, results.parquet/.csv and figures for one sweep into out_dir; return report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp-*"):  # left by a report killed mid-write
        stale.unlink(missing_ok=True)
    variants = variants_frame(record)
    pred = predictions.filter(pl.col("variant").is_in(variants["variant"].to_list()))
    md = [f"# {record['name']}\n"]
    if record.get("description"):
        md.append(f"{record['description']}\n")
    md += ["## Run summary\n"] + summary_section(record)
    cells = training_cells(record)
    training = ["## Training\n"] + training_section(record, out, cells)
    if pred.is_empty():
        md.append("No predictions yet (no variant finished evaluation).\n")
        md += training
        res = pl.DataFrame()
    else:
        res = results_table(pred, variants)
        res.write_parquet(out / "results.parquet")
        res.write_csv(out / "results.csv")
        md += ["## Outcome: did text-only training move text and video accuracy?\n"] + verdict_section(res, pred)
        md += [outcome_link(cells)] + training
        md += ["## Scaling grid\n"] + scaling_section(res, out)
        md += ["## Task-mix table (Table 2 shape)\n"] + mix_section(res)
        md += ["## Text vs video correlation across variants\n"] + corr_section(res, out)
        md += ["## Item-level transfer (world-video vs world-text)\n"] + transfer_section(pred, variants)
        md += ["## Reply formats on world-video\n"] + formats_section(pred, variants)
        md += ["## Per-benchmark breakdown\n"] + breakdown_section(pred, variants)
        md += ["## Reply matching rules\n"] + match_rule_section(pred, variants)
    md.append("\n_All numbers are recomputed from the stored per-item predictions; `results.parquet` holds "
              "one row per variant x benchmark x aspect. Rebuild with `ablate report`._\n")
    path = out / "report.md"
    atomic_write_text(path, "\n".join(md) + "\n")
    return path


def load_predictions(eval_dirs: list[str | Path]) -> pl.DataFrame:
    """Concatenate the predictions.parquet of the given evaluation dirs (missing ones skipped)."""
    frames = []
    for d in eval_dirs:
        f = Path(d) / "predictions.parquet"
        if f.is_file():
            try:
                frames.append(pl.read_parquet(f))
            except Exception as e:  # noqa: BLE001 - polars raises several types for a damaged file
                from ablate.core import UserError

                raise UserError(f"{f}: cannot read Parquet ({type(e).__name__}); rerun `ablate sweep` "
                                "to recompute this evaluation (generations are cached)") from None
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def report_from_record(record: dict, out_dir: str | Path, eval_dirs: list | None = None,
                       scoring: str | None = None) -> Path:
    """Build a sweep's report from its record and the stored predictions (no inference).

    Every reply is scored again with the current scorers (so a scorer change never leaves a report
    stale), in each prediction's own scoring mode, or in `scoring` ("ablate" / "official") if given."""
    from ablate.eval.scoring import rescore_predictions

    pred = load_predictions(eval_dirs if eval_dirs is not None else record.get("eval_dirs", []))
    if pred.is_empty():
        pred = pl.DataFrame(schema={"variant": pl.Utf8})
    elif all(c in pred.columns for c in ("reply", "options", "answer", "scorer", "error")):
        pred = rescore_predictions(pred, scoring)
    return build_report(record, pred, out_dir)


def rebuild(target: str | Path, runs_dir: str | Path = "runs", reports_dir: str | Path = "reports",
            scoring: str | None = None) -> list[Path]:
    """`ablate report`: target is a recipe file, a sweep dir (runs/sweeps/<name>) or a runs dir.

    scoring: rescore every reply in this mode (default: the mode each prediction was scored with)."""
    from ablate.core import UserError
    from ablate.names import check_name, child_path
    from ablate.sweep.records import read_sweep_record

    t = Path(target)
    if t.is_file() and t.suffix == ".toml":
        from ablate.sweep.recipe import load_recipe

        recs = [Path(runs_dir) / "sweeps" / load_recipe(t, check_paths=False).name / "sweep.json"]
    elif (t / "sweep.json").is_file():
        recs = [t / "sweep.json"]
    elif (t / "sweeps").is_dir():
        recs = sorted((t / "sweeps").glob("*/sweep.json"))
    else:
        raise UserError(f"{t}: not a recipe (.toml), a sweep dir (with sweep.json) or a runs dir (with sweeps/)")
    out = []
    for r in recs:
        if not r.is_file():
            raise UserError(f"{r}: no sweep record; run `ablate sweep` first (or pass --runs-dir)")
        record = read_sweep_record(r)
        out.append(report_from_record(record, child_path(reports_dir, check_name(record["name"], "name", r)),
                                      scoring=scoring))
    if not out:
        raise UserError(f"{t}: no sweeps recorded there")
    return out
