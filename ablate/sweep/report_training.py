"""The report's Training section: per mix a figure of loss (and learning rate) against training rows for
every volume, and a table per variant, read from each cell's loss.parquet and manifest.json.

    from ablate.sweep.report_training import training_cells, training_section
    md = training_section(sweep_record, Path("reports/data_scale"))   # Markdown lines + training_<mix>.png
    [c["flag"] for c in training_cells(sweep_record)]                    # "" or why the cell looks wrong

    $ ablate report recipes/data_scale.toml      # the section sits after the Outcome, which links to it

A trained variant of the sweep record names its adapter dir (`adapter`, written by the runner; else
runs/train/<its train key> beside it). loss.parquet has one row per optimizer step (step, loss,
learning_rate, grad_norm, tokens, elapsed_s; ablate.train.loop). First and last loss are the means of the
first and last 5% of the steps (at least one step each); a cell is flagged when its loss did not fall
(last >= first) or went non-finite (NaN / inf at any step). Rows on the x axis are optimizer steps times
the effective batch (batch_size x grad_accum), capped at the rows the run saw (samples x epochs).
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

EDGE = 0.05  # share of the steps averaged for the first and the last loss


def loss_summary(loss: pl.DataFrame) -> dict:
    """steps, first / last loss (means of the first / last 5% of steps), finite, flag for one loss.parquet."""
    n = loss.height
    k = max(1, math.ceil(EDGE * n))
    values = loss["loss"].cast(pl.Float64)
    finite = bool(n) and bool(values.is_finite().all())
    first = float(values.head(k).mean()) if n else float("nan")
    last = float(values.tail(k).mean()) if n else float("nan")
    if not n:
        flag = "no steps logged"
    elif not finite:
        flag = "non-finite loss"
    elif last >= first:
        flag = "loss did not fall"
    else:
        flag = ""
    return {"steps": n, "first_loss": first, "last_loss": last, "finite": finite, "flag": flag}


def _adapter_dir(v: dict, record: dict) -> Path | None:
    if v.get("adapter"):
        return Path(v["adapter"])
    key = (v.get("stages") or {}).get("train")
    others = [Path(x["adapter"]).parent for x in record["variants"] if x.get("adapter")]
    return others[0] / key if key and others else None


def training_cells(record: dict) -> list[dict]:
    """One dict per trained variant (volume > 0): label, mix, volume, dir, loss (DataFrame or None),
    manifest, rows, summary fields and flag; a cell without loss.parquet says why in `flag`."""
    import json

    cells = []
    for v in record["variants"]:
        if not v.get("volume"):
            continue
        d = _adapter_dir(v, record)
        cell = {"label": v["label"], "mix": v.get("mix") or "-", "volume": v["volume"], "dir": d, "loss": None,
                "manifest": {}, "steps": 0, "first_loss": None, "last_loss": None, "finite": True, "flag": ""}
        f = d / "loss.parquet" if d else None
        if f is None or not f.is_file():
            cell["flag"] = f"not trained ({v.get('status', '?')})" if v.get("status") != "done" else "no loss.parquet"
            cells.append(cell)
            continue
        try:
            loss = pl.read_parquet(f).sort("step")
            man = json.loads((d / "manifest.json").read_text()) if (d / "manifest.json").is_file() else {}
        except Exception as e:  # noqa: BLE001 - polars raises several types for a damaged file
            cell["flag"] = f"unreadable {f.name} ({type(e).__name__})"
            cells.append(cell)
            continue
        opts = man.get("options") or {}
        batch = int(opts.get("batch_size") or 1) * int(opts.get("grad_accum") or 1)
        seen = man.get("samples", v["volume"]) * float(man.get("epochs") or 1.0)
        loss = loss.with_columns(pl.min_horizontal(pl.col("step") * batch, pl.lit(seen)).alias("rows"))
        cell.update(loss=loss, manifest=man, **loss_summary(loss))
        cells.append(cell)
    return cells


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _num(x, fmt: str = ".4f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _figure(mix: str, cells: list[dict], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, axlr) = plt.subplots(2, 1, figsize=(6.4, 5.0), sharex=True, height_ratios=[3, 1])
    for c in sorted(cells, key=lambda c: c["volume"]):
        df = c["loss"]
        x = df["rows"].to_numpy()
        line, = ax.plot(x, df["loss"].to_numpy(), lw=1, label=f"v{c['volume']}" + (" (!)" if c["flag"] else ""))
        axlr.plot(x, df["learning_rate"].to_numpy(), lw=1, color=line.get_color())
    vols = [c["volume"] for c in cells]
    if max(vols) >= 4 * min(vols):  # volumes 250 .. 4000: on a linear axis the small ones are a sliver
        axlr.set_xscale("log", base=2)
    ax.set_ylabel("training loss")
    ax.set_title(f"mix {mix}: loss per optimizer step, by training volume", fontsize=9)
    ax.legend(fontsize=7, title="volume (rows)", title_fontsize=7)
    axlr.set_ylabel("learning rate", fontsize=8)
    axlr.set_xlabel("training rows seen" + (" (log2)" if axlr.get_xscale() == "log" else ""))
    axlr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    name = f"training_{mix}.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def training_section(record: dict, out: Path, cells: list[dict] | None = None) -> list[str]:
    """Markdown lines of the Training section; writes training_<mix>.png into `out`."""
    cells = training_cells(record) if cells is None else cells
    if not cells:
        return ["No trained variant in this sweep (volume 0 only).\n"]
    md = [f"Loss per optimizer step against the training rows seen, learning rate below it (one figure per mix). "
          f"First / last loss: mean of the first / last {EDGE:.0%} of the steps; flagged: the loss did not fall "
          "(last >= first) or went non-finite.\n"]
    for mix in dict.fromkeys(c["mix"] for c in cells):
        curves = [c for c in cells if c["mix"] == mix and c["loss"] is not None and c["loss"].height]
        if curves:
            md.append(f"![training loss, mix {mix}]({_figure(mix, curves, out)})\n")
    rows = []
    for c in sorted(cells, key=lambda c: (c["mix"], c["volume"], c["label"])):
        m = c["manifest"]
        rows.append([c["label"], m.get("samples", c["volume"]), c["steps"] or "-", _num(c["first_loss"]),
                     _num(c["last_loss"]), _num(m.get("samples_per_s"), ".1f"), _num(m.get("train_seconds"), ".1f"),
                     f"**{c['flag']}**" if c["flag"] else "ok"])
    md.append(_md_table(["variant", "rows", "steps", "first loss", "last loss", "samples/s", "wall time (s)", "flag"],
                        rows) + "\n")
    logs = sorted({str(c["dir"].parent) for c in cells if (c["manifest"].get("tracking") or {}).get("log_dir")})
    if logs:
        md.append("Every step of every cell, side by side and named by variant: "
                  + ", ".join(f"`tensorboard --logdir {d}`" for d in logs) + ".\n")
    return md


def outcome_link(cells: list[dict]) -> str:
    """The Outcome section's line pointing at the Training section, with the flagged cells named."""
    flagged = [c for c in cells if c["flag"]]
    if not cells:
        return ""
    if not flagged:
        return f"Training: the loss fell in all {len(cells)} trained cells; curves and rates in [Training](#training).\n"
    names = ", ".join(f"{c['label']} ({c['flag']})" for c in flagged)
    return f"Training: {len(flagged)} of {len(cells)} trained cells flagged: {names}; see [Training](#training).\n"
