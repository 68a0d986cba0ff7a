"""The report's Markdown sections and figures: scaling grid, task mix, correlation, transfer, formats, rules.

    from ablate.sweep.report_sections import md_table
    print(md_table(["variant", "accuracy"], [["base", "41.0"], ["t3", "47.5"]]))

    $ ablate report recipes/data_scale.toml      # report.md is these sections in order

Each section takes the tables of ablate.sweep.report_stats and returns Markdown lines; ablate.sweep.report
puts them in order in report.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from ablate.sweep.report_stats import correlations, item_transfer

def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _signed(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f}"


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scaling_section(res: pl.DataFrame, out: Path) -> list[str]:
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
            md.append(md_table(["aspect", "base (0)"] + [str(v) for v in vols], rows) + "\n")
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


def mix_section(res: pl.DataFrame) -> list[str]:
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
        md.append(md_table(["variant"] + [a if a != "all" else "avg" for a in aspects], rows) + "\n")
    return md


def corr_section(res: pl.DataFrame, out: Path) -> list[str]:
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
    table = md_table(["text", "video", "variants", "Pearson r", "r 95% CI (bootstrap)", "Spearman rho"], rows)
    return [table + "\n"] + md


def breakdown_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
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
        md.append(md_table(["variant", "aspect", "sub-dimension", "n", "accuracy (%)", "unmatched replies", "errors"],
                            [[x["label"], x["aspect"], x["sub_dim"], x["n"], _pct(x["acc"]), x["unmatched"], x["errors"]]
                             for x in r.to_dicts()]) + "\n")
    return md


def transfer_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
    tr = item_transfer(pred)
    if tr.is_empty():
        return ["No item pairs (needs both world-video and world-text).\n"]
    tr = tr.join(variants.select("variant", "label", "volume"), on="variant").sort("volume", "label", "aspect")
    md = ["Per aspect: how often a video item is right when its text twin (the same question over the frames' "
          "captions) is right, and when it is wrong, and the share of items where both agree. Transfer of what "
          "was learned in text shows as the first rising above the second.\n"]
    rows = [[x["label"], x["aspect"], x["n"], x["n_text_right"], _pct(x["p_video_given_text_right"]),
             _pct(x["p_video_given_text_wrong"]), _pct(x["agreement"])] for x in tr.to_dicts()]
    md.append(md_table(["variant", "aspect", "n", "text right", "video right when text right %",
                         "video right when text wrong %", "agreement %"], rows) + "\n")
    return md


def formats_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
    """How replies land: share matched to an option (multi-choice, caption matching), share of "yes"."""
    v = pred.filter(pl.col("benchmark") == "world-video")
    if v.is_empty() or "task" not in v.columns:
        return []
    g = (v.join(variants.select("variant", "label", "volume"), on="variant").group_by("label", "volume")
         .agg(*[(pl.col("match_status") == "matched").filter(pl.col("task") == t).mean().alias(t)
                for t in ("multi-choice", "caption_matching")],
              (pl.col("parsed").cast(pl.Utf8).str.to_lowercase() == "yes").filter(pl.col("task") == "yes_no").mean().alias("yes"))
         .sort("volume", "label"))
    return [md_table(["variant", "multi-choice replies matched %", "caption-matching replies matched %", "yes/no replies 'yes' %"],
                      [[x["label"], _pct(x["multi-choice"]), _pct(x["caption_matching"]), _pct(x["yes"])] for x in g.to_dicts()]) + "\n"]


RULE_ORDER = ("official:exact", "official:letter", "official:prefix", "official:sentence", "official:index",
              "official:regex", "t3:exact", "t3:letter", "t3:option", "fallback:normalized", "fallback:start",
              "fallback:markdown", "fallback:lead-phrase", "fallback:contained", "fallback:explicit",
              "fallback:first-stated", "fallback:true-false")


def match_rule_section(pred: pl.DataFrame, variants: pl.DataFrame) -> list[str]:
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
        md.append(md_table(["variant"] + rules + ["n"], rows) + "\n")
    return md


def chance_levels(pred: pl.DataFrame) -> dict[str, float]:
    """Per benchmark, the accuracy of uniform guessing: mean over items of 1 / n_options (yes/no: 1/2)."""
    if pred.is_empty() or "options" not in pred.columns:
        return {}
    n = pl.col("options").list.len()
    per = pred.select("benchmark", pl.when(n > 0).then(1.0 / n).otherwise(0.5).alias("p"))
    return dict(per.group_by("benchmark").agg(pl.col("p").mean()).iter_rows())


def verdict(res: pl.DataFrame, chance: dict[str, float] | None = None) -> tuple[list[list], str]:
    """Per benchmark: base vs the best trained variant (all items) with the paired 95% CI, and one reading.

    A change counts only when its CI excludes zero. The reading separates the three outcomes a user must
    tell apart: training taught nothing measurable (no text benchmark gains: look at the training first),
    text gains without video gains (no transfer measured), and video gains (transfer measured). A gain
    whose accuracy CI still holds the chance level (`chance`, per benchmark) is called "to chance": a
    base that answered out of format and a trained model that guesses in format.
    """
    chance = chance or {}
    overall = res.filter(pl.col("aspect") == "all")
    base = overall.filter(pl.col("volume") == 0)
    rows, gains = [], {"text": [], "video": [], "chance": []}
    for bench in overall["benchmark"].unique().sort().to_list():
        trained = overall.filter((pl.col("benchmark") == bench) & (pl.col("volume") > 0) & pl.col("delta").is_not_null())
        b = base.filter(pl.col("benchmark") == bench)
        if trained.is_empty() or b.is_empty():
            continue
        best = trained.sort("accuracy", "volume", descending=[True, False]).row(0, named=True)
        lo, hi = best["delta_ci_low"], best["delta_ci_high"]
        call = "gain" if lo is not None and lo > 0 else "loss" if hi is not None and hi < 0 else "no measurable change"
        c = chance.get(bench)
        if call == "gain" and c is not None and best["ci_low"] is not None and best["ci_low"] <= c:
            call = "to chance"
        if call in ("gain", "to chance"):
            gains.setdefault(best["modality"] if call == "gain" else "chance", []).append(bench)
        rows.append([f"`{bench}`", best["modality"], _pct(b["accuracy"][0]), _pct(c),
                     f"{best['label']}: {_pct(best['accuracy'])}",
                     f"{_signed(best['delta'])} [{_signed(lo)}, {_signed(hi)}]", call])
    if not rows:
        return rows, "No trained variant has paired results against the base yet."
    if gains["video"]:
        reading = (f"Video accuracy rose on {', '.join(gains['video'])}: text-only training transferred to video "
                   "for this base.")
    elif gains["text"]:
        reading = (f"Training raised {', '.join(gains['text'])}, but no video benchmark moved beyond its CI: "
                   "the text task was learned and no text-to-video transfer was measured for this base.")
    else:
        reading = ("No benchmark, text or video, rose above chance beyond its CI: the training taught nothing measurable. "
                   "Check the training (loss curves, data volume, learning rate) before reading the video numbers.")
        if gains["chance"]:
            reading += (f" ({', '.join(gains['chance'])} rose only to chance: the base answered out of format, the "
                        "trained model answers in format and guesses.)")
    return rows, reading


def verdict_section(res: pl.DataFrame, pred: pl.DataFrame) -> list[str]:
    rows, reading = verdict(res, chance_levels(pred))
    md = []
    if rows:
        md.append(md_table(["benchmark", "modality", "base (%)", "chance (%)", "best trained (%)", "change, 95% CI (points)",
                             "call"], rows))
    md.append(f"\n**Reading:** {reading}\n")
    return md
