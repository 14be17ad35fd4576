"""The user docs that ship inside the package: `edgeprof docs` lists their topics and prints one.

They are the repository's docs/*.md, reached through the link edgeprof/docs -> ../docs and packaged from there
(pyproject.toml's package-data), so there is one copy of each, and a wheel carries them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from edgeprof.errors import ConfigError
from edgeprof.paths import package_path

DOCS = "docs"


@dataclass(frozen=True)
class Topic:
    """One doc: its name (`edgeprof docs NAME`), its title (the first heading) and its file."""

    name: str
    title: str
    path: Path

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def _title(path: Path) -> str:
    with path.open(encoding="utf-8") as lines:
        return next((line.lstrip("#").strip() for line in lines if line.startswith("# ")), path.stem)


def topics() -> list[Topic]:
    """Every shipped doc, by name."""
    return [Topic(path.stem, _title(path), path) for path in sorted(package_path(DOCS).glob("*.md"))]


def topic(name: str) -> Topic:
    """The doc called `name` (its file name without .md, as `edgeprof docs` lists it); ConfigError naming the
    closest topics, or all of them, for another name."""
    known = {t.name: t for t in topics()}
    wanted = name.removesuffix(".md").removeprefix("docs/")
    if wanted in known:
        return known[wanted]
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else f"topics: {', '.join(known)}"
    raise ConfigError(f"no doc called '{name}': {hint} (`edgeprof docs` lists them)")
