"""An exclusive lock on a runs dir, so two sweeps cannot write the same stage directories at once.

    from ablate.sweep.lock import RunsLock
    with RunsLock("runs", "data_scale"):
        ...   # a second sweep on "runs" now fails at once with a clear UserError

flock(2) on `runs/.lock`: the kernel drops it when the holder exits, however it exits (kill -9
included), so a crash never leaves a stale lock. The file also says who holds it, for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from ablate.core import UserError


class RunsLock:
    def __init__(self, runs_dir: str | Path, what: str = "sweep"):
        self.path = Path(runs_dir) / ".lock"
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "RunsLock":
        from ablate.fs import doing, ensure_dir

        ensure_dir(self.path.parent, "creating the runs dir", "--runs-dir")
        with doing("locking the runs dir", self.path, "--runs-dir"):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            except ValueError:
                holder = {}
            holder = holder if isinstance(holder, dict) else {}
            os.close(fd)
            raise UserError(
                f"{self.path.parent}: runs dir is in use by another sweep (pid {holder.get('pid', '?')}, "
                f"recipe {holder.get('recipe', '?')}, since {holder.get('since', '?')}); wait for it to "
                f"finish, or use another --runs-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "recipe": self.what,
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
