"""Reports: stored predictions -> results.parquet / results.csv / report.md with PNG figures.

    from ablate.sweep.report import build_report
    build_report(sweep_record, predictions_df, "reports/data_scale")

    $ ablate report recipes/data_scale.toml      # or a runs dir: rebuilds every sweep recorded there

Every number is recomputed from the per-item predictions (columns of ablate.eval.stage's
predictions.parquet: variant, benchmark, item_id, modality, aspect, sub_dim, correct, error ...) with
Polars, so the report can be rebuilt at any time without inference. Uncertainty:
- accuracy: Wilson 95% interval;
- delta vs the base model: 95% paired bootstrap over items (the same items for both, resampled
  together, 2,000 resamples, fixed seed so the report is reproducible);
- text-vs-video correlation across variants: Pearson and Spearman with their p-values and a 95%
  bootstrap CI over variants.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from ablate.core import atomic_write_text
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


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _signed(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f}"


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scaling_section(res: pl.DataFrame, out: Path) -> list[str]:
    vols = sorted(v for v in res["volume"].unique().to_list() if v > 0)
    if len(vols) < 2:
        return ["Only one training volume in this sweep: no scaling grid."]
    plt = _plt()
    md = []
    for bench in res["benchmark"].unique().sort().to_list():
        r = res.filter(pl.col("benchmark") == bench)
        aspects = ["all"] + sorted(a for a in r["aspect"].unique().to_list() if a != "all")
        mixes = sorted(m for m in r.filter(pl.col("volume") > 0)["mix"].unique().to_list())
        md.append(f"### {bench}\n")
        for mix in mixes:
            rows = []
            for a in aspects:
                ra = r.filter(pl.col("aspect") == a)
                base = ra.filter(pl.col("volume") == 0)["accuracy"].to_list()
                cells = [_pct(base[0]) if base else "-"]
                for v in vols:
                    x = ra.filter((pl.col("mix") == mix) & (pl.col("volume") == v))["accuracy"].to_list()
                    cells.append(_pct(x[0]) if x else "-")
                rows.append([a] + cells)
            md.append(f"mix `{mix}`, accuracy (%) by training volume:\n")
            md.append(_md_table(["aspect", "base (0)"] + [str(v) for v in vols], rows) + "\n")
        cols = min(4, len(aspects))
        nrows = math.ceil(len(aspects) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.8 * nrows), squeeze=False)
        for ax, a in zip(axes.flat, aspects):
            ra = r.filter(pl.col("aspect") == a)
            for mix in mixes:
                s = ra.filter((pl.col("mix") == mix) & (pl.col("volume") > 0)).sort("volume")
                ax.errorbar(s["volume"].to_numpy(), 100 * s["accuracy"].to_numpy(), marker="o", label=mix,
                            yerr=[100 * (s["accuracy"] - s["ci_low"]).to_numpy(), 100 * (s["ci_high"] - s["accuracy"]).to_numpy()],
                            capsize=2)
            b = ra.filter(pl.col("volume") == 0)["accuracy"].to_list()
            if b:
                ax.axhline(100 * b[0], color="grey", ls="--", label="base")
            ax.set_xscale("log", base=2)
            ax.set_title(a, fontsize=9)
            ax.set_xlabel("training samples (log2)", fontsize=8)
            ax.set_ylabel("accuracy (%)", fontsize=8)
        for ax in list(axes.flat)[len(aspects):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{bench}: accuracy vs training volume")
        fig.tight_layout()
        name = f"scaling_{bench}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        md.append(f"![{bench} scaling]({name})\n")
    return md


def _mix_section(res: pl.DataFrame) -> list[str]:
    if res.filter(pl.col("volume") == 0).is_empty():
        return ["No base-model variant (volume 0) in this sweep: deltas need one."]
    md = ["Accuracy (%) per aspect; below it, the change vs the base model with its 95% paired-bootstrap "
          "CI over items (points)."]
    for bench in res["benchmark"].unique().sort().to_list():
        r = res.filter(pl.col("benchmark") == bench)
        aspects = sorted(a for a in r["aspect"].unique().to_list() if a != "all") + ["all"]
        rows = []
        for (vid, label, status), g in r.group_by(["variant", "label", "status"], maintain_order=True):
            cells = []
            for a in aspects:
                x = g.filter(pl.col("aspect") == a).to_dicts()
                if not x:
                    cells.append("-")
                elif x[0]["volume"] == 0:
                    cells.append(_pct(x[0]["accuracy"]))
                else:
                    x = x[0]
                    cells.append(f"{_pct(x['accuracy'])}<br>{_signed(x['delta'])} "
                                 f"[{_signed(x['delta_ci_low'])}, {_signed(x['delta_ci_high'])}]")
            rows.append([label] + cells)
        md.append(f"### {bench}\n")
        md.append(_md_table(["variant"] + [a if a != "all" else "avg" for a in aspects], rows) + "\n")
    return md


def _corr_section(res: pl.DataFrame, out: Path) -> list[str]:
    recs = correlations(res)
    if not recs:
        return ["Needs at least one text and one video benchmark."]
    plt = _plt()
    md = []
    rows = []
    for rec in recs:
        if "pearson" not in rec:
            rows.append([rec["text"], rec["video"], rec["n"], "needs >= 3 variants with varying accuracy", "", ""])
            continue
        ci = rec["pearson_ci"]
        rows.append([rec["text"], rec["video"], rec["n"],
                     f"{rec['pearson']:.2f} (p={rec['pearson_p']:.3g})",
                     f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-",
                     f"{rec['spearman']:.2f} (p={rec['spearman_p']:.3g})"])
        pts = rec["points"]
        x, y = 100 * pts["x"].to_numpy(), 100 * pts["y"].to_numpy()
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        ax.scatter(x, y)
        for xi, yi, lab in zip(x, y, pts["label"].to_list()):
            ax.annotate(lab, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
        a, b = np.polyfit(x, y, 1)
        xs = np.linspace(x.min(), x.max(), 10)
        ax.plot(xs, a * xs + b, "r--", lw=1, label=f"fit: y = {a:.2f}x + {b:.1f}")
        ax.set_xlabel(f"{rec['text']} accuracy (%)")
        ax.set_ylabel(f"{rec['video']} accuracy (%)")
        ax.set_title(f"r = {rec['pearson']:.2f}, rho = {rec['spearman']:.2f}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        name = f"corr_{rec['text']}_vs_{rec['video']}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        md.append(f"![{rec['text']} vs {rec['video']}]({name})")
    table = _md_table(["text", "video", "variants", "Pearson r", "r 95% CI (bootstrap)", "Spearman rho"], rows)
    return [table + "\n"] + md


def _breakdown_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
    md = []
    g = (pred.join(variants.select("variant", "label", "volume"), on="variant")
         .group_by("benchmark", "label", "volume", "aspect", "sub_dim")
         .agg(pl.len().alias("n"), pl.col("correct").fill_null(False).mean().alias("acc"),
              (pl.col("match_status") != "matched").sum().alias("unmatched"),
              pl.col("error").is_not_null().sum().alias("errors"))
         .sort("benchmark", "volume", "label", "aspect", "sub_dim"))
    for bench in g["benchmark"].unique().sort().to_list():
        r = g.filter(pl.col("benchmark") == bench)
        md.append(f"### {bench}\n")
        md.append(_md_table(["variant", "aspect", "sub-dimension", "n", "accuracy (%)", "unmatched replies", "errors"],
                            [[x["label"], x["aspect"], x["sub_dim"], x["n"], _pct(x["acc"]), x["unmatched"], x["errors"]]
                             for x in r.to_dicts()]) + "\n")
    return md


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


def _transfer_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
    tr = item_transfer(pred)
    if tr.is_empty():
        return ["No item pairs (needs both world-video and world-text).\n"]
    tr = tr.join(variants.select("variant", "label", "volume"), on="variant").sort("volume", "label", "aspect")
    md = ["Per aspect: how often a video item is right when its text twin (the same question over the frames' "
          "captions) is right, and when it is wrong, and the share of items where both agree. Transfer of what "
          "was learned in text shows as the first rising above the second.\n"]
    rows = [[x["label"], x["aspect"], x["n"], x["n_text_right"], _pct(x["p_video_given_text_right"]),
             _pct(x["p_video_given_text_wrong"]), _pct(x["agreement"])] for x in tr.to_dicts()]
    md.append(_md_table(["variant", "aspect", "n", "text right", "video right when text right %",
                         "video right when text wrong %", "agreement %"], rows) + "\n")
    return md


def _formats_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
    """How replies land: share matched to an option (multi-choice, caption matching), share of "yes"."""
    v = pred.filter(pl.col("benchmark") == "world-video")
    if v.is_empty() or "task" not in v.columns:
        return []
    g = (v.join(variants.select("variant", "label", "volume"), on="variant").group_by("label", "volume")
         .agg(*[(pl.col("match_status") == "matched").filter(pl.col("task") == t).mean().alias(t)
                for t in ("multi-choice", "caption_matching")],
              (pl.col("parsed").cast(pl.Utf8).str.to_lowercase() == "yes").filter(pl.col("task") == "yes_no").mean().alias("yes"))
         .sort("volume", "label"))
    return [_md_table(["variant", "multi-choice replies matched %", "caption-matching replies matched %", "yes/no replies 'yes' %"],
                      [[x["label"], _pct(x["multi-choice"]), _pct(x["caption_matching"]), _pct(x["yes"])] for x in g.to_dicts()]) + "\n"]


RULE_ORDER = ("official:exact", "official:letter", "official:prefix", "official:sentence", "official:index",
              "official:regex", "t3:exact", "t3:letter", "t3:option", "fallback:normalized", "fallback:start",
              "fallback:markdown", "fallback:lead-phrase", "fallback:contained", "fallback:true-false")


def _match_rule_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
    """Per variant x benchmark: how many replies each matching rule took, and how many none did."""
    if "match_rule" not in pred.columns:
        return ["The predictions carry no `match_rule` column (scored before scorer version 2); "
                "run `ablate rescore` on their eval dirs or rebuild with `ablate report`."]
    modes = sorted(m for m in pred["scoring"].unique().to_list() if m) if "scoring" in pred.columns else []
    md = [f"Scoring mode: {', '.join(f'`{m}`' for m in modes) or '?'} (`official`: the benchmarks' own rules only; "
          "`ablate`: those, then judge-free fallbacks). Replies per matching rule; `unmatched` count as wrong, "
          "`error` means no reply.\n"]
    g = (pred.join(variants.select("variant", "label", "volume"), on="variant")
         .with_columns(pl.col("match_rule").fill_null("unmatched"))
         .group_by("benchmark", "label", "volume", "match_rule").agg(pl.len().alias("n")))
    present = set(g["match_rule"].to_list())
    rules = [r for r in RULE_ORDER if r in present] + sorted(present - set(RULE_ORDER) - {"unmatched", "error"})
    rules += [r for r in ("unmatched", "error") if r in present]
    for bench in g["benchmark"].unique().sort().to_list():
        r = g.filter(pl.col("benchmark") == bench)
        rows = []
        for (label, _vol), gg in r.sort("volume", "label").group_by(["label", "volume"], maintain_order=True):
            c = dict(zip(gg["match_rule"].to_list(), gg["n"].to_list()))
            rows.append([label] + [c.get(x, 0) for x in rules] + [sum(c.values())])
        md.append(f"### {bench}\n")
        md.append(_md_table(["variant"] + rules + ["n"], rows) + "\n")
    return md


def variants_frame(record: dict) -> pl.DataFrame:
    rows = [{"variant": v["id"], "label": v["label"], "mix": v.get("mix") or "base", "volume": int(v["volume"]),
             "seed": int(v.get("seed", 0)), "status": v.get("status", "?")} for v in record["variants"]]
    return pl.DataFrame(rows, schema={"variant": pl.Utf8, "label": pl.Utf8, "mix": pl.Utf8, "volume": pl.Int64,
                                      "seed": pl.Int64, "status": pl.Utf8})


def _summary_section(record: dict) -> list[str]:
    md = [f"- recipe: `{record.get('recipe_path', '?')}` (name `{record['name']}`, sha256 {record.get('recipe_hash', '?')})"]
    for k in ("description", "base", "base_hash", "world_hash", "versions", "started", "finished"):
        if record.get(k):
            md.append(f"- {k.replace('_', ' ')}: {record[k]}")
    from ablate.models.routes import route_lines  # which engine served each evaluation, and any fallback

    md += route_lines(record.get("eval_dirs") or [])
    t = record.get("timings") or {}
    if t:
        md.append("- wall time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    md.append("")
    rows = [[v["label"], v["id"], v.get("status", "?"), v.get("adapter_sha256", "-")[:12] if v.get("adapter_sha256") else "-",
             " ".join(f"{k}={s:.1f}s" for k, s in (v.get("timings") or {}).items())] for v in record["variants"]]
    md.append(_md_table(["variant", "id", "status", "adapter sha256", "stage times"], rows) + "\n")
    failed = [v for v in record["variants"] if v.get("status") == "failed"]
    if failed:
        md.append("**Failures**\n")
        md.append(_md_table(["variant", "stage", "error", "log"],
                            [[v["label"], v.get("failed_stage"), str(v.get("error", "")).replace("|", "/")[:300],
                              f"`{v.get('log', '-')}`"] for v in failed]) + "\n")
    return md


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
    md += ["## Run summary\n"] + _summary_section(record)
    if pred.is_empty():
        md.append("No predictions yet (no variant finished evaluation).")
        res = pl.DataFrame()
    else:
        res = results_table(pred, variants)
        res.write_parquet(out / "results.parquet")
        res.write_csv(out / "results.csv")
        md += ["## Scaling grid\n"] + _scaling_section(res, out)
        md += ["## Task-mix table (Table 2 shape)\n"] + _mix_section(res)
        md += ["## Text vs video correlation across variants\n"] + _corr_section(res, out)
        md += ["## Item-level transfer (world-video vs world-text)\n"] + _transfer_section(pred, variants)
        md += ["## Reply formats on world-video\n"] + _formats_section(pred, variants)
        md += ["## Per-benchmark breakdown\n"] + _breakdown_section(pred, variants)
        md += ["## Reply matching rules\n"] + _match_rule_section(pred, variants)
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
