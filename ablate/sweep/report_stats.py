"""The report's numbers: accuracy tables, paired bootstrap deltas, correlations, item-level transfer.

    from ablate.sweep.report_stats import accuracy_table, paired_deltas
    acc = accuracy_table(predictions_df)             # variant x benchmark x aspect, Wilson 95% CI
    d = paired_deltas(predictions_df, "base")        # paired bootstrap over the same items

Pure Polars/NumPy functions of the per-item predictions (ablate.eval.outputs' columns); the Markdown
and figures are built from them in ablate.sweep.report_sections.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ablate.eval.scoring import wilson  # the one Wilson interval (clamped to [0, 1])

N_BOOT = 2000
SEED = 0
KEYS = ["variant", "benchmark", "aspect"]


def _with_all(pred: pl.DataFrame) -> pl.DataFrame:
    """Predictions plus a copy of every row under aspect 'all' (the benchmark's overall score)."""
    base = pred.select("variant", "benchmark", "item_id", "aspect", "modality",
                       pl.col("correct").fill_null(False).cast(pl.Int64).alias("c"),
                       pl.col("error").is_not_null().cast(pl.Int64).alias("err"))
    return pl.concat([base, base.with_columns(pl.lit("all").alias("aspect"))])


def accuracy_table(pred: pl.DataFrame) -> pl.DataFrame:
    """variant x benchmark x aspect (incl. 'all'): n, n_correct, n_error, accuracy, Wilson CI."""
    agg = (_with_all(pred).group_by(KEYS + ["modality"])
           .agg(pl.len().alias("n"), pl.col("c").sum().alias("n_correct"), pl.col("err").sum().alias("n_error"))
           .with_columns((pl.col("n_correct") / pl.col("n")).alias("accuracy")))
    ci = [wilson(k, n) for k, n in zip(agg["n_correct"], agg["n"])]
    return agg.with_columns(pl.Series("ci_low", [c[0] for c in ci]), pl.Series("ci_high", [c[1] for c in ci]))


def paired_deltas(pred: pl.DataFrame, base_variant: str, n_boot: int = N_BOOT, seed: int = SEED) -> pl.DataFrame:
    """Delta of each variant vs the base over the items both answered, with a paired bootstrap CI."""
    rows = _with_all(pred)
    b = rows.filter(pl.col("variant") == base_variant).select("benchmark", "aspect", "item_id", pl.col("c").alias("cb"))
    paired = (rows.filter(pl.col("variant") != base_variant).join(b, on=["benchmark", "aspect", "item_id"])
              .with_columns((pl.col("c") - pl.col("cb")).alias("d")).sort(KEYS + ["item_id"]))
    out = []
    rng = np.random.default_rng(seed)
    for key, g in paired.group_by(KEYS, maintain_order=True):
        d = g["d"].to_numpy().astype(np.float64)
        idx = rng.integers(0, len(d), size=(n_boot, len(d)))
        boots = d[idx].mean(axis=1)
        out.append({"variant": key[0], "benchmark": key[1], "aspect": key[2], "n_paired": len(d),
                    "delta": float(d.mean()), "delta_ci_low": float(np.percentile(boots, 2.5)),
                    "delta_ci_high": float(np.percentile(boots, 97.5))})
    schema = {"variant": pl.Utf8, "benchmark": pl.Utf8, "aspect": pl.Utf8, "n_paired": pl.Int64,
              "delta": pl.Float64, "delta_ci_low": pl.Float64, "delta_ci_high": pl.Float64}
    return pl.DataFrame(out, schema=schema)


def results_table(pred: pl.DataFrame, variants: pl.DataFrame) -> pl.DataFrame:
    """One row per variant x benchmark x aspect with accuracy, CI and delta vs base (if a base ran)."""
    acc = accuracy_table(pred)
    base = variants.filter(pl.col("volume") == 0)["variant"].to_list()
    base = [b for b in base if b in set(pred["variant"].unique().to_list())]
    if base:
        acc = acc.join(paired_deltas(pred, base[0]), on=KEYS, how="left")
    else:
        acc = acc.with_columns(*(pl.lit(None, pl.Float64).alias(c) for c in ("delta", "delta_ci_low", "delta_ci_high")),
                               pl.lit(None, pl.Int64).alias("n_paired"))
    return (variants.join(acc, on="variant", how="inner")
            .sort("volume", "mix", "variant", "benchmark", pl.col("aspect") != "all", "aspect"))


def correlations(results: pl.DataFrame, n_boot: int = N_BOOT, seed: int = SEED) -> list[dict]:
    """Across variants: each text benchmark's overall accuracy vs each video benchmark's."""
    from scipy import stats

    overall = results.filter(pl.col("aspect") == "all")
    text = overall.filter(pl.col("modality") == "text")["benchmark"].unique().sort().to_list()
    video = overall.filter(pl.col("modality") == "video")["benchmark"].unique().sort().to_list()
    out = []
    for t in text:
        for v in video:
            xy = (overall.filter(pl.col("benchmark") == t).select("variant", "label", pl.col("accuracy").alias("x"))
                  .join(overall.filter(pl.col("benchmark") == v).select("variant", pl.col("accuracy").alias("y")), on="variant")
                  .sort("variant"))
            rec = {"text": t, "video": v, "n": xy.height, "points": xy}
            x, y = xy["x"].to_numpy(), xy["y"].to_numpy()
            if xy.height >= 3 and np.std(x) > 0 and np.std(y) > 0:
                rec["pearson"], rec["pearson_p"] = map(float, stats.pearsonr(x, y))
                rec["spearman"], rec["spearman_p"] = map(float, stats.spearmanr(x, y))
                rng = np.random.default_rng(seed)
                boots = []
                for _ in range(n_boot):
                    i = rng.integers(0, len(x), len(x))
                    if np.std(x[i]) > 0 and np.std(y[i]) > 0:
                        boots.append(np.corrcoef(x[i], y[i])[0, 1])
                rec["pearson_ci"] = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots else None
            out.append(rec)
    return out


def item_transfer(pred: pl.DataFrame, video: str = "world-video", text: str = "world-text") -> pl.DataFrame:
    """Per variant x aspect (and 'all'): does a video item go right where its text twin does?

    The world bench asks every video question again over the frames' captions (world-text, same
    item ids), so per item we know both outcomes: P(video right | text right), P(video right | text
    wrong) and the share of items where both agree. Transfer of what was learned in text shows as
    the first rising above the second.
    """
    v = pred.filter(pl.col("benchmark") == video).select("variant", "item_id", "aspect",
                                                         pl.col("correct").fill_null(False).alias("vc"))
    t = pred.filter(pl.col("benchmark") == text).select("variant", "item_id", pl.col("correct").fill_null(False).alias("tc"))
    j = v.join(t, on=["variant", "item_id"], how="inner")
    if j.is_empty():
        return pl.DataFrame()
    j = pl.concat([j, j.with_columns(pl.lit("all").alias("aspect"))])
    return j.group_by("variant", "aspect").agg(
        pl.len().alias("n"), pl.col("tc").sum().alias("n_text_right"),
        pl.col("vc").filter(pl.col("tc")).mean().alias("p_video_given_text_right"),
        pl.col("vc").filter(~pl.col("tc")).mean().alias("p_video_given_text_wrong"),
        (pl.col("vc") == pl.col("tc")).mean().alias("agreement"))


def variants_frame(record: dict) -> pl.DataFrame:
    rows = [{"variant": v["id"], "label": v["label"], "mix": v.get("mix") or "base", "volume": int(v["volume"]),
             "seed": int(v.get("seed", 0)), "status": v.get("status", "?")} for v in record["variants"]]
    return pl.DataFrame(rows, schema={"variant": pl.Utf8, "label": pl.Utf8, "mix": pl.Utf8, "volume": pl.Int64,
                                      "seed": pl.Int64, "status": pl.Utf8})
