#!/usr/bin/env python3
"""How many samples does the stopping rule take to a precise p95, next to the fewest a fixed run needs, and does
its interval cover the true p95 as often as it claims? Prints figures.

On synthetic latencies (lognormal, bimodal, drifting, a tight lognormal as a quiet device's, and two narrow
spikes either side of p95, built to fool a rule that stops on a narrow interval), each replicate draws max_runs
samples and is fed one sample at a time to `stats.StoppingRule`, as the agent's sampler does: a pilot plans the
count of fresh samples whose interval alone is reported, at the nominal level. The oracle n is the sample count at
which a fixed run (one interval, nominal level) reaches the target half-width in the median over the same
replicates: the fewest samples a rule that knew the distribution could plan. For each distribution it prints the
oracle n and, for the rule and the fixed oracle run, the p95 interval's coverage (with its binomial 95% band over
the replicates), the samples (median, IQR, and their ratio to the oracle n; the pilot's median), the final
half-width (median, share within the target) and the share of runs whose drift check (`stats.drift`, over all the
samples) flags them.

min_seconds is left out (no clock here) unless --floor N sets it to pass after N samples (a microsecond model's
loops make it pass at a quarter of max_runs); --time-cap N stops sampling by max_seconds after N samples (a slow
device), with the warm-up's pace planning that count and, for comparison, without (the samples' own pace then
shows the budget short, and they run to the clock).

    .venv/bin/python scripts/bench_stopping.py [--reps 1000] [--target 0.02] [--floor 1250 | --time-cap 180]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.agent import stats  # noqa: E402
from edgeprof.agent.spec import LatencyBudget, defaults  # noqa: E402

SIGMA = 0.15  # lognormal shape: the 2% target then needs ~1,000 samples at the nominal level
TIGHT = 0.02  # a quiet device's spread: the fewest samples with an interval already reach the target
DRIFT = 0.20  # the drifting latency slows by 20% over max_runs calls


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, SIGMA, n)


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    """90% fast calls around 1 ms, 10% slow ones around 1.5 ms (a cache-miss or preempted mode)."""
    slow = rng.random(n) < 0.10
    return np.where(slow, rng.normal(1.5, 0.08, n), rng.normal(1.0, 0.04, n))


def drifting(rng: np.random.Generator, n: int) -> np.ndarray:
    return lognormal(rng, n) * (1.0 + DRIFT * np.arange(n) / n)


def tight(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, TIGHT, n)


def two_spikes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Quantile levels: the bulk below 0.80, a narrow spike at 1.0 up to 0.95, one at 1.1 above: an interval is
    narrow exactly when it lies inside one spike, missing the p95 (the top of the lower spike)."""
    u = rng.random(n)
    return np.where(u < 0.80, u, np.where(u < 0.95, 1.0 + 1e-9 * u, 1.1 + 1e-9 * u))


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "lognormal": lognormal, "bimodal": bimodal, "drifting": drifting, "tight": tight, "two-spike": two_spikes}


def true_p95(name: str, start: int, stop: int, max_runs: int) -> float:
    """The p95 of the latency over calls start..stop - 1 (for drift: of the mixture over those calls)."""
    from scipy import optimize
    from scipy import stats as st

    if name in ("lognormal", "tight"):
        return float(np.exp((SIGMA if name == "lognormal" else TIGHT) * st.norm.ppf(0.95)))
    if name == "two-spike":
        return 1.0 + 1e-9 * 0.95
    if name == "bimodal":
        cdf = lambda x: 0.9 * st.norm.cdf(x, 1.0, 0.04) + 0.1 * st.norm.cdf(x, 1.5, 0.08)  # noqa: E731
    else:
        scale = 1.0 + DRIFT * np.arange(start, stop) / max_runs
        cdf = lambda x: float(np.mean(st.norm.cdf(np.log(x / scale) / SIGMA)))  # noqa: E731
    return float(optimize.brentq(lambda x: cdf(x) - 0.95, 0.5, 5.0, xtol=1e-9))


def rule_stop(x: np.ndarray, budget: dict, floor: int, time_cap: int, planned: bool) -> tuple[int, int]:
    """Where the agent's rule stops on these samples: its measured samples' first index (after the pilot) and end.
    A time cap of N: max_seconds passes at the Nth sample; `planned`: the warm-up's pace planned exactly that."""
    rule = stats.StoppingRule(budget["target_rel_halfwidth"], budget["confidence"], budget["max_runs"],
                              1.0 if time_cap else np.inf, min_runs=budget["min_runs"],
                              min_seconds=1.0 if floor else 0.0, planned_runs=time_cap if planned else None)
    for n in range(1, len(x) + 1):
        if rule.should_stop(x[:n], clock(n, floor, time_cap)):
            return rule.pilot or 0, n
    raise AssertionError("the rule never stopped")


def clock(n: int, floor: int, time_cap: int) -> float:
    """The seconds after n samples: min_seconds (1 s) passes at the `floor`th, max_seconds (1 s) at the
    `time_cap`th; 0 without either (no clock)."""
    return n / floor if floor else n / time_cap if time_cap else 0.0


def oracle_n(draws: list[np.ndarray], target: float, confidence: float) -> int | None:
    """The fewest samples at which a fixed run's nominal p95 interval is within `target` in the median (bisected
    to 1% of n); None if max_runs samples do not reach it."""
    def median_halfwidth(n: int) -> float:
        return float(np.median([stats.relative_halfwidth(np.sort(x[:n]), 0.95, confidence) for x in draws]))

    lo, hi = stats.fewest_samples(0.95, confidence), len(draws[0])
    if median_halfwidth(lo) <= target:
        return lo
    if median_halfwidth(hi) > target:
        return None
    while hi - lo > max(1, lo // 100):
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if median_halfwidth(mid) > target else (lo, mid)
    return hi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--target", type=float, default=defaults(LatencyBudget)["target_rel_halfwidth"])
    parser.add_argument("--floor", type=int, default=0,
                        help="min_seconds passes after this many samples (a microsecond model's loops)")
    parser.add_argument("--time-cap", type=int, default=0,
                        help="max_seconds passes after this many samples (a slow device): the rule with the "
                             "warm-up's pace planning it, and without")
    args = parser.parse_args()
    if args.floor and args.time_cap:
        parser.error("--floor and --time-cap each set the clock; give one")
    budget = dict(defaults(LatencyBudget), target_rel_halfwidth=args.target)
    print(f"p95 interval coverage at nominal {budget['confidence']}, target half-width {args.target:.1%}, "
          f"max_runs {budget['max_runs']}, {args.reps} replicates")
    for name, draw in DISTRIBUTIONS.items():
        rng = np.random.default_rng(7)
        draws = [draw(rng, budget["max_runs"]) for _ in range(args.reps)]
        oracle = oracle_n(draws, args.target, budget["confidence"])
        truth: dict[tuple[int, int], float] = {}
        rows: dict[str, Callable[[np.ndarray], tuple[int, int]]] = {
            "stopping rule": lambda x: rule_stop(x, budget, args.floor, args.time_cap, True)}
        if args.time_cap:
            rows["the same, unplanned"] = lambda x: rule_stop(x, budget, 0, args.time_cap, False)
        if oracle is not None:
            rows[f"fixed {oracle} runs (oracle n)"] = lambda x: (0, oracle)
        print(f"\n{name}: oracle n {oracle or '> max_runs'}")
        for label, stop in rows.items():
            hits, ends, pilots, widths, drifted = 0, [], [], [], 0
            for x in draws:
                start, end = stop(x)
                ordered = np.sort(x[start:end])
                ci = stats.quantile_ci(ordered, 0.95, budget["confidence"])
                if (start, end) not in truth:
                    truth[start, end] = true_p95(name, start, end, budget["max_runs"])
                hits += ci is not None and ci[0] <= truth[start, end] <= ci[1]
                ends.append(end)
                pilots.append(start)
                widths.append(stats.relative_halfwidth(ordered, 0.95, budget["confidence"]))
                drifted += bool((stats.drift(x[:end]) or {}).get("flag"))
            coverage, median = hits / args.reps, float(np.median(ends))
            band = 1.96 * math.sqrt(coverage * (1 - coverage) / args.reps)
            ratio = f", {median / oracle:.2f}x oracle" if oracle else ""
            print(f"  {label:27s} coverage {coverage:.3f} (+-{band:.3f})  samples median {median:6.0f} "
                  f"(IQR {np.percentile(ends, 25):.0f}-{np.percentile(ends, 75):.0f}{ratio}; pilot "
                  f"{np.median(pilots):.0f})  half-width median {np.median(widths):.2%}, within target "
                  f"{np.mean(np.array(widths) <= args.target):.0%}  drift flagged {drifted / args.reps:.0%}")


if __name__ == "__main__":
    main()
