"""Helpers of the hostile-input suite: run the CLI entry point in-process and check what it said.

    def test_x(cli, tmp_path):
        r = cli("validate", str(tmp_path / "x.toml"))
        r.user_error("x.toml:3:", "key `data.pool`")      # exit 2, those words on stderr, no traceback

Every case goes through `ablate.cli.main` (the `ablate` command), never through internal modules, so
the suite holds while the package layout moves.
"""

from __future__ import annotations

import dataclasses

import pytest


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str

    def user_error(self, *needles: str) -> "Result":
        """Exit status 2, every needle in the message, no traceback."""
        assert "Traceback" not in self.out + self.err, self.out + self.err
        assert self.code == 2, f"exit {self.code}\nstdout: {self.out[-2000:]}\nstderr: {self.err[-2000:]}"
        for n in needles:
            assert n in self.err, f"{n!r} not in:\n{self.err}"
        return self

    def ok(self) -> "Result":
        assert "Traceback" not in self.out + self.err, self.out + self.err
        assert self.code == 0, f"exit {self.code}\nstdout: {self.out[-2000:]}\nstderr: {self.err[-2000:]}"
        return self


@pytest.fixture
def cli(capsys):
    from ablate.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse rejects a bad option with exit status 2
            code = e.code if isinstance(e.code, int) else 1
        cap = capsys.readouterr()
        return Result(code, cap.out, cap.err)

    return run
