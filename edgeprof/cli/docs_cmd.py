"""`edgeprof docs`: the user guide shipped inside the package (edgeprof.manual), listed or printed."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from edgeprof import manual
from edgeprof.cli.app import app, console


@app.command("docs")
def docs(
    topic: Annotated[Optional[str], typer.Argument(
        metavar="TOPIC", help="The doc to print, by the name the list shows (e.g. verdicts). None: the list.")
    ] = None,
) -> None:
    """The docs that come with edgeprof: the topics, or one of them (formatted in a terminal, Markdown when piped)."""
    out = console(markup=False)
    if topic is None:
        topics = manual.topics()
        width = max(len(t.name) for t in topics)
        for t in topics:
            out.print(f"{t.name:<{width}}  {t.title}", highlight=False, soft_wrap=True)
        console(stderr=True).print("edgeprof docs TOPIC prints one", highlight=False)
        return
    doc = manual.topic(topic)
    if out.is_terminal:
        from rich.markdown import Markdown

        out.print(Markdown(doc.text()))
    else:
        sys.stdout.write(doc.text())
