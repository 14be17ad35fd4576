"""`edgeprof runs list|show`: browse the results store."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from edgeprof.cli.app import JsonOption, StoreOption, console, runs_app, store_path
from edgeprof.report.table import render_verdicts
from edgeprof.store import open_store


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs, newest first.")] = 20,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """The stored runs, newest first."""
    with open_store(store_path(store), create=False) as db:
        rows = db.list_runs(limit)
    if as_json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return
    table = Table(title=f"Runs in {db.location}")
    for column in ("run", "created", "devices", "models", "results", "failed", "tags"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.run_id, row.created, ", ".join(row.devices), ", ".join(row.models),
                      str(row.n_results), str(row.n_failed), ", ".join(row.tags))
    console().print(table)


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(help="Run id, unique prefix, tag, or 'latest'.")],
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
