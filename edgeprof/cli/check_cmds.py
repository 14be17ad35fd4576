"""`edgeprof check|recommend|history|compare` and `runs tag`: judge, choose and compare stored results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from edgeprof.cli.app import (
    ConstraintOption,
    DeviceFilter,
    JsonOption,
    ModelFilter,
    ProjectOption,
    StoreOption,
    StrictOption,
    app,
    console,
    runs_app,
    store_path,
)
from edgeprof.compare import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_EFFECT,
    Comparison,
    compare_runs,
    history_rows,
    label,
    regressions,
)
from edgeprof.constraints import apply_verdicts, cost_section, exit_code, model_labels, result_constraints
from edgeprof.devices import DeviceProfile, load_profile, profile_files
from edgeprof.errors import EXIT_CONSTRAINT_FAILED, EXIT_OK, ConfigError
from edgeprof.project import load_project
from edgeprof.recommend import describe, latest_variants, recommend
from edgeprof.report.figures import fmt, method_tag
from edgeprof.report.junit import to_junit
from edgeprof.report.markdown import to_markdown
from edgeprof.report.table import render_verdicts
from edgeprof.results import ResultStore

AlphaOption = Annotated[float, typer.Option("--alpha", min=1e-9, max=0.5, help="Significance level of the test.")]
EffectOption = Annotated[
    float, typer.Option("--min-effect", min=0.0, help="Smallest median change that counts (0.05 = 5%).")
]


def _selected(results: list[dict[str, Any]], devices: list[str], models: list[str]) -> list[dict[str, Any]]:
    return [r for r in results if (not devices or r.get("device") in devices)
            and (not models or set(models) & set(model_labels(r)))]


def _profiles(results: list[dict[str, Any]]) -> dict[str, DeviceProfile | None]:
    """Each device's current profile; None (and a note on stderr) when its profile file is gone."""
    known = profile_files()
    profiles: dict[str, DeviceProfile | None] = {}
    for name in dict.fromkeys(str(r.get("device")) for r in results):
        profiles[name] = load_profile(name) if name in known else None
        if profiles[name] is None:
            console(stderr=True).print(f"note: no device profile '{escape(name)}' any more: judged with the project "
                                       "file and --constraint only", highlight=False)
    return profiles


def _run_ref(run: str | None, latest: bool) -> str:
    if run and latest:
        raise ConfigError("--run and --latest exclude each other")
    return run or "latest"


def _write(path: Path, text: str, flag: str, *, append: bool = False) -> None:
    try:
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write: {exc.strerror}") from exc


def _comparison_table(title: str, comparisons: list[Comparison]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("device", "model", "p50", "p95", "peak MB", "top-1", "mJ/inf", "latency", "median", "p-value"):
        table.add_column(column)
    for c in comparisons:
        style = {"slower": "red", "faster": "green"}.get(c.latency.verdict)
        verdict = f"[{style}]{c.latency.verdict}[/{style}]" if style else escape(c.latency.verdict)
        ratios = [f"x{c.ratios[k]:.3f}" if c.ratios[k] is not None else "-"
                  for k in ("p50_ms", "p95_ms", "peak_rss_mb", "top1", "energy_mj")]
        table.add_row(escape(c.device), escape(c.model), *ratios, verdict,
                      f"x{c.latency.median_ratio:.3f}" if c.latency.median_ratio else "-",
                      f"{c.latency.p_value:.2g}" if c.latency.p_value is not None else "-")
    return table


def _comparison_json(c: Comparison) -> dict[str, Any]:
    return {"device": c.device, "model": c.model, "ratios": c.ratios, "latency": c.latency.__dict__,
            "run_a": c.a.get("run_id"), "run_b": c.b.get("run_id")}


@app.command("check")
def check(
    run: Annotated[Optional[str], typer.Option("--run", help="Run id, prefix or tag (default: latest).")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="The newest run.")] = False,
    device: DeviceFilter = [],  # noqa: B006 - typer reads the default
    model: ModelFilter = [],  # noqa: B006
    constraint: ConstraintOption = [],  # noqa: B006
    project: ProjectOption = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown summary here.")] = None,
    strict: StrictOption = False,
    baseline: Annotated[
        Optional[str], typer.Option("--baseline", help="Run or tag to compare latency against.")
    ] = None,
    max_ratio: Annotated[
        float, typer.Option("--max-ratio", min=1.0, help="Fail on a significant median slow-down beyond this.")
    ] = 1.10,
    alpha: AlphaOption = DEFAULT_ALPHA,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-judge stored results with the current constraints; exit 1 on a failed constraint or a regression."""
    project_file = load_project(project)
    with ResultStore(store_path(store), create=False) as db:
        run_id = db.resolve_run(_run_ref(run, latest))
        results = _selected(db.load_run(run_id), device, model)
        base = db.load_run(db.resolve_run(baseline)) if baseline else None
    if not results:
        raise ConfigError(f"run {run_id} has no results for the chosen --device/--model")
    profiles = _profiles(results)
    for result in results:
        apply_verdicts(result, profiles[str(result.get("device"))], project_file, constraint)
    code = exit_code(results, strict=strict)
    comparisons = compare_runs(base, results, alpha=alpha) if base is not None else []
    if base is not None and not comparisons:
        console(stderr=True).print(f"note: baseline {escape(str(baseline))} shares no successful device x model "
                                   f"variant with run {run_id}: no latency comparison", highlight=False)
    slower = regressions(comparisons, max_ratio)
    if slower and code == EXIT_OK:
        code = EXIT_CONSTRAINT_FAILED
    if junit:
        _write(junit, to_junit(results, strict=strict), "--junit")
    summary = to_markdown(results)
    if markdown:
        _write(markdown, summary, "--markdown")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        _write(Path(os.environ["GITHUB_STEP_SUMMARY"]), summary + "\n", "$GITHUB_STEP_SUMMARY", append=True)
    if as_json:
        print(json.dumps({"run_id": run_id, "exit_code": code, "results": [
            {"device": r.get("device"), "model": label(r), "status": r.get("status"), "error": r.get("error"),
             "verdicts": r["verdicts"]} for r in results],
            "baseline": [_comparison_json(c) for c in comparisons] if base is not None else None,
            "regressions": [_comparison_json(c) for c in slower]}, indent=2))
    else:
        out = console()
        render_verdicts(results, out)
        if base is not None:
            out.print(_comparison_table(f"{run_id} against baseline {baseline}", comparisons))
        for c in slower:
            out.print(f"[red]regression[/red]: {escape(c.device)} {escape(c.model)} median latency "
                      f"x{c.latency.median_ratio:.3f} > --max-ratio {max_ratio:g} (p = {c.latency.p_value:.2g})")
    raise typer.Exit(code)


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
    project_file = load_project(project)
    with ResultStore(store_path(store), create=False) as db:
        results = latest_variants(_selected(db.query(), device, model))
    if not results:
        raise ConfigError("no stored results for the chosen --device/--model (run `edgeprof deploy` first)")
    profiles = _profiles(results)
    for result in results:
        profile = profiles[str(result.get("device"))]
        result["cost"] = cost_section(result, profile.cost if profile else None)
    recs = recommend(results, lambda r: result_constraints(r, profiles[str(r.get('device'))], project_file,
                                                           constraint))
    if as_json:
        def ref(r: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if r is None else {"model": label(r), "run_id": r.get("run_id"),
                                           "cost_usd_per_million": (r.get("cost") or {}).get("usd_per_million")}
        print(json.dumps([{"device": rec.device, "model": rec.model, "best": ref(rec.best),
                           "front": [ref(r) for r in rec.front], "energy_front": [ref(r) for r in rec.energy_front],
                           "rejected": [{**(ref(r) or {}), "verdict": v} for r, v in rec.rejected]}
                          for rec in recs], indent=2))
        return
    out = console()
    for rec in recs:
        lines = describe(rec)
        out.print(f"[bold]{escape(lines[0])}[/bold]")
        for line in lines[1:]:
            out.print("  " + escape(line), highlight=False)


@app.command("history")
def history(
    device: DeviceFilter = [],  # noqa: B006
    model: ModelFilter = [],  # noqa: B006
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest results to show.")] = 50,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Results over time, oldest first: p50/p95, peak memory, accuracy, energy."""
    with ResultStore(store_path(store), create=False) as db:
        rows = history_rows(_selected(db.query(), device, model)[-limit:])
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="History", title_justify="left")
    columns = ("created", "run_id", "device", "model", "p50_ms", "p95_ms", "peak_rss_mb", "top1", "energy_mj")
    for column in columns:
        table.add_column(column)
    tags = {"p50_ms": "latency_method", "p95_ms": "latency_method", "energy_mj": "power_method"}
    for row in rows:
        if row["status"] == "failed":
            table.add_row(*(escape(str(row[c])) for c in columns[:4]), *["failed"] * (len(columns) - 4))
            continue
        table.add_row(*(escape(fmt(row[c]) + (method_tag(row[tags[c]]) if c in tags else "")) for c in columns))
    console().print(table)


@app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(help="The earlier run: id, prefix, tag or 'latest'.")],
    run_b: Annotated[str, typer.Argument(help="The later run: id, prefix, tag or 'latest'.")],
    alpha: AlphaOption = DEFAULT_ALPHA,
    min_effect: EffectOption = DEFAULT_MIN_EFFECT,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """B against A per device and model variant: figure ratios and a Mann-Whitney U test on the latency samples."""
    with ResultStore(store_path(store), create=False) as db:
        a_id, b_id = db.resolve_run(run_a), db.resolve_run(run_b)
        comparisons = compare_runs(db.load_run(a_id), db.load_run(b_id), alpha=alpha, min_effect=min_effect)
    if as_json:
        print(json.dumps([_comparison_json(c) for c in comparisons], indent=2))
        return
    if not comparisons:
        raise ConfigError(f"runs {a_id} and {b_id} share no successful device x model variant")
    out = console()
    out.print(_comparison_table(f"{b_id} / {a_id} (ratios B/A; Mann-Whitney U, alpha {alpha:g}, "
                                f"min effect {min_effect:.0%})", comparisons))


@runs_app.command("tag")
def runs_tag(
    run: Annotated[str, typer.Argument(help="Run id, prefix, tag or 'latest'.")],
    name: Annotated[str, typer.Argument(help="Tag name, e.g. 'baseline' (moves if it exists).")],
    store: StoreOption = None,
) -> None:
    """Name a run, e.g. as the baseline for `check --baseline`."""
    if not name.strip() or name == "latest":
        raise ConfigError(f"tag name {name!r} is not allowed ('latest' always means the newest run)")
    with ResultStore(store_path(store), create=False) as db:
        run_id = db.resolve_run(run)
        db.tag(run_id, name)
    console().print(f"tagged {run_id} as {escape(name)}", highlight=False)
