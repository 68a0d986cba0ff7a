"""The sweep's live view: one row per variant (stage, progress, loss, text / video accuracy, elapsed,
ETA) and one summary line per finished stage.

    from ablate.sweep.live import Live
    with Live([("a1b2", "all/v250"), ("c3d4", "base")]) as live:
        live.update("a1b2", stage="train", progress=0.5, loss=0.81)
        live.summary("train", "1 trained, 0 cached, 0 failed")

On a TTY this is a rich Live table redrawn a few times a second. Otherwise (CI, `| tee`, log files)
it prints plain, greppable lines: `[sweep] all/v250 train 50% loss=0.810` when a variant changes
stage or passes another 25% of its stage, and `[sweep:train] 1 trained, ...` per stage.
"""

from __future__ import annotations

import time

from ablate.ui import console, is_tty


def _fmt(x, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}" if pct else f"{x:.3f}"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 60}:{s % 60:02d}"


class Live:
    def __init__(self, variants: list[tuple[str, str]], tty: bool | None = None):
        self.rows = {vid: {"label": label, "stage": "pending", "progress": None, "loss": None, "text_acc": None,
                           "video_acc": None, "started": None, "t0": None, "t_end": None, "note": ""} for vid, label in variants}
        self.tty = is_tty() if tty is None else tty
        self.lines: list[str] = []
        self._live = None
        self._printed: dict[str, tuple] = {}

    def __enter__(self) -> "Live":
        if self.tty:
            from rich.live import Live as RichLive

            self._live = RichLive(self._table(), console=console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)
            self._live = None

    def update(self, vid: str, **fields) -> None:
        row = self.rows.get(vid)
        if row is None:
            return
        if "stage" in fields and fields["stage"] != row["stage"]:
            row["started"] = time.time()
            row["t0"] = row["t0"] or row["started"]
            ended = fields["stage"] == "done" or fields["stage"].startswith("failed")
            row["t_end"] = row["started"] if ended else None
        row.update({k: v for k, v in fields.items() if k in row and k != "started"})
        if "detail" in fields:
            row["note"] = fields["detail"]
        if self._live is not None:
            self._live.update(self._table())
        else:
            self._plain(vid, row)

    def _plain(self, vid: str, row: dict) -> None:
        quarter = int((row["progress"] or 0) * 4)
        key = (row["stage"], quarter)
        if self._printed.get(vid) == key:
            return
        self._printed[vid] = key
        parts = [f"[sweep] {row['label']} {row['stage']}"]
        if row["progress"] is not None:
            parts.append(f"{100 * row['progress']:.0f}%")
        for k in ("loss", "text_acc", "video_acc"):
            if row[k] is not None:
                parts.append(f"{k}={_fmt(row[k], pct=k != 'loss')}")
        if row["note"]:
            parts.append(row["note"])
        self._print(" ".join(parts))

    def _print(self, line: str) -> None:
        self.lines.append(line)
        if self._live is not None:
            self._live.console.print(line, highlight=False, markup=False)
        else:
            print(line, flush=True)

    def summary(self, stage: str, msg: str) -> None:
        self._print(f"[sweep:{stage}] {msg}")

    def _table(self):
        from rich.table import Table

        t = Table(title="ablate sweep", expand=False)
        for col in ("variant", "stage", "progress", "loss", "text acc", "video acc", "elapsed", "ETA", ""):
            t.add_column(col)
        now = time.time()
        for row in self.rows.values():
            p = row["progress"]
            el = (row["t_end"] or now) - row["t0"] if row["t0"] else None
            in_stage = now - row["started"] if row["started"] and not row["t_end"] else None
            eta = in_stage * (1 - p) / p if in_stage and p and 0 < p < 1 else None
            bar = "-" if p is None else "#" * int(10 * p) + "." * (10 - int(10 * p)) + f" {100 * p:.0f}%"
            style = "red" if row["stage"].startswith("failed") else ("green" if row["stage"] == "done" else None)
            t.add_row(row["label"], row["stage"], bar, _fmt(row["loss"]), _fmt(row["text_acc"], True),
                      _fmt(row["video_acc"], True), _dur(el), _dur(eta), row["note"][:40], style=style)
        return t
