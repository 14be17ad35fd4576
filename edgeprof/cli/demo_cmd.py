"""`edgeprof demo`: the sample shipped inside the package profiled on this machine (edgeprof.demo), its report,
and what to run next."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeprof import pipeline
from edgeprof.cli.app import app, console
from edgeprof.cli.deploying import measure_judge_store, print_recommendations
from edgeprof.cli.options import DEFAULT_STORE, store_path
from edgeprof.demo import DATASET, DEVICE, MODELS, REPORT, demo_plan, next_steps, sample_dir


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(
        "--out", metavar="DIR", help="Folder for the results store and the report (created if missing).")
    ] = DEFAULT_STORE.parent,
    store: Annotated[Optional[str], typer.Option(
        "--store", metavar="PATH|URL", help="Results store: a SQLite path or postgresql://user@host:port/db. "
                                            "Default: $EDGEPROF_STORE or results.db in --out.")] = None,
) -> None:
    """Profile the sample shipped with edgeprof (a digits classifier in 4 variants, its labelled test set) on this
    machine: the verdicts, the variant to ship, an HTML report, and what to run next."""
    target = store_path(store, out)
    err = console(stderr=True)
    err.print(f"profiling the shipped sample on this machine (--device {DEVICE}): {', '.join(MODELS)} with "
              f"{DATASET}, from {sample_dir()}", markup=False, highlight=False)
    deployed = measure_judge_store(demo_plan(), target, as_json=False)
    print_recommendations(deployed)
    shown = console()
    if deployed.run_id:
        written = pipeline.report(target, pipeline.Selection(runs=(deployed.run_id,)), out / REPORT, None)
        shown.print(f"report: {written[0]}", markup=False, highlight=False, soft_wrap=True)
    steps = next_steps("" if target == store_path(None) else f" --store {shlex.quote(target)}")
    width = max(len(what) for what, _ in steps)
    shown.print("next:", highlight=False)
    for what, command in steps:
        shown.print(f"  {what:<{width}}  {command}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(deployed.exit_code(strict=False))
