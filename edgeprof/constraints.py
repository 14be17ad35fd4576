"""Constraint metrics and their parsing: what `latency.p95_ms` means and where it is read in a Result, how
`metric op bound` is parsed, and which source wins. Judging a Result against them is edgeprof.verdicts's job."""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from edgeprof.errors import ConfigError
from edgeprof.result import Result
from edgeprof.units import BYTES_PER_MB


@dataclass(frozen=True)
class Metric:
    """A figure of a Result, declared once: where it lives (`path`), its unit and the bounds that make sense, how
    tables head it (`label`), whether higher is better, where its 95% interval is read (`percentile`: that CI of the
    distribution holding it, which can also make a verdict inconclusive; `interval`: the path of a [low, high]
    pair) and which section's `method` labels it. `agreement`: an agreement with a reference, which means nothing
    where the reference's own outputs do not vary (its section's `meaningful` is false). `workload`: the one kind
    of model that has the figure (a classifier's latency and accuracy, a language model's generation), None where
    every kind does (memory, size, watts, temperature)."""

    path: str
    unit: str
    percentile: str | None = None
    lo: float = 0.0
    hi: float = math.inf
    method_section: str | None = None
    label: str = ""
    higher: bool = False
    interval: str | None = None
    agreement: bool = False
    workload: str | None = None


_C, _G = {"workload": "classifier"}, {"workload": "generative"}
_IPS = {"unit": "inferences/s", "method_section": "latency", "label": "inferences/s", "higher": True, **_C}
METRICS: dict[str, Metric] = {
    "latency.p50_ms": Metric("latency.p50_ms", "ms", "p50", label="p50", **_C),
    "latency.p90_ms": Metric("latency.p90_ms", "ms", "p90", label="p90", **_C),
    "latency.p95_ms": Metric("latency.p95_ms", "ms", "p95", label="p95", **_C),
    "latency.p99_ms": Metric("latency.p99_ms", "ms", "p99", label="p99", **_C),
    "latency.mean_ms": Metric("latency.mean_ms", "ms", label="mean", **_C),
    "throughput.min_ips": Metric("latency.throughput_ips", **_IPS),
    "throughput.ips": Metric("latency.throughput_ips", **_IPS),
    "throughput.min": Metric("latency.throughput_ips", **_IPS),
    "memory.peak_rss_mb": Metric("memory.peak_rss_mb", "MB", label="peak mem"),
    "model.size_mb": Metric("model.size_mb", "MB", method_section="", label="size"),
    "accuracy.top1": Metric("accuracy.top1", "", hi=1.0, label="top-1", higher=True, interval="accuracy.top1_ci95",
                            **_C),
    "accuracy.top5": Metric("accuracy.top5", "", hi=1.0, label="top-5", higher=True, **_C),
    "accuracy.f1_macro": Metric("accuracy.f1_macro", "", hi=1.0, label="F1", higher=True, **_C),
    "accuracy.drop": Metric("accuracy.reference.accuracy_drop", "", lo=-1.0, hi=1.0, method_section="accuracy",
                            label="top-1 drop", **_C),
    "accuracy.agreement": Metric("accuracy.reference.agreement_top1", "", hi=1.0, method_section="accuracy",
                                 label="agreement", higher=True, agreement=True, **_C),
    "power.energy_mj": Metric("power.energy_mj_per_inference", "mJ", label="mJ/inf", **_C),
    "power.avg_w": Metric("power.avg_w", "W", label="W"),
    "thermal.max_c": Metric("thermal.max_c", "C", lo=-50.0, hi=150.0, label="max C"),
    "cost.usd_per_million": Metric("cost.usd_per_million", "USD", label="USD/million", **_C),
    "server.max_qps": Metric("scenario.max_qps", "QPS", method_section="scenario", label="max QPS", higher=True, **_C),
    "scenario.offline_ips": Metric("scenario.offline_ips", "inferences/s", method_section="scenario",
                                   label="offline inferences/s", higher=True, **_C),
    "placement.fallback_nodes": Metric("placement.fallback_count", "nodes", method_section="", label="fallback nodes",
                                       **_C),
    "placement.accelerated_fraction": Metric("placement.accelerated_fraction", "", hi=1.0, method_section="",
                                             label="accelerated", higher=True, **_C),
    "generation.ttft_p50_ms": Metric("generation.ttft.p50_ms", "ms", "p50", method_section="generation",
                                     label="TTFT p50", **_G),
    "generation.ttft_p95_ms": Metric("generation.ttft.p95_ms", "ms", "p95", method_section="generation",
                                     label="TTFT p95", **_G),
    "generation.tpot_p50_ms": Metric("generation.tpot.p50_ms", "ms", "p50", method_section="generation",
                                     label="TPOT p50", **_G),
    "generation.tpot_p95_ms": Metric("generation.tpot.p95_ms", "ms", "p95", method_section="generation",
                                     label="TPOT p95", **_G),
    "generation.decode_tokens_per_s": Metric("generation.decode_tokens_per_s", "tokens/s", method_section="generation",
                                             label="tokens/s", higher=True, **_G),
    "generation.energy_mj_per_token": Metric("generation.energy.mj_per_token", "mJ", method_section="power",
                                             label="mJ/token", **_G),
    "generation.perplexity": Metric("generation.quality.perplexity", "", lo=1.0, method_section="generation",
                                    label="perplexity", interval="generation.quality.perplexity_ci95", **_G),
    "generation.agreement": Metric("generation.quality.reference.token_agreement", "", hi=1.0,
                                   method_section="generation", label="agreement", higher=True, agreement=True, **_G),
    "generation.load_ms": Metric("generation.load_ms", "ms", method_section="generation", label="load", **_G),
    "generation.context_growth_mb": Metric("generation.context_growth_mb", "MB", method_section="generation",
                                           label="RSS growth", **_G),
}


@dataclass(frozen=True)
class Workload:
    """What one kind of model is measured by, in names of METRICS: the key figures every table shows (`intervals`:
    those shown with their 95% interval), the figures compared run against run and over time (`tracked`), the timed
    distributions whose raw samples two runs are tested on (name, path), and what choosing a variant weighs: the
    quality figure first (`quality_noun` in words), then the speed figures, then energy, then size."""

    name: str
    figures: tuple[str, ...]
    intervals: tuple[str, ...]
    tracked: tuple[str, ...]
    distributions: tuple[tuple[str, str], ...]
    quality: str
    quality_noun: str
    speed: tuple[str, ...]
    energy: str


CLASSIFIER = Workload(
    "classifier",
    figures=("latency.p50_ms", "latency.p95_ms", "memory.peak_rss_mb", "accuracy.top1", "power.energy_mj",
             "model.size_mb"),
    intervals=("latency.p95_ms", "accuracy.top1"),
    tracked=("latency.p50_ms", "latency.p95_ms", "memory.peak_rss_mb", "accuracy.top1", "power.energy_mj"),
    distributions=(("latency", "latency"),),
    quality="accuracy.top1", quality_noun="accuracy", speed=("latency.p95_ms",), energy="power.energy_mj")
_TIMES = ("generation.ttft_p50_ms", "generation.ttft_p95_ms", "generation.tpot_p50_ms", "generation.tpot_p95_ms")
GENERATIVE = Workload(
    "generative",
    figures=(*_TIMES, "generation.decode_tokens_per_s", "generation.energy_mj_per_token", "generation.perplexity",
             "generation.agreement", "memory.peak_rss_mb", "model.size_mb"),
    intervals=(*_TIMES, "generation.perplexity"),
    tracked=(*_TIMES, "generation.decode_tokens_per_s", "generation.load_ms", "generation.context_growth_mb",
             "memory.peak_rss_mb", "generation.perplexity", "generation.agreement", "generation.energy_mj_per_token"),
    distributions=(("TTFT", "generation.ttft"), ("TPOT", "generation.tpot")),
    quality="generation.perplexity", quality_noun="perplexity",
    speed=("generation.tpot_p95_ms", "generation.ttft_p95_ms"), energy="generation.energy_mj_per_token")
WORKLOADS = {workload.name: workload for workload in (CLASSIFIER, GENERATIVE)}


def workload_of(result: dict[str, Any]) -> Workload:
    """The workload a Result measured: a language model's generation, else a model's inferences."""
    return GENERATIVE if Result(result).generative else CLASSIFIER


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
}
_TEXT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=|<|>)\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
# figures that depend on timing, so emulation makes them informational (a generation's perplexity does not)
TIMED = ("latency.", "cost.", "scenario.", "generation.ttft.", "generation.tpot.", "generation.decode_tokens_per_s",
         "generation.load_ms")


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
    """The value at a dotted path of the Result, None where any part is missing; three figures are worked out from
    others: `model.size_mb`, `accuracy.top1_ci95` (Result.top1_interval) and `generation.context_growth_mb` (the RSS
    growth at the deepest context measured)."""
    if path == "model.size_mb":
        size = (result.get("model") or {}).get("size_bytes")
        return size / BYTES_PER_MB if size is not None else None
    if path == "accuracy.top1_ci95":
        interval = Result(result).top1_interval
        return list(interval) if interval else None
    if path == "generation.context_growth_mb":
        depths = Result(result).generation.get("context") or []
        return max(depths, key=lambda row: row.get("tokens") or 0).get("growth_mb") if depths else None
    node: Any = result
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def metric_value(result: dict[str, Any], name: str) -> float | None:
    """The value of metric `name` in a Result as a float, None where it was not measured or is a figure of another
    workload (a language model's power section holds energy per decode step, not per inference)."""
    owner = METRICS[name].workload
    if owner is not None and owner != workload_of(result).name:
        return None
    value = value_at(result, METRICS[name].path)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def metric_interval(result: dict[str, Any], name: str) -> tuple[float, float] | None:
    """The 95% interval of metric `name` in a Result (a percentile's from its distribution's `ci`, else from the
    metric's `interval` path), None where there is none."""
    metric = METRICS[name]
    if metric.percentile:
        ci = ((value_at(result, metric.path.rpartition(".")[0]) or {}).get("ci") or {}).get(metric.percentile)
    else:
        ci = value_at(result, metric.interval) if metric.interval else None
    return (float(ci[0]), float(ci[1])) if ci else None


def metric_method(result: dict[str, Any], name: str) -> str:
    """How metric `name` was obtained in a Result: its method section's `method` ('host' for figures of the host,
    'none' where the section has none)."""
    metric = METRICS[name]
    section = metric.method_section if metric.method_section is not None else metric.path.split(".")[0]
    if not section:
        return "host"
    return str((result.get(section) or {}).get("method") or "none")


def meaningless(result: dict[str, Any], name: str) -> str | None:
    """Why an agreement metric means nothing in this Result (its reference's `reason`), None where it does or the
    metric is no agreement."""
    if not METRICS[name].agreement:
        return None
    compared = value_at(result, METRICS[name].path.rpartition(".")[0]) or {}
    return str(compared.get("reason") or "the reference's outputs do not vary") \
        if compared.get("meaningful") is False else None


def above(a: dict[str, Any], b: dict[str, Any], name: str) -> bool:
    """Whether metric `name` is higher in Result `a` than in `b` as far as the data supports: a's 95% interval lies
    wholly above b's (False where either has none)."""
    ia, ib = metric_interval(a, name), metric_interval(b, name)
    return bool(ia and ib and ia[0] > ib[1])
