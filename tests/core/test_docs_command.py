"""The docs reach whoever has edgeprof: `edgeprof docs` lists and prints the repository's docs/*.md (shipped in the
package), and what edgeprof tells a user points at them by `edgeprof docs TOPIC`, never by a repository path."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeprof.cli import command_app
from edgeprof.cli.examples import EXAMPLES

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md"))
TOPIC_REFERENCE = re.compile(r"edgeprof docs ([a-z][a-z-]*)")
DOC_PATH = re.compile(r"docs/[\w-]+\.md")


def edgeprof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], capture_output=True, text=True, timeout=60)


def test_docs_lists_every_doc_by_name_and_title() -> None:
    listed = edgeprof("docs")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split(maxsplit=1) for line in listed.stdout.splitlines()]
    assert [name for name, _ in rows] == [path.stem for path in DOCS]
    titles = {path.stem: path.read_text().splitlines()[0].removeprefix("# ") for path in DOCS}
    assert all(title.strip() == titles[name] for name, title in rows)


@pytest.mark.parametrize("topic", ["verdicts", "verdicts.md", "docs/verdicts.md"])
def test_a_topic_piped_is_its_markdown_file(topic: str) -> None:
    shown = edgeprof("docs", topic)
    assert shown.returncode == 0 and shown.stdout == (REPO / "docs" / "verdicts.md").read_text()


def test_a_topic_in_a_terminal_is_formatted() -> None:
    """On a real pseudo-terminal the doc comes formatted by rich: the heading's text without its '#', in colour."""
    main, side = os.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm-256color"}
    with subprocess.Popen([sys.executable, "-m", "edgeprof", "docs", "verdicts"], stdout=side, stderr=subprocess.PIPE,
                          env=env) as proc:
        os.close(side)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    os.close(main)
    shown = b"".join(chunks).decode()
    assert "\x1b[" in shown and "Verdicts and recommendations" in shown
    assert "# Verdicts" not in shown and "`edgeprof/verdicts.py`" not in shown


def test_an_unknown_topic_is_one_line_with_the_closest_names() -> None:
    wrong = edgeprof("docs", "verdict")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr == "edgeprof: error: no doc called 'verdict': did you mean verdicts? (`edgeprof docs` lists them)\n"
    far = edgeprof("docs", "zzz")
    assert far.returncode == 2 and all(path.stem in far.stderr for path in DOCS)


def _help_pages() -> dict[str, str]:
    app = command_app(None)
    pages = {"": CliRunner().invoke(app, ["--help"], prog_name="edgeprof", terminal_width=200).output}
    for command in EXAMPLES:
        pages[command] = CliRunner().invoke(app, [*command.split(), "--help"], prog_name="edgeprof",
                                            terminal_width=200).output
    return pages


def _user_facing_strings() -> dict[str, str]:
    """Every string literal in edgeprof/ but docstrings (messages, help, legends), by where it is."""
    found = {}
    for path in (REPO / "edgeprof").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found[f"{path.relative_to(REPO)}:{node.lineno}"] = node.value
    return found


def test_help_and_messages_name_docs_as_topics_that_exist() -> None:
    """A wheel installs no docs/ folder: a --help page (a command's docstring included) or a message names a doc
    as `edgeprof docs TOPIC`, and every topic so named exists."""
    topics = {path.stem for path in DOCS}
    texts = {f"--help of 'edgeprof {name}'": page for name, page in _help_pages().items()} | _user_facing_strings()
    by_path = {where: DOC_PATH.findall(text) for where, text in texts.items() if DOC_PATH.search(text)}
    assert not by_path, f"docs named by a repository path: {by_path}"
    named = {(where, topic) for where, text in texts.items() for topic in TOPIC_REFERENCE.findall(" ".join(text.split()))}
    assert {topic for _, topic in named} <= topics, named
    assert any(where.startswith("--help of 'edgeprof explain'") for where, _ in named)
