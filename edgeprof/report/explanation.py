"""`edgeprof explain` for the terminal and as JSON: the verdict of each timed distribution's test, the figures that
moved, then every factor that differs between the two Results, ranked (edgeprof.explain.FACTORS), then the factors
that are the same."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from edgeprof.compare import BELOW_EFFECT, NO_CHANGE, OpChange, ops_json
from edgeprof.constraints import METRICS, value_at, workload_of
from edgeprof.explain import Explanation, effect_magnitude
from edgeprof.result import Result
from edgeprof.units import duration, figure, p_value, value_text

_STYLE = {"likely": "bold red", "possible": "yellow", "unlikely": "dim"}


def _shown(value: Any, unit: str) -> str:
    if isinstance(value, list):
        return ", ".join(value_text(v, unit) for v in value) or "[]"
    return value_text(value, unit)


def verdict_lines(e: Explanation) -> list[str]:
    """Each timed distribution's test in one line: p50 and p95 A -> B, the ratio, Mann-Whitney's p, the verdict,
    Cliff's delta (a classifier's latency unnamed; a language model's lines start 'TTFT', 'TPOT')."""
    c = e.comparison
    lines = []
    for name, path in workload_of(c.b).distributions:
        test = c.tests[name]
        a, b = value_at(c.a, path) or {}, value_at(c.b, path) or {}
        figures = ("" if name == "latency" else f"{name} ") + ", ".join(
            f"{k} {duration(a.get(k + '_ms'))} -> {duration(b.get(k + '_ms'))}" for k in ("p50", "p95"))
        if test.p_value is None:
            lines.append(f"{figures}; {test.verdict}")
            continue
        verdict = test.verdict
        if verdict == BELOW_EFFECT:
            verdict = f"significant but below the {test.min_effect:.0%} minimum effect"
        lines.append(f"{figures}; median x{test.median_ratio:.3f}, Mann-Whitney U {p_value(test.p_value)} "
                     f"(n {test.n_a} / {test.n_b}): {verdict}; Cliff's delta {test.effect_size:+.2f} "
                     f"({effect_magnitude(test.effect_size)})")
    return lines


def moved_line(e: Explanation) -> str:
    """'moved (A -> B): TTFT p95 1.20 s -> 1.50 s (x1.25, 95% intervals apart); load ...': the tracked figures that
    moved (explain.moved_figures), or that none did."""
    if not e.moved:
        return "moved: no tracked figure beyond its 95% intervals or the minimum effect"
    return "moved (A -> B): " + "; ".join(
        f"{METRICS[m.metric].label} {figure(m.a, METRICS[m.metric].unit)} -> {figure(m.b, METRICS[m.metric].unit)} "
        f"(x{m.ratio:.3f}"
        + (", 95% intervals apart)" if m.apart else ")") for m in e.moved)


def op_change_lines(ops: list[OpChange] | None) -> list[str]:
    """The operator types that moved most between the two op profiles, one line each: time per run A -> B, the
    change, its share of all types' change and the fallback that caused it; [] unless both Results were profiled."""
    return [f"{o.op}: {duration(o.a_ms)} -> {duration(o.b_ms)} per run ({'+' if o.delta_ms >= 0 else '-'}"
            f"{duration(abs(o.delta_ms))}, {o.share:.0%} of the change)" + (f"; {o.cause}" if o.cause else "")
            for o in ops or []]


def _fallback_cause(e: Explanation) -> str | None:
    """The operator types that got slower because nodes of theirs fell back to the CPU, as the summary names it."""
    fell = [f"{o.op} ({o.cause})" for o in e.comparison.ops or [] if o.fell_back and o.delta_ms > 0]
    return f"the op profiles name the cause: {', '.join(fell)}" if fell else None


def summary_line(e: Explanation) -> str:
    """Which factors most likely explain the change (and the fallback the op profiles show, if one slowed an
    operator), or that nothing recorded differs."""
    cause = _fallback_cause(e)
    line = _factor_summary(e)
    return f"{line}; {cause}" if cause else line


def _factor_summary(e: Explanation) -> str:
    likely = [row.factor.name for row in e.differences if row.factor.likelihood == "likely"]
    if likely:
        return f"most likely: {', '.join(likely)}"
    if e.differences:
        return f"no likely factor differs; possible: {', '.join(r.factor.name for r in e.differences[:3])}"
    tests = e.comparison.tests
    if all(test.verdict in (NO_CHANGE, BELOW_EFFECT) for test in tests.values()):
        return f"nothing recorded differs, and {' and '.join(tests)} did not change beyond the minimum effect"
    return ("nothing recorded differs: run-to-run noise or something edgeprof does not record (other work on the "
            "device, ambient temperature, the power supply)")


def explanation_renderable(e: Explanation, a_id: str, b_id: str) -> Group:
    """The verdict line, the ranked differences (A and B side by side) and the factors that are the same."""
    c = e.comparison
    title = f"{c.device} / {c.model}" if Result(c.a).label == Result(c.b).label else \
        f"{Result(c.a).label} -> {Result(c.b).label}"
    table = Table(title=f"{escape(title)}: {a_id} (A) -> {b_id} (B)", title_justify="left")
    for column in ("#", "differs", "A", "B", "explains", "moves", "why"):
        table.add_column(column)
    for rank, row in enumerate(e.differences, 1):
        style = _STYLE[row.factor.likelihood]
        table.add_row(str(rank), escape(row.factor.name), escape(_shown(row.a, row.factor.unit)),
                      escape(_shown(row.b, row.factor.unit)),
                      f"[{style}]{row.factor.likelihood}[/{style}]", escape(row.factor.moves), escape(row.factor.why))
    same = [f"{row.factor.name} {_shown(row.a, row.factor.unit)}" for row in e.rows
            if not row.differs and row.a is not None]
    parts: list[Any] = [*(Text(line) for line in verdict_lines(e)), Text(moved_line(e)),
                        table if e.differences else Text("no recorded factor differs")]
    moved = op_change_lines(c.ops)
    if moved:
        parts += [Text("operators that moved most (op profiles, A -> B):")] + [Text("  " + line) for line in moved]
    parts += [Text("same: " + "; ".join(same), style="dim"), Text(summary_line(e), style="bold")]
    return Group(*parts)


def explanation_json(e: Explanation) -> dict[str, Any]:
    """One explanation as `explain --json` prints it."""
    c = e.comparison
    return {"run_a": c.a.get("run_id"), "run_b": c.b.get("run_id"), "a": Result(c.a).label, "b": Result(c.b).label,
            "ratios": c.ratios, "latency": {**c.latency.__dict__, "effect": effect_magnitude(c.latency.effect_size)},
            "tests": {name: {**test.__dict__, "effect": effect_magnitude(test.effect_size)}
                      for name, test in c.tests.items()},
            "moved": [{"metric": m.metric, "a": m.a, "b": m.b, "ratio": m.ratio, "intervals_apart": m.apart}
                      for m in e.moved],
            "differences": [{"rank": i, "factor": r.factor.name, "a": r.a, "b": r.b,
                             "likelihood": r.factor.likelihood, "moves": r.factor.moves, "why": r.factor.why}
                            for i, r in enumerate(e.differences, 1)],
            "same": [{"factor": r.factor.name, "value": r.a} for r in e.rows if not r.differs],
            "operators": ops_json(c.ops),
            "summary": summary_line(e)}
