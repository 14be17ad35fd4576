"""Why two Results differ: the figures that moved (each workload's tracked figures: a classifier's latency,
memory, accuracy and energy; a language model's TTFT, TPOT, load, RSS growth, perplexity, ...) and every recorded
factor that can move a figure, side by side, ranked by the rule table `FACTORS`, beside the tests on the raw
samples (edgeprof.compare). The table is documented in docs/explain.md; a factor's rank is its likelihood, then its
place in the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from edgeprof.compare import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, Comparison, compare_pair, pair_runs
from edgeprof.constraints import metric_value, value_at
from edgeprof.errors import ConfigError
from edgeprof.result import Result, viewer

Doc = dict[str, Any]
LIKELY, POSSIBLE, UNLIKELY = "likely", "possible", "unlikely"
_ORDER = {LIKELY: 0, POSSIBLE: 1, UNLIKELY: 2}
CLIFF_MAGNITUDES = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))  # Romano et al. 2006; else large


@dataclass(frozen=True)
class Factor:
    """One row of the rule table: what is read from a Result, how likely a change in it explains a change in the
    figures, which figures it moves and why; `same` decides whether two values count as equal (default ==);
    `setting` is False for a condition of one run (load, temperature, samples) rather than a setting of the
    environment (trend figures annotate changed settings only); `unit`, the unit its values are shown in
    (edgeprof.units.value_text)."""

    name: str
    read: Callable[[Doc], Any]
    likelihood: str
    moves: str
    why: str
    same: Callable[[Any, Any], bool] | None = None
    setting: bool = True
    unit: str = ""


def at(path: str) -> Callable[[Doc], Any]:
    """A reader of one dotted path of the Result (None where missing)."""
    return lambda doc: value_at(doc, path)


def within(relative: float = 0.0, absolute: float = 0.0) -> Callable[[Any, Any], bool]:
    """Two numbers count as the same when they differ by at most `absolute` or `relative` of the first."""
    def same(a: Any, b: Any) -> bool:
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return a == b
        return abs(b - a) <= max(absolute, relative * abs(a))
    return same


def _accelerators(doc: Doc) -> Any:
    runtime = doc.get("runtime") or {}
    return runtime.get("providers") or runtime.get("delegates")


def _placement(doc: Doc) -> str | None:
    placement = doc.get("placement") or {}
    parts = [f"{row.get('name')} {row.get('nodes')}" for row in placement.get("by_accelerator") or []]
    if not parts:
        return None
    return ", ".join(parts) + f"; {placement.get('fallback_count') or 0} fallback"


def _batch(doc: Doc) -> Any:
    shapes = [spec.get("shape") for spec in doc.get("inputs") or []]
    return [shape[0] if shape else None for shape in shapes] or None


def _throttled(doc: Doc) -> Any:
    throttled = value_at(doc, "thermal.throttled")
    return None if not isinstance(throttled, dict) else sorted({*throttled.get("now", []),
                                                               *throttled.get("occurred", [])}) or "no"


def _busy_alike(a: Any, b: Any) -> bool:
    return bool(a) == bool(b)


def _prompts(doc: Doc) -> str | None:
    """'8 shipped, 557 tokens': the prompts a generation answered, None for a run without one."""
    prompts = value_at(doc, "generation.prompts")
    if not isinstance(prompts, dict):
        return None
    return f"{prompts.get('count')} {prompts.get('source')}, {sum(prompts.get('tokens') or [])} tokens"


def _answer_tokens(doc: Doc) -> float | None:
    """The mean answer length of a generation in tokens (max tokens, or fewer where the model ended its answer)."""
    decoded, prompts = value_at(doc, "generation.tokens_decoded"), value_at(doc, "generation.prompts_run")
    return round(decoded / prompts, 1) if decoded and prompts else None


def _depths(doc: Doc) -> list[Any] | None:
    return [row.get("tokens") for row in value_at(doc, "generation.context") or []] or None


FACTORS: tuple[Factor, ...] = (
    Factor("model file (sha256)", at("model.sha256"), LIKELY, "every figure", "another model file was measured"),
    Factor("model size", at("model.size_mb"), LIKELY, "every figure", "another model file was measured", setting=False,
           unit="MB"),
    Factor("model variant", at("model.variant"), LIKELY, "latency, accuracy, memory",
           "quantisation or precision changes the kernels and the outputs"),
    Factor("model format", at("model.format"), LIKELY, "every figure", "another runtime and converter"),
    Factor("device", at("device"), LIKELY, "every figure", "another device"),
    Factor("emulation", at("device_info.emulated"), LIKELY, "latency, power", "an emulator's timing is not a board's"),
    Factor("latency method", at("latency.method"), LIKELY, "latency", "measured another way"),
    Factor("generation method", at("generation.method"), LIKELY, "TTFT, TPOT, load", "measured another way"),
    Factor("prompts", _prompts, LIKELY, "TTFT, TPOT, agreement",
           "other prompts prefill other lengths and decode other answers"),
    Factor("context depths (tokens)", _depths, LIKELY, "RSS growth", "a deeper context holds a larger KV cache"),
    Factor("perplexity text", at("generation.quality.text"), LIKELY, "perplexity", "perplexity of another text"),
    Factor("runtime", at("runtime.name"), LIKELY, "latency, memory, accuracy", "another inference engine"),
    Factor("accelerator requested", at("runtime.requested"), LIKELY, "latency, power, accuracy",
           "another provider or delegate runs the graph"),
    Factor("providers/delegates active", _accelerators, LIKELY, "latency, power",
           "what actually ran (a missing accelerator fell back)"),
    Factor("placement (nodes per accelerator)", _placement, LIKELY, "latency",
           "nodes moved between accelerator and CPU", setting=False),
    Factor("intra-op threads", at("runtime.threads.intra_op"), LIKELY, "latency, throughput, power",
           "more or fewer cores work on each inference"),
    Factor("inter-op threads", at("runtime.threads.inter_op"), POSSIBLE, "latency", "parallel branches"),
    Factor("scenario", at("scenario.name"), LIKELY, "latency, throughput", "another load pattern"),
    Factor("batch", _batch, LIKELY, "latency, throughput, memory", "each inference does more work"),
    Factor("power mode (nvpmodel)", at("system.power_mode"), LIKELY, "latency, power",
           "the board's clocks and online cores are capped"),
    Factor("throttling", _throttled, LIKELY, "latency, power", "the clocks were lowered while measuring", setting=False),
    Factor("runtime version", at("runtime.version"), POSSIBLE, "latency, memory, accuracy",
           "kernels and graph optimisations change between releases"),
    Factor("CPU governor", at("system.governor"), POSSIBLE, "latency, power",
           "frequency scaling adds ramp-up time (set 'performance')"),
    Factor("CPU clock now (MHz)", at("system.freq_mhz.cur"), POSSIBLE, "latency, power",
           "a lower clock runs every kernel slower", within(relative=0.05), setting=False),
    Factor("CPU clock max (MHz)", at("system.freq_mhz.max"), POSSIBLE, "latency", "another clock ceiling"),
    Factor("busy device", at("system.busy_warning"), POSSIBLE, "latency, power",
           "other processes competed for the CPU", _busy_alike, setting=False),
    Factor("load average (1 min)", lambda d: (value_at(d, "system.loadavg") or [None])[0], POSSIBLE, "latency",
           "other work on the device", within(absolute=0.5), setting=False),
    Factor("max temperature (C)", at("thermal.max_c"), POSSIBLE, "latency, power",
           "a hotter chip is closer to throttling and leaks more power", within(absolute=5.0), setting=False),
    Factor("board", at("system.board"), POSSIBLE, "every figure", "another board revision"),
    Factor("CPU model", at("system.cpu_model"), POSSIBLE, "every figure", "another CPU"),
    Factor("CPU cores", at("system.cpu_count"), POSSIBLE, "latency, throughput", "another core count"),
    Factor("calls per sample", at("latency.calls_per_sample"), POSSIBLE, "latency tails",
           "samples averaged over a loop smooth the tail percentiles", setting=False),
    Factor("power method", at("power.method"), POSSIBLE, "energy, power", "a sensor and an estimate differ"),
    Factor("accuracy samples", at("accuracy.samples"), POSSIBLE, "accuracy", "another or a smaller dataset"),
    Factor("latency drift flagged", at("latency.drift.flag"), POSSIBLE, "latency",
           "latency moved during the run (heat, other work)", setting=False),
    Factor("answer length (tokens)", _answer_tokens, POSSIBLE, "TPOT, energy per token",
           "longer answers decode at deeper context", within(relative=0.1), setting=False),
    Factor("kernel", at("system.kernel"), UNLIKELY, "latency", "scheduler and driver changes"),
    Factor("Python", at("system.python"), UNLIKELY, "latency (small models)", "call overhead"),
    Factor("numpy", at("system.numpy"), UNLIKELY, "latency (input copies)", "array handling"),
    Factor("latency samples", at("latency.samples"), UNLIKELY, "intervals, tails",
           "fewer samples give wider intervals", within(relative=0.5), setting=False),
    Factor("stop reason", at("latency.stop_reason"), UNLIKELY, "intervals", "the run stopped for another reason", setting=False),
    Factor("warm-up stable", at("latency.warmup.stable"), UNLIKELY, "latency",
           "an unstable warm-up leaves caches and clocks cold", setting=False),
    Factor("memory method", at("memory.method"), UNLIKELY, "memory", "measured another way"),
    Factor("thermal method", at("thermal.method"), UNLIKELY, "temperature", "measured another way"),
    Factor("edgeprof version", at("host.edgeprof"), UNLIKELY, "method details", "the measuring code changed"),
)


@dataclass(frozen=True)
class FactorRow:
    """One factor read from both Results: the two values and whether they differ."""

    factor: Factor
    a: Any
    b: Any
    differs: bool


@dataclass(frozen=True)
class Move:
    """One tracked figure that moved from A to B (metric name, the two values, B/A) and whether the data supports
    it beyond doubt: its 95% intervals lie apart (None: it has no intervals, and moved by at least the minimum
    effect)."""

    metric: str
    a: float
    b: float
    ratio: float
    apart: bool | None


@dataclass
class Explanation:
    """One pair of Results (A and B): the tests and figure ratios, the figures that moved, and every factor,
    differences first in rule-table rank."""

    comparison: Comparison
    rows: list[FactorRow]
    moved: list[Move]

    @property
    def differences(self) -> list[FactorRow]:
        return [row for row in self.rows if row.differs]


def moved_figures(c: Comparison, min_effect: float = DEFAULT_MIN_EFFECT) -> list[Move]:
    """The tracked figures of a comparison that moved: those with 95% intervals in both where they do not overlap,
    the others where B/A is at least `min_effect` away from 1."""
    moves = []
    for name, ratio in c.ratios.items():
        a, b = metric_value(c.a, name), metric_value(c.b, name)
        if ratio is None or a is None or b is None:
            continue
        apart = c.apart.get(name)
        if apart or (apart is None and abs(ratio - 1.0) >= min_effect):
            moves.append(Move(name, a, b, ratio, apart))
    return moves


def effect_magnitude(delta: float | None) -> str:
    """Cliff's delta in words: negligible, small, medium or large (|delta| thresholds of CLIFF_MAGNITUDES)."""
    if delta is None:
        return "not tested"
    return next((word for bound, word in CLIFF_MAGNITUDES if abs(delta) < bound), "large")


def factor_rows(a: Doc, b: Doc) -> list[FactorRow]:
    """Every factor of FACTORS read from A and B: those that differ first (likely, possible, unlikely, each in
    table order), then those that are the same."""
    rows = []
    for factor in FACTORS:
        va, vb = factor.read(a), factor.read(b)
        rows.append(FactorRow(factor, va, vb, not (factor.same or (lambda x, y: x == y))(va, vb)))
    return sorted(rows, key=lambda r: (not r.differs, _ORDER[r.factor.likelihood]))


def setting_changes(a: Doc, b: Doc) -> list[str]:
    """The settings (factors with `setting`) that differ from A to B, likeliest first, as 'name: a -> b' (a sha
    shortened to 8 characters)."""
    def short(value: Any) -> str:
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        return text[:8] if len(text) == 64 else text
    return [f"{row.factor.name}: {short(row.a)} -> {short(row.b)}" for row in factor_rows(a, b)
            if row.differs and row.factor.setting]


def pairs_to_explain(run_a: list[Doc], run_b: list[Doc]) -> list[tuple[Doc, Doc]]:
    """The Results of A and B to set side by side: the pairs `compare` makes (edgeprof.compare.pair_runs); failing
    any, the one successful Result of each run (board A against board B, picked with --device/--model)."""
    pairs = pair_runs(run_a, run_b)
    ok_a, ok_b = [r for r in run_a if Result(r).ok], [r for r in run_b if Result(r).ok]
    if not pairs and len(ok_a) == 1 and len(ok_b) == 1:
        pairs = [(ok_a[0], ok_b[0])]
    return pairs


def explain_runs(run_a: list[Doc], run_b: list[Doc], *, a_id: str = "A", b_id: str = "B",
                 alpha: float = DEFAULT_ALPHA, min_effect: float = DEFAULT_MIN_EFFECT) -> list[Explanation]:
    """One Explanation per pair (pairs_to_explain); ConfigError when the runs have nothing to set side by side."""
    pairs = pairs_to_explain(run_a, run_b)
    if not pairs:
        counts = ", ".join(f"{sum(Result(r).ok for r in run)} in {rid}" for rid, run in ((a_id, run_a), (b_id, run_b)))
        raise ConfigError(f"runs {a_id} and {b_id} share no successful device x model variant ({counts}): choose one "
                          "Result of each with --device/--model")
    view = viewer([*run_a, *run_b])
    explained = []
    for a, b in pairs:
        comparison = compare_pair(a, b, view(b), alpha=alpha, min_effect=min_effect)
        explained.append(Explanation(comparison, factor_rows(a, b), moved_figures(comparison, min_effect)))
    return explained
