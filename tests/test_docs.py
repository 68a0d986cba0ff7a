"""README.md and docs/ against the code: every command shown parses against the real CLI (the cheap
ones run), README's report excerpt and recipe are verbatim copies of the files, and every page is linked.

    .venv/bin/pytest tests/test_docs.py -q

A command block is a code block (fenced or indented) whose first line starts a command (`ablate`,
`python`, `pip`, `ray`, `export`, `. .venv/...`); every line of it is a command, and a line this test
does not know how to check fails it, so a new kind of command gets a check here before it is
documented. Inline code spans that start with `ablate ` name a command and its flags: the command must
exist and each flag must be in its `--help`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ablate.base import EMBEDDED

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "research" / "README.md"]
# commands cheap enough to run for real here (no torch, no model): they must succeed
RUN = ("ablate validate recipes/data_scale.toml", "ablate plan recipes/data_scale.toml",
       "ablate validate --no-path-check recipes/qwen2vl_paper.toml", "ablate --help")


STARTS = ("ablate ", "python ", "python3 ", ".venv/bin/python ", "pip ", "ray ", "export ", ". .venv/")


def _blocks(text: str) -> list[list[str]]:
    """Fenced code blocks (bash / sh / console / no language) and indented blocks, as lists of lines."""
    blocks, cur, fence, prev_blank = [], None, None, True
    for line in text.splitlines():
        if fence is not None:  # inside a fenced block
            if line.startswith("```"):
                if fence in ("", "bash", "sh", "console"):
                    blocks.append(cur)
                fence, cur = None, None
            else:
                cur.append(line)
        elif line.startswith("```"):
            fence, cur = line[3:].strip(), []
        elif line.startswith("    ") and line.strip():
            if cur is None and prev_blank:  # an indented block starts after a blank line (one per paragraph)
                cur = []
                blocks.append(cur)
            if cur is not None:
                cur.append(line[4:])
        else:
            cur = None  # a paragraph line or a blank line ends an indented block
        prev_blank = not line.strip()
    return blocks


def _commands(page: Path) -> list[str]:
    """Command lines of a page's command blocks (continuations joined, comments and && split off)."""
    cmds = []
    for block in _blocks(page.read_text()):
        first = next((x.strip() for x in block if x.strip() and not x.lstrip().startswith("#")), "")
        if not first.startswith(STARTS):
            continue  # a layout tree, an output sample
        joined: list[str] = []
        for line in block:
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
            else:
                joined.append(line.strip())
        for line in joined:
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                cmds += [c.strip() for c in line.split("&&")]
    return cmds


def _inline(page: Path) -> list[str]:
    return re.findall(r"`(ablate [^`]+)`", page.read_text())


def _all_commands() -> list[tuple[str, str]]:
    return sorted({(p.relative_to(ROOT).as_posix(), c) for p in PAGES for c in _commands(p)})


def _all_inline() -> list[tuple[str, str]]:
    return sorted({(p.relative_to(ROOT).as_posix(), c) for p in PAGES for c in _inline(p)})


def _parse_ablate(argv: list[str]) -> None:
    from ablate.cli import build_parser

    parser = build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as e:  # argparse: 0 after --help, 2 for an unknown flag / subcommand / bad value
        assert e.code == 0, f"`ablate {' '.join(argv)}` does not parse (exit {e.code})"


_HELP: dict[str, str] = {}


def _script_help(script: str) -> str:
    if script not in _HELP:
        r = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
        assert r.returncode == 0, f"{script} --help failed:\n{r.stderr[-2000:]}"
        _HELP[script] = r.stdout
    return _HELP[script]


def _check(cmd: str, capsys, tmp_path, monkeypatch) -> None:
    words = shlex.split(cmd)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    if words[0] == "ablate":
        argv = [w.replace("recipes/*.toml", "recipes/smoke.toml") for w in words[1:]]
        if cmd in RUN:
            from ablate.cli import main

            monkeypatch.chdir(ROOT)
            extra = ["--runs-dir", str(tmp_path / "runs")] if argv[0] == "plan" else []
            try:
                rc = main(argv + extra)
            except SystemExit as e:  # --help
                rc = e.code
            assert rc == 0, f"`{cmd}` exited {rc}:\n{capsys.readouterr()}"
        else:
            _parse_ablate(argv)
    elif words[:2] == ["pip", "install"]:
        m = re.fullmatch(r"\.\[([a-z,]+)\]", words[-1])
        assert words[2:3] == ["-e"] and m, cmd
        assert set(m.group(1).split(",")) <= set(extras), f"{cmd}: unknown extra"
    elif words[:3] == ["python3", "-m", "venv"] or words[:2] == [".", ".venv/bin/activate"]:
        pass  # creating and activating the venv: shell steps with nothing of ablate's to check
    elif words[:3] == ["python", "-m", "pytest"]:
        markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
        known = {m.split(":")[0] for m in markers}
        if "-m" in words[3:]:
            expr = words[words.index("-m", 3) + 1]
            assert set(re.findall(r"[a-z_]+", expr)) - {"not", "and", "or"} <= known, cmd
    elif words[0] in ("python", ".venv/bin/python") and words[1].endswith(".py"):
        assert (ROOT / words[1]).is_file(), f"{cmd}: no such script"
        help_text = _script_help(words[1])
        for w in words[2:]:
            if w.startswith("--"):
                assert w.split("=")[0] in help_text, f"{cmd}: {w} is not a flag of {words[1]}"
    elif words[0] == "export":
        for w in words[1:]:
            assert w.split("=")[0] in ("ABLATE_CACHE", "ABLATE_NODE_CACHE"), f"{cmd}: not a variable ablate reads"
    elif words[:2] in (["ray", "start"], ["ray", "stop"]):
        assert "ray" in extras  # Ray's own CLI, from the `ray` extra
    else:
        pytest.fail(f"no check for this command: {cmd}")


@pytest.mark.parametrize("page,cmd", _all_commands(), ids=[f"{p}:{c[:60]}" for p, c in _all_commands()])
def test_every_documented_command_parses_and_the_cheap_ones_run(page, cmd, capsys, tmp_path, monkeypatch):
    _check(cmd, capsys, tmp_path, monkeypatch)


def _help_of(path: list[str], capsys) -> str:
    from ablate.cli import build_parser

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([*path, "--help"])
    assert e.value.code == 0, f"`ablate {' '.join(path)}` is not a command"
    return capsys.readouterr().out


@pytest.mark.parametrize("page,span", _all_inline(), ids=[f"{p}:{c[:60]}" for p, c in _all_inline()])
def test_every_command_named_inline_exists_with_its_flags(page, span, capsys):
    words = shlex.split(span)[1:]
    path = []
    for w in words:  # the subcommand path: words up to the first flag or argument-looking word
        if w.startswith("-") or "/" in w or "." in w or w.isupper() or w in EMBEDDED:
            break
        path.append(w)
    help_text = _help_of(path, capsys)
    rest = words[len(path):]
    for w in rest[:rest.index("--")] if "--" in rest else rest:  # after `--`: the wrapped script's own flags
        if w.startswith("--") and w != "--help":
            assert w.split("=")[0] in help_text, f"`{span}`: {w} is not a flag of `ablate {' '.join(path)}`"


def test_the_command_checks_can_fail(capsys, tmp_path, monkeypatch):
    for bad in ("ablate sweep recipes/smoke.toml --no-such-flag", "ablate frobnicate", 'pip install -e ".[nope]"',
                "python benchmarks/bench_synth.py --no-such-flag", "make world"):
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            _check(bad, capsys, tmp_path, monkeypatch)


def test_readme_is_short_links_every_page_and_its_copies_are_verbatim():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in (ROOT / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in readme, f"README does not link docs/{page.name}"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: broken link {target}"
    excerpt = re.search(r"<!-- excerpt: (\S+) .*?-->\n(.*?)<!-- end excerpt -->", readme, re.S)
    assert excerpt and excerpt.group(2).strip() in (ROOT / excerpt.group(1)).read_text()
    toml = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    assert toml == (ROOT / "recipes" / "data_scale.toml").read_text()
    assert (ROOT / ".ci" / "run").read_text().count('pip install -e ".[cpu,dev,ray]"') == 1  # CI installs as README says
    assert 'pip install -e ".[cpu,dev,ray]" && ablate sweep recipes/data_scale.toml' in readme
    assert ". .venv/bin/activate && python -m pytest -q" in readme


def test_docs_page_parser_sees_commands(tmp_path):
    page = ("Text `ablate plan x.toml` here.\n\n    ablate sweep a.toml \\\n        --force eval   # note\n\n"
            "    t3/   a tree, not a command\n\n```bash\npython3 -m venv .venv && . .venv/bin/activate\n```\n")
    p = tmp_path / "page.md"
    p.write_text(page)
    assert _commands(p) == ["ablate sweep a.toml --force eval", "python3 -m venv .venv", ". .venv/bin/activate"]
    assert _inline(p) == ["ablate plan x.toml"]
