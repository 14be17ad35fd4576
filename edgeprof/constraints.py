"""Constraints and verdicts: pure functions from a Result and its constraints to pass/fail/inconclusive rows."""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from edgeprof.agent.spec import ErrorKind
from edgeprof.errors import EXIT_CONSTRAINT_FAILED, EXIT_DEVICE, EXIT_OK, ConfigError


@dataclass(frozen=True)
class Metric:
    """A constrainable figure: where it lives in the Result and what bounds make sense."""

    path: str
    unit: str
    percentile: str | None = None
    lo: float = 0.0
    hi: float = math.inf
    method_section: str | None = None


METRICS: dict[str, Metric] = {
    "latency.p50_ms": Metric("latency.p50_ms", "ms", "p50"),
    "latency.p90_ms": Metric("latency.p90_ms", "ms", "p90"),
    "latency.p95_ms": Metric("latency.p95_ms", "ms", "p95"),
    "latency.p99_ms": Metric("latency.p99_ms", "ms", "p99"),
    "latency.mean_ms": Metric("latency.mean_ms", "ms"),
    "throughput.min_ips": Metric("latency.throughput_ips", "inferences/s", method_section="latency"),
    "throughput.ips": Metric("latency.throughput_ips", "inferences/s", method_section="latency"),
    "throughput.min": Metric("latency.throughput_ips", "inferences/s", method_section="latency"),
    "memory.peak_rss_mb": Metric("memory.peak_rss_mb", "MB"),
    "model.size_mb": Metric("model.size_mb", "MB", method_section=""),
    "accuracy.top1": Metric("accuracy.top1", "", hi=1.0),
    "accuracy.top5": Metric("accuracy.top5", "", hi=1.0),
    "accuracy.f1_macro": Metric("accuracy.f1_macro", "", hi=1.0),
    "accuracy.drop": Metric("accuracy.reference.accuracy_drop", "", lo=-1.0, hi=1.0, method_section="accuracy"),
    "accuracy.agreement": Metric("accuracy.reference.agreement_top1", "", hi=1.0, method_section="accuracy"),
    "power.energy_mj": Metric("power.energy_mj_per_inference", "mJ"),
    "power.avg_w": Metric("power.avg_w", "W"),
    "thermal.max_c": Metric("thermal.max_c", "C", lo=-50.0, hi=150.0),
    "cost.usd_per_million": Metric("cost.usd_per_million", "USD"),
    "server.max_qps": Metric("scenario.max_qps", "QPS", method_section="scenario"),
    "scenario.offline_ips": Metric("scenario.offline_ips", "inferences/s", method_section="scenario"),
    "placement.fallback_nodes": Metric("placement.fallback_count", "nodes", method_section=""),
    "placement.accelerated_fraction": Metric("placement.accelerated_fraction", "", hi=1.0, method_section=""),
}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
}
_TEXT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=|<|>)\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
TIMED = ("latency.", "cost.", "scenario.")  # figures that depend on timing, so emulation makes them informational


@dataclass(frozen=True)
class Constraint:
    """`metric op bound`, and where it came from (named in errors and verdicts)."""

    metric: str
    op: str
    bound: float
    source: str = "--constraint"

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


class ProjectConstraints(Protocol):
    """What resolve_constraints needs of a project file (edgeprof.project.ProjectFile)."""

    def constraints_for(self, device: str, model_names: list[str]) -> list[Constraint]:
        """The project's constraints for a device and model, most specific last."""


def parse_constraint(text: str, *, source: str = "--constraint") -> Constraint:
    """Parse 'latency.p95_ms<=50'; ConfigError naming the source and listing the valid metrics."""
    match = _TEXT.match(text)
    if not match:
        raise ConfigError(f"{source}: cannot parse constraint {text!r}: expected METRIC OP NUMBER with OP one of "
                          f"{', '.join(OPERATORS)}, e.g. 'latency.p95_ms<=50'")
    metric, op, raw = match.groups()
    if metric not in METRICS:
        near = difflib.get_close_matches(metric, list(METRICS), n=1)
        raise ConfigError(f"{source}: unknown metric '{metric}'"
                          + (f" (did you mean '{near[0]}'?)" if near else "")
                          + f"; valid metrics: {', '.join(METRICS)}")
    bound = float(raw)
    if not math.isfinite(bound):
        raise ConfigError(f"{source}: bound {raw!r} for {metric} is not a finite number")
    spec = METRICS[metric]
    if not spec.lo <= bound <= spec.hi:
        raise ConfigError(f"{source}: impossible bound {bound:g} for {metric} (must lie in [{spec.lo:g}, {spec.hi:g}])")
    return Constraint(metric, op, bound, source)


def resolve_constraints(
    device: str,
    model_names: list[str],
    profile_constraints: dict[str, str],
    profile_source: str,
    project: ProjectConstraints | None,
    cli: list[str],
) -> list[Constraint]:
    """Constraints for one device x model; later sources win per metric: profile, project file, --constraint."""
    chosen: dict[str, Constraint] = {}
    for metric, value in profile_constraints.items():
        chosen[metric] = parse_constraint(f"{metric}{value}", source=f"{profile_source} [constraints] {metric}")
    if project is not None:
        for constraint in project.constraints_for(device, model_names):
            chosen[constraint.metric] = constraint
    for text in cli:
        constraint = parse_constraint(text)
        chosen[constraint.metric] = constraint
    return list(chosen.values())


def value_at(result: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of the Result, None where any part is missing."""
    if path == "model.size_mb":
        size = (result.get("model") or {}).get("size_bytes")
        return size / 1e6 if size is not None else None
    node: Any = result
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _method(result: dict[str, Any], metric: Metric) -> str:
    section = metric.method_section if metric.method_section is not None else metric.path.split(".")[0]
    if not section:
        return "host"
    return str((result.get(section) or {}).get("method") or "none")


def _more_samples(latency: dict[str, Any], ci: list[float], value: float, bound: float) -> str:
    """What would decide a straddling CI (width ~ 1/sqrt(n)), within what the budget allows: about how many more
    samples, the --max-runs that would hold them, or how narrow the interval can get at this budget.

    Uses the CI's half on the bound's side of the estimate: it must shrink below the gap to the bound.
    """
    n = int(latency.get("samples") or 0)
    half = (value - ci[0]) if bound < value else (ci[1] - value)
    gap = abs(value - bound)
    if n <= 0 or gap == 0 or half <= 0:
        return ""
    needed = int(math.ceil(n * (half / gap) ** 2))
    cap = int(latency.get("max_runs") or 5000)
    if needed <= cap:
        return f": about {max(needed - n, 1)} more samples would decide it (--precision {gap / value:.2g})"
    narrowest = half * math.sqrt(n / cap) if n < cap else half
    if needed <= 100 * cap:
        return f": raise --max-runs to {needed} (and --max-seconds to match) to decide it"
    return (f": the interval cannot get narrower than +-{narrowest:.4g} at this budget (max_runs {cap}); the bound "
            f"is {gap:.4g} from the estimate")


def server_validity(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A `server.valid` verdict row for a fixed-QPS server run (INVALID fails), none without one."""
    run = ((result.get("scenario") or {}).get("run")) or None
    if not run:
        return []
    method = str(result["scenario"].get("method") or "measured")
    status = "pass" if run.get("valid") else "fail"
    if method.startswith("emulated"):
        status = "informational"
    return [{"constraint": "server.valid", "op": "==", "bound": True, "value": bool(run.get("valid")),
             "status": status, "margin": None, "method": method, "unit": "", "source": "scenario",
             "detail": f"{run.get('result')} at {run.get('target_qps')} QPS"
                       + (f": {'; '.join(run.get('invalid_reasons') or [])}" if run.get("invalid_reasons") else "")}]


_MB = re.compile(r"(\d+(?:\.\d+)?)\s*MB")


def oom_detail(result: dict[str, Any]) -> str | None:
    """'killed: out of memory at ~N MB' for a run that died of memory exhaustion, else None."""
    error = result.get("error") or {}
    kind = error.get("kind")
    text = f"{error.get('memory_hint', '')} {error.get('message', '')}"
    if kind != ErrorKind.MEMORY and not (kind == ErrorKind.KILLED and "out of memory" in text):
        return None
    size = _MB.search(text)
    return "killed: out of memory" + (f" at ~{size.group(1)} MB" if size else "")


def judge_one(result: dict[str, Any], constraint: Constraint, *, calibrated_emulation: bool = False) -> dict[str, Any]:
    """One verdict row: status, value, bound, margin, method and a detail saying why."""
    metric = METRICS[constraint.metric]
    row: dict[str, Any] = {
        "constraint": constraint.metric, "op": constraint.op, "bound": constraint.bound, "value": None,
        "status": "not measured", "margin": None, "method": _method(result, metric), "detail": "",
        "source": constraint.source, "unit": metric.unit,
    }
    if result.get("status") == "failed":
        killed = oom_detail(result)
        if killed and constraint.metric == "memory.peak_rss_mb":
            row.update(status="fail", detail=killed, method="run error")
        else:
            row["detail"] = f"run failed: {(result.get('error') or {}).get('kind', 'error')}"
        return row
    value = value_at(result, metric.path)
    if value is None:
        section = result.get(metric.path.split(".")[0]) or {}
        row["detail"] = section.get("reason") or "not measured in this run"
        return row
    value = float(value)
    passed = OPERATORS[constraint.op](value, constraint.bound)
    row.update(value=value, margin=(constraint.bound - value) if constraint.op in ("<=", "<")
               else (value - constraint.bound), status="pass" if passed else "fail")
    method = row["method"]
    if method.startswith("estimate"):
        row["detail"] = "estimate, not a measurement"
    if method == "none":
        row.update(status="not measured", value=None, margin=None, detail="no sensor or estimate on this device")
        return row
    if metric.percentile:
        latency = result.get("latency") or {}
        ci = (latency.get("ci") or {}).get(metric.percentile)
        if ci is None:
            row.update(status="inconclusive", detail="too few samples for a confidence interval")
        elif ci[0] <= constraint.bound <= ci[1]:
            row.update(status="inconclusive", detail=f"{latency.get('ci', {}).get('confidence', 0.95):.0%} CI "
                       f"[{ci[0]:.4g}, {ci[1]:.4g}] straddles the bound"
                       + _more_samples(latency, ci, value, constraint.bound))
    compared = (result.get("accuracy") or {}).get("reference") or {}
    if metric.path == "accuracy.reference.agreement_top1" and compared.get("meaningful") is False:
        row.update(status="informational", detail=f"{compared['reason']} (would be {row['status']})")
    if method.startswith("emulated") and metric.path.startswith(TIMED) and not calibrated_emulation:
        row.update(status="informational", detail=f"{method}: emulated timing is not a real board's "
                   f"(would be {row['status']})")
    return row


def judge(result: dict[str, Any], constraints: list[Constraint], *,
          calibrated_emulation: bool = False) -> list[dict[str, Any]]:
    """Every constraint's verdict for one Result."""
    return ([judge_one(result, c, calibrated_emulation=calibrated_emulation) for c in constraints]
            + server_validity(result))


def exit_code(results: list[dict[str, Any]], *, strict: bool = False) -> int:
    """0 all met, 1 a constraint failed (or inconclusive with strict), 3 a run failed for a non-memory reason or
    ran out of memory with no failed verdict to say so: a failed run never exits 0."""
    failing = {"fail", "inconclusive"} if strict else {"fail"}
    code = EXIT_OK
    for result in results:
        failed_verdict = any(v.get("status") in failing for v in result.get("verdicts") or [])
        if result.get("status") == "failed" and not (oom_detail(result) and failed_verdict):
            return EXIT_DEVICE
        if failed_verdict:
            code = EXIT_CONSTRAINT_FAILED
    return code
