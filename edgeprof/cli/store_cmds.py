"""`edgeprof store copy|flush`: move a history between SQLite and PostgreSQL; store the spooled runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from edgeprof.cli.app import app, console
from edgeprof.errors import StoreError
from edgeprof.store import open_store
from edgeprof.store.spool import flush, spool_dir

store_app = typer.Typer(help="Copy a results store, store spooled runs.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def store_copy(
    src: Annotated[str, typer.Argument(metavar="SRC", help="From: a SQLite path or postgresql://user@host:port/db.")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="To (created if new): a SQLite path or postgresql:// URL.")],
) -> None:
    """Copy every run (ids and times kept) and tag from SRC into DST; runs DST already holds are skipped."""
    with open_store(src, create=False) as source, open_store(dst) as target:
        copied, skipped, tags, kept = source.copy_to(target)
        where = f"{source.location} to {target.location}"
    console().print(escape(f"copied {copied} run(s) ({skipped} already there) and {tags} tag(s) from {where}"),
                    highlight=False)
    if kept:
        console(stderr=True).print(escape(f"note: kept {target.location}'s own tag(s) {', '.join(kept)}, which name "
                                          "other runs there (`edgeprof runs tag` moves one)"), highlight=False)


@store_app.command("flush")
def store_flush(
    store: Annotated[Optional[str], typer.Option(
        "--store", metavar="PATH|URL", help="Store them here instead of in the store each was meant for.")] = None,
) -> None:
    """Store the runs spooled when the store could not be written, and remove their spool files."""
    done = flush(store)
    out = console()
    if not done:
        out.print(escape(f"nothing spooled in {spool_dir()}"), highlight=False)
    for item in done:
        if item.run_id:
            out.print(escape(f"stored {item.path.name} as run {item.run_id} in {item.store}"), highlight=False)
    failed = [item for item in done if item.error]
    if failed:
        raise StoreError(f"{len(failed)} spooled run(s) still not stored, kept in {spool_dir()}: {failed[0].error}")
