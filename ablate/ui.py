"""Terminal output: rich progress bars on a TTY, plain greppable lines otherwise.

    from ablate.ui import progress, console
    with progress("train", total=500) as bar:
        for step in ...:
            bar.advance(1, loss=f"{loss:.3f}")

When stdout is not a terminal (CI, `| tee`, the sweep's log files) each bar prints at most ~10 lines
of the form `[train] 250/500 (50%) loss=0.412 12.3/s`, plus a final line.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def is_tty() -> bool:
    return sys.stdout.isatty()


class _PlainBar:
    def __init__(self, name: str, total: int | None, every: float = 0.1):
        self.name, self.total, self.done = name, total, 0
        self.start = time.perf_counter()
        self._next = every
        self._every = every
        self.fields: dict[str, str] = {}

    def _line(self) -> str:
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        pos = f"{self.done}/{self.total} ({100 * self.done / self.total:.0f}%)" if self.total else f"{self.done}"
        extra = "".join(f" {k}={v}" for k, v in self.fields.items())
        return f"[{self.name}] {pos}{extra} {rate:.1f}/s"

    def advance(self, n: int = 1, **fields) -> None:
        self.done += n
        self.fields.update({k: str(v) for k, v in fields.items()})
        if self.total and self.done / self.total >= self._next:
            print(self._line(), flush=True)
            while self._next <= self.done / self.total:
                self._next += self._every

    def update(self, **fields) -> None:
        self.fields.update({k: str(v) for k, v in fields.items()})

    def close(self) -> None:
        if not self.total or self.done < self.total:
            print(self._line(), flush=True)


class _RichBar:
    def __init__(self, progress, task, name):
        self._p, self._t, self.name = progress, task, name
        self.fields: dict[str, str] = {}

    def advance(self, n: int = 1, **fields) -> None:
        self.fields.update({k: str(v) for k, v in fields.items()})
        self._p.update(self._t, advance=n, info=" ".join(f"{k}={v}" for k, v in self.fields.items()))

    def update(self, **fields) -> None:
        self.advance(0, **fields)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def progress(name: str, total: int | None = None, enabled: bool = True) -> Iterator[_PlainBar | _RichBar]:
    """A progress bar named `name`; `bar.advance(n, **fields)` shows fields such as loss or hits."""
    if enabled and is_tty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
        ) as p:
            task = p.add_task(name, total=total, info="")
            yield _RichBar(p, task, name)
    else:
        bar = _PlainBar(name, total)
        try:
            yield bar
        finally:
            if enabled:
                bar.close()
