"""Where ablate meets the filesystem: an OSError on ablate's own files becomes a UserError that says
which path, what ablate was doing with it, and how to fix it (exit status 2, no traceback).

    from ablate.fs import doing, ensure_dir, writable_dir
    runs = writable_dir(args.runs_dir, "creating the runs dir", "--runs-dir")
    with doing("writing the sweep record", path, "--runs-dir"):
        write_json(path, record)

`doing` wraps a narrow block that creates, writes or renames ablate's own files; anything else
(reading a user's input, a bug) keeps its own error. `ablate.cli.main` turns the OSErrors nobody
wrapped into the same message when they are plainly the environment's (permission, read-only
filesystem, full disk, a file or directory in the way) and name a path; every other exception keeps
its traceback. See docs/errors.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

from t3.util import UserError

#: errnos that describe the environment, not a bug in ablate (the CLI's fallback converts only these)
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EEXIST,
                      errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}


def _errno(e: OSError) -> int | None:
    """e.errno, or the `(os error N)` that Rust libraries (polars) put in the message instead."""
    if e.errno is not None:
        return e.errno
    m = re.search(r"\(os error (\d+)\)", str(e))
    return int(m.group(1)) if m else None


def _blocker(path: Path) -> Path | None:
    """The first existing component of `path` (itself or a parent) that is not a directory."""
    for p in [*reversed(path.parents), path]:
        if p.exists() and not p.is_dir():
            return p
    return None


def _fix(e: OSError, path: Path, option: str | None) -> str:
    other = ("choose another location" if not option else f"set {option} to another directory" if option[:1].isupper()
             else f"give another {option}")
    code = _errno(e)
    if code in (errno.EEXIST, errno.ENOTDIR):
        b = _blocker(path) or path
        return f"{b} is a file where ablate needs a directory: move it away or {other}"
    if code == errno.EISDIR:
        target = getattr(e, "filename2", None) or e.filename or path
        return f"{target} is a directory where ablate writes a file: move it away or {other}"
    if code in (errno.EACCES, errno.EPERM):
        return f"this user may not write there: make it writable (chmod / chown) or {other}"
    if code == errno.EROFS:
        return f"the filesystem is read-only: {other} on a writable disk"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"the disk (or quota) is full: free space, or {other}, and run the same command again; "
                "finished stages are kept and only the interrupted one is redone")
    if code == errno.ENOENT:
        return "the path disappeared while ablate was using it (deleted or unmounted?): restore it and run again"
    if code == errno.ENAMETOOLONG:
        return f"the path is too long for this filesystem: {other} with a shorter path"
    return f"check the path, or {other}"


def os_user_error(e: OSError, what: str, path: str | Path | None = None, option: str | None = None) -> UserError:
    """The UserError for OSError `e` raised while `what` ("creating the runs dir") on `path`;
    `option` is the flag or variable that chose the path (--runs-dir, ABLATE_CACHE), named in the fix."""
    path = Path(path if path is not None else (e.filename or "?"))
    n = _errno(e)
    reason = e.strerror or (os.strerror(n) if n else str(e) or type(e).__name__)
    code = errno.errorcode.get(n, "") if n else ""
    where = f" ({e.filename})" if e.filename and Path(e.filename) != path else ""
    return UserError(f"{path}: {what} failed: {reason}{' [' + code + ']' if code else ''}{where}. "
                     f"Fix: {_fix(e, Path(e.filename) if e.filename else path, option)}.")


@contextlib.contextmanager
def doing(what: str, path: str | Path, option: str | None = None) -> Iterator[None]:
    """Turn an OSError the environment caused inside the block (ENVIRONMENT_ERRNOS, or the path vanishing:
    ENOENT) into os_user_error(e, what, path, option); any other OSError (EBADF ...) is a bug and stays."""
    try:
        yield
    except OSError as e:
        if _errno(e) not in ENVIRONMENT_ERRNOS | {errno.ENOENT}:
            raise
        raise os_user_error(e, what, path, option) from None


def ensure_dir(path: str | Path, what: str, option: str | None = None) -> Path:
    """mkdir -p `path`, or a UserError naming it (a file in the way, no permission, read-only ...)."""
    path = Path(path)
    with doing(what, path, option):
        if path.exists() and not path.is_dir():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        path.mkdir(parents=True, exist_ok=True)
    return path


def writable_dir(path: str | Path, what: str, option: str | None = None) -> Path:
    """ensure_dir, then create and remove a probe file in it: a read-only or full location fails
    here, before any work, instead of after an hour of it."""
    path = ensure_dir(path, what, option)
    with doing(what, path, option):
        fd, probe = tempfile.mkstemp(prefix=".ablate-probe-", dir=path)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(probe)
    return path


def output_dir(path: str | Path, what: str, option: str | None = None) -> Path:
    """Check, before any work, that `path` can take a directory of results: it is absent or a
    directory, and its parent is (or can be made) a writable directory."""
    path = Path(path)
    blocker = _blocker(path)
    if blocker is not None:
        raise os_user_error(FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(blocker)), what, path, option)
    writable_dir(path if path.is_dir() else path.parent, what, option)
    return path


def is_environment_error(e: BaseException) -> bool:
    """An OSError the environment caused (ENVIRONMENT_ERRNOS) about a named path, or a full or read-only
    disk (often reported by write() without a path): what the CLI and the sweep worker convert."""
    if not isinstance(e, OSError) or _errno(e) not in ENVIRONMENT_ERRNOS:
        return False  # polars' errors have no errno attribute, only "(os error N): path" in the message
    return e.filename is not None or e.errno is None or e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
