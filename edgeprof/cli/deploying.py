"""What the commands that measure (deploy, sweep, demo) share: deploy, judge and store with progress on stderr,
then the verdict tables, the stored run and every failure, each in one line."""

from __future__ import annotations

import json
import sys

from edgeprof.agent.spec import ErrorKind
from edgeprof.cli.app import console, error_line
from edgeprof.cli.options import store_path
from edgeprof.cli.progress import AgentProgress
from edgeprof.pipeline import Deployed, deploy_judge_store
from edgeprof.plan import Plan, recorded_command
from edgeprof.report.recommendation import recommendation_text
from edgeprof.report.scenario_summary import scenario_lines
from edgeprof.report.table import render_verdicts
from edgeprof.result import Result
from edgeprof.store.location import redact

ACCELERATOR_ERRORS = (ErrorKind.ACCELERATOR_MISSING, ErrorKind.ACCELERATOR_OPTIONS)


def measure_judge_store(plan: Plan, store: str | None, *, as_json: bool, jobs: int | None = None,
                        compared: str | None = None) -> Deployed:
    """Deploy, judge and store (edgeprof.pipeline.deploy_judge_store) with progress on stderr; render (a sweep's
    table with what its models are `compared` with); the deploy (its exit code: 3 if a device failed, else 1 on a
    failed constraint, else 0)."""
    err = console(stderr=True)
    with AgentProgress(err, quiet=as_json) as progress:
        deployed = deploy_judge_store(plan, store_path(store), command=recorded_command(sys.argv[1:]),
                                      on_event=progress.on_event, jobs=jobs)
    if as_json:
        print(json.dumps(deployed.results, indent=2))
    else:
        render_verdicts(deployed.results, console(), compared=compared)
        for line in scenario_lines(deployed.results):
            console().print(line, markup=False, highlight=False)
        if deployed.run_id:
            err.print(f"stored run {deployed.run_id} in {redact(store_path(store))}")
    if deployed.store_error:  # the store refused the run after measuring: shown above, kept in the spool
        error_line(deployed.store_error)
    for failure in deployed.failures.values():
        error_line(str(failure))
    for result in deployed.results:  # an accelerator the device lacks is the run's configuration, said in one line
        error = result.get("error") or {}
        if error.get("kind") in ACCELERATOR_ERRORS:
            error_line(f"{Result(result).label}: {error['message']}")
    return deployed



def print_recommendations(deployed: Deployed) -> None:
    """The deploy's recommendations, a variant to ship per device and model with why not each other, on stdout."""
    for rec in deployed.report.recommendations.values():
        console().print(recommendation_text(rec), highlight=False, soft_wrap=True)
