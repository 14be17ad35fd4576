"""`edgeprof runs list|show|tag`: browse the results store and name runs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from edgeprof.cli.app import console, runs_app
from edgeprof.cli.options import JsonOption, StoreOption, store_path
from edgeprof.report.table import Column, fitted_table, render_verdicts
from edgeprof.store import open_store


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, help="How many runs, newest first.")] = 20,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The stored runs, newest first."""
    with open_store(store_path(store), create=False) as db:
        rows = db.list_runs(limit)
    if as_json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return
    columns = (Column("run"), Column("created", drop=2), Column("devices", wrap=True), Column("models", wrap=True),
               Column("results", justify="right"), Column("failed", drop=1, justify="right"),
               Column("tags", drop=3, wrap=True))
    cells = [[row.run_id, row.created, ", ".join(row.devices), ", ".join(row.models), str(row.n_results),
              str(row.n_failed), ", ".join(row.tags)] for row in rows]
    out = console()
    out.print(fitted_table(f"Runs in {db.location}", columns, cells, out.width)[0])


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, tag, or 'latest'.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every Result of one run: the verdict table, or the whole JSON."""
    with open_store(store_path(store), create=False) as db:
        results = db.load_run(db.resolve_run(run))
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        render_verdicts(results, console())


@runs_app.command("tag")
def runs_tag(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run id, prefix, tag or 'latest'.")],
    name: Annotated[str, typer.Argument(metavar="TAG", help="Tag name, e.g. 'baseline' (moves if it exists).")],
    store: StoreOption = None,
) -> None:
    """Name a run (a baseline for check and watch).

    `check --baseline NAME` and `watch --baseline NAME` read it. A tag that exists moves to this run. A name that is empty, 'latest', or that could be read as a run id or
    the prefix of one is refused."""
    with open_store(store_path(store), create=False) as db:
        run_id = db.tag(run, name)
    console().print(f"tagged {run_id} as {escape(name)}", highlight=False)
