"""`edgeprof plot` and `edgeprof report`: figures and the shareable report, read from the results store only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeprof import pipeline
from edgeprof.cli.app import app, console
from edgeprof.cli.options import DeviceFilter, ModelFilter, StoreOption, store_path

RunOption = Annotated[Optional[list[str]], typer.Option(
    "--run", metavar="RUN", help="Run id, unique prefix or tag (repeatable).")]
LatestOption = Annotated[bool, typer.Option("--latest", help="The newest run (the default without --run).")]


@app.command("plot")
def plot(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Directory for the figures (created if missing).")],
    run: RunOption = None,
    latest: LatestOption = False,
    device: DeviceFilter = [],  # noqa: B006 - typer reads the default
    model: ModelFilter = [],  # noqa: B006
    formats: Annotated[str, typer.Option("--format", metavar="FORMAT[,FORMAT...]",
                                         help="Comma-separated: png, svg, pdf.")] = "png",
    store: StoreOption = None,
) -> None:
    """Per-device and cross-device figures (latency, accuracy vs p95, energy, timelines) from stored results."""
    selection = pipeline.Selection.of_runs(run or [], latest, device, model)
    written = pipeline.plot(store_path(store), selection, out, formats)
    for path in written:
        console().print(str(path), highlight=False)
    if not written:
        console(stderr=True).print("no figures: the selected results hold no measurements (all runs failed?)")


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", metavar="PATH", help="Report file, e.g. report.html or report.md.")],
    run: RunOption = None,
    latest: LatestOption = False,
    device: DeviceFilter = [],  # noqa: B006 - typer reads the default
    model: ModelFilter = [],  # noqa: B006
    fmt: Annotated[Optional[str], typer.Option(
        "--format", metavar="html|md", help="html (one self-contained file) or md (PNGs beside it). Default: "
                                            "--out's extension (.md: Markdown), else html.")] = None,
    store: StoreOption = None,
) -> None:
    """A shareable report: verdicts, recommendations, run metadata and every figure."""
    selection = pipeline.Selection.of_runs(run or [], latest, device, model)
    written = pipeline.report(store_path(store), selection, out, fmt)
    console().print(f"report written to {written[0]}" + (f" (+{len(written) - 1} figures)" if len(written) > 1
                                                           else ""), highlight=False)
