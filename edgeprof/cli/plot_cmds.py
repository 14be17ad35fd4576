"""`edgeprof plot` and `edgeprof report`: figures and the shareable report, read from the results store only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgeprof.cli.app import StoreOption, app, console, store_path
from edgeprof.errors import ConfigError
from edgeprof.report.html import REPORT_FORMATS, write_report
from edgeprof.report.plots import make_plots, parse_formats
from edgeprof.results import ResultStore

RunOption = Annotated[Optional[list[str]], typer.Option(
    "--run", metavar="RUN", help="Run id, unique prefix or tag (repeatable).")]
LatestOption = Annotated[bool, typer.Option("--latest", help="The newest run (the default without --run).")]
DeviceFilter = Annotated[Optional[list[str]], typer.Option(
    "--device", metavar="DEVICE", help="Only these devices (repeatable).")]
ModelFilter = Annotated[Optional[list[str]], typer.Option(
    "--model", metavar="MODEL", help="Only these models: name, name-variant or file stem (repeatable).")]


def _matches_model(result: dict[str, Any], wanted: list[str]) -> bool:
    model = result.get("model") or {}
    names = {str(model.get("name")), f"{model.get('name')}-{model.get('variant')}",
             Path(str(model.get("path") or "")).stem}
    return bool(names & set(wanted))


def select_results(store: Path, runs: list[str] | None, latest: bool, devices: list[str] | None,
                   models: list[str] | None) -> list[dict[str, Any]]:
    """The Results of the chosen runs (default: the latest), filtered by device and model; ConfigError if none."""
    if runs and latest:
        raise ConfigError("--run and --latest: choose one")
    with ResultStore(store, create=False) as db:
        run_ids = list(dict.fromkeys(db.resolve_run(ref) for ref in (runs or ["latest"])))
        results = [r for run_id in run_ids for r in db.load_run(run_id)]
    if devices:
        results = [r for r in results if r.get("device") in devices]
    if models:
        results = [r for r in results if _matches_model(r, models)]
    if not results:
        raise ConfigError(f"no results in run(s) {', '.join(run_ids)} match "
                          f"--device {devices or 'any'} --model {models or 'any'}")
    return results


@app.command("plot")
def plot(
    out: Annotated[Path, typer.Option("--out", help="Directory for the figures (created if missing).")],
    run: RunOption = None,
    latest: LatestOption = False,
    device: DeviceFilter = None,
    model: ModelFilter = None,
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: png, svg, pdf.")] = "png",
    store: StoreOption = None,
) -> None:
    """Per-device and cross-device figures (latency, accuracy vs p95, energy, timelines) from stored results."""
    chosen = parse_formats(formats)
    results = select_results(store_path(store), run, latest, device, model)
    written = make_plots(results, out, chosen)
    for path in written:
        console().print(str(path), highlight=False)
    if not written:
        console(stderr=True).print("no figures: the selected results hold no measurements (all runs failed?)")


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", help="Report file, e.g. report.html or report.md.")],
    run: RunOption = None,
    latest: LatestOption = False,
    device: DeviceFilter = None,
    model: ModelFilter = None,
    fmt: Annotated[str, typer.Option("--format", help="html (one self-contained file) or md (PNGs beside it).")]
    = "html",
    store: StoreOption = None,
) -> None:
    """A shareable report: verdicts, recommendations, run metadata and every figure."""
    if fmt not in REPORT_FORMATS:
        raise ConfigError(f"--format: unknown report format {fmt!r} (choose html or md)")
    results = select_results(store_path(store), run, latest, device, model)
    written = write_report(results, out, fmt)
    console().print(f"report written to {written[0]}" + (f" (+{len(written) - 1} figures)" if len(written) > 1
                                                           else ""), highlight=False)
