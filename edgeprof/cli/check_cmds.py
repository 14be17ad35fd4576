"""`edgeprof check|recommend|history|compare|explain`: judge, choose and compare stored results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from edgeprof import pipeline
from edgeprof.cli.app import app, console
from edgeprof.cli.options import (
    AlphaOption,
    ConstraintOption,
    DeviceFilter,
    JsonOption,
    MaxDropOption,
    MaxRatioOption,
    ModelFilter,
    ProjectOption,
    StoreOption,
    StrictOption,
    finite,
    store_path,
)
from edgeprof.compare import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT
from edgeprof.errors import ConfigError
from edgeprof.project import load_project
from edgeprof.report.explanation import explanation_json, explanation_renderable, op_change_lines
from edgeprof.report.history import (
    accuracy_drop_line,
    comparison_json,
    comparison_table,
    history_notes,
    history_table,
    regression_line,
)
from edgeprof.report.recommendation import recommendation_json, recommendation_text
from edgeprof.report.table import render_verdicts
from edgeprof.result import Result

EffectOption = Annotated[
    float, typer.Option("--min-effect", metavar="FRACTION", min=0.0, callback=finite,
                        help="Smallest median change that counts (0.05 = 5%).")
]


def _notes(notes: list[str]) -> None:
    for note in notes:
        console(stderr=True).print(escape(note), highlight=False)


@app.command("check")
def check(
    run: Annotated[Optional[str], typer.Option("--run", metavar="RUN",
                                               help="Run id, prefix or tag (default: latest).")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="The newest run.")] = False,
    device: DeviceFilter = [],  # noqa: B006 - typer reads the default
    model: ModelFilter = [],  # noqa: B006
    constraint: ConstraintOption = [],  # noqa: B006
    project: ProjectOption = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", metavar="PATH", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", metavar="PATH",
                                                     help="Write a Markdown summary here.")] = None,
    strict: StrictOption = False,
    baseline: Annotated[
        Optional[str], typer.Option("--baseline", metavar="RUN", help="Run or tag to compare latency against.")
    ] = None,
    max_ratio: MaxRatioOption = pipeline.DEFAULT_MAX_RATIO,
    max_drop: MaxDropOption = pipeline.DEFAULT_MAX_DROP,
    alpha: AlphaOption = DEFAULT_ALPHA,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-judge stored results with the current constraints; exit 1 on a failed constraint, a regression or an
    accuracy drop against --baseline."""
    selection = pipeline.Selection.of_runs([run] if run else [], latest, device, model)
    checked = pipeline.check(store_path(store), selection, load_project(project), constraint, strict=strict,
                             baseline=baseline, max_ratio=max_ratio, max_drop=max_drop, alpha=alpha)
    _notes(checked.notes)
    pipeline.write_ci_reports(checked, junit=junit, markdown=markdown, strict=strict)
    if as_json:
        print(json.dumps({"run_id": checked.run_id, "exit_code": checked.exit_code, "results": [
            {"device": r.get("device"), "model": Result(r).ref_label, "status": r.get("status"),
             "error": r.get("error"), "verdicts": r["verdicts"]} for r in checked.results],
            "baseline": None if checked.comparisons is None else [comparison_json(c) for c in checked.comparisons],
            "regressions": [comparison_json(c) for c in checked.regressions],
            "accuracy_drops": [comparison_json(c) for c in checked.drops]}, indent=2))
    else:
        out = console()
        render_verdicts(checked.results, out)
        if checked.comparisons is not None:
            out.print(comparison_table(f"{checked.run_id} against baseline {baseline}", checked.comparisons,
                                       out.width))
        for c in checked.regressions:
            out.print(regression_line(c, max_ratio))
        for c in checked.drops:
            out.print(accuracy_drop_line(c, pipeline.top1_drop(c) or 0.0, max_drop))
    raise typer.Exit(checked.exit_code)


@app.command("recommend")
def recommend_cmd(
    device: DeviceFilter = [],  # noqa: B006
    model: ModelFilter = [],  # noqa: B006
    constraint: ConstraintOption = [],  # noqa: B006
    project: ProjectOption = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per device and model: the variant to ship, the Pareto fronts, and why each other variant lost."""
    recs, notes = pipeline.recommend_stored(store_path(store), pipeline.Selection(None, tuple(device), tuple(model)),
                                            load_project(project), constraint)
    _notes(notes)
    if as_json:
        print(json.dumps([recommendation_json(rec) for rec in recs], indent=2))
        return
    out = console()
    for rec in recs:
        out.print(recommendation_text(rec), highlight=False)


@app.command("history")
def history(
    device: DeviceFilter = [],  # noqa: B006
    model: ModelFilter = [],  # noqa: B006
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, help="Newest results to show.")] = 50,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", metavar="PATH", help="Also draw p50/p95, accuracy and energy over time here (.png, .svg, .pdf), "
                                       "change points and changed settings marked.")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Results over time, oldest first: the model file's short sha, scenario, threads, provider, p50/p95, peak
    memory, accuracy, energy; '!' flags a different file under the same model name."""
    rows = pipeline.history(store_path(store), pipeline.Selection(None, tuple(device), tuple(model)), limit, plot)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    out = console()
    out.print(history_table(rows, out.width))
    _notes(history_notes(rows))


@app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The earlier run: id, prefix, tag or 'latest'.")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The later run: id, prefix, tag or 'latest'.")],
    alpha: AlphaOption = DEFAULT_ALPHA,
    min_effect: EffectOption = DEFAULT_MIN_EFFECT,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """B against A per device and model variant: figure ratios and a Mann-Whitney U test on the latency samples."""
    a_id, b_id, comparisons = pipeline.compare(store_path(store), run_a, run_b, alpha=alpha, min_effect=min_effect)
    if as_json:
        print(json.dumps([comparison_json(c) for c in comparisons], indent=2))
        return
    if not comparisons:
        raise ConfigError(f"runs {a_id} and {b_id} share no successful device x model variant")
    out = console()
    out.print(comparison_table(f"{b_id} / {a_id} (ratios B/A; Mann-Whitney U, alpha {alpha:g}, "
                               f"min effect {min_effect:.0%})", comparisons, out.width))
    for c in comparisons:
        for line in op_change_lines(c.ops):
            console().print(f"{c.device} / {c.model} operators: {line}", markup=False, highlight=False)


@app.command("explain")
def explain(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A",
                                         help="The earlier run: id (as `runs list` shows it), prefix, tag or 'latest'.")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The later run: id, prefix, tag or 'latest'.")],
    device: DeviceFilter = [],  # noqa: B006
    model: ModelFilter = [],  # noqa: B006
    alpha: AlphaOption = DEFAULT_ALPHA,
    min_effect: EffectOption = DEFAULT_MIN_EFFECT,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Why a figure differs between two runs: every recorded difference side by side, ranked by how likely it
    explains the change (edgeprof docs explain), with the Mann-Whitney verdict and effect size on the raw samples."""
    a_id, b_id, explanations = pipeline.explain(store_path(store), run_a, run_b, tuple(device), tuple(model),
                                                alpha=alpha, min_effect=min_effect)
    if as_json:
        print(json.dumps([explanation_json(e) for e in explanations], indent=2))
        return
    out = console()
    for e in explanations:
        out.print(explanation_renderable(e, a_id, b_id), highlight=False)
