#!/usr/bin/env python3
"""How many samples does the stopping rule take to a precise p95, next to the fewest a fixed run needs, and does
its interval cover the true p95 as often as it claims? Prints figures.

On synthetic latencies (lognormal, bimodal, drifting), each replicate draws max_runs samples and is fed one
sample at a time to `stats.StoppingRule`, as the agent's sampler does (precision judged at x1.25-spaced counts,
each look's interval at the exact per-look level that makes the intervals of all the looks hold together). The
oracle n is the sample count at which a fixed run (one interval, nominal level) reaches the target half-width in
the median over the same replicates: the fewest samples a rule that knew the distribution could plan. For each
distribution it prints the oracle n, the rule's samples (median, IQR, and their ratio to the oracle n) and the p95
interval coverage of both. min_seconds is left out (no clock here): every look is taken, the strictest case;
--first-look N takes the looks from N samples on, as when min_seconds passes after N (fewer looks, a lower
per-look level); --time-cap N stops it by max_seconds after N samples (a slow device), with the warm-up's pace
planning that count (the looks end there, the last interval at `stats.final_confidence`) and, for comparison,
without (the looks counted to max_runs, the interval at the per-look level).

    .venv/bin/python scripts/bench_stopping.py [--reps 1000] [--target 0.02] [--first-look 500 | --time-cap 180]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.agent import stats  # noqa: E402
from edgeprof.agent.spec import LatencyBudget, defaults  # noqa: E402

SIGMA = 0.15  # lognormal shape: the 2% target then needs ~1,000 samples at the nominal level
DRIFT = 0.20  # the drifting latency slows by 20% over max_runs calls


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, SIGMA, n)


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    """90% fast calls around 1 ms, 10% slow ones around 1.5 ms (a cache-miss or preempted mode)."""
    slow = rng.random(n) < 0.10
    return np.where(slow, rng.normal(1.5, 0.08, n), rng.normal(1.0, 0.04, n))


def drifting(rng: np.random.Generator, n: int) -> np.ndarray:
    return lognormal(rng, n) * (1.0 + DRIFT * np.arange(n) / n)


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "lognormal": lognormal, "bimodal": bimodal, "drifting": drifting}


def true_p95(name: str, n: int, max_runs: int) -> float:
    """The p95 of the latency over the first n calls (for drift: of the mixture over those calls)."""
    from scipy import optimize
    from scipy import stats as st

    if name == "lognormal":
        return float(np.exp(SIGMA * st.norm.ppf(0.95)))
    if name == "bimodal":
        cdf = lambda x: 0.9 * st.norm.cdf(x, 1.0, 0.04) + 0.1 * st.norm.cdf(x, 1.5, 0.08)  # noqa: E731
    else:
        scale = 1.0 + DRIFT * np.arange(n) / max_runs
        cdf = lambda x: float(np.mean(st.norm.cdf(np.log(x / scale) / SIGMA)))  # noqa: E731
    return float(optimize.brentq(lambda x: cdf(x) - 0.95, 0.5, 5.0, xtol=1e-9))


def rule_stop(x: np.ndarray, budget: dict, first_look: int, time_cap: int, planned: bool) -> tuple[int, float]:
    """Where the agent's rule stops on these samples, and the confidence of the interval it reports. A time cap
    of N: max_seconds passes at the Nth sample; `planned`: the warm-up's pace planned exactly that."""
    rule = stats.StoppingRule(budget["target_rel_halfwidth"], budget["confidence"], budget["max_runs"],
                              1.0 if time_cap else np.inf, min_runs=budget["min_runs"],
                              min_seconds=1.0 if first_look else 0.0, planned_runs=time_cap if planned else None)
    for n in range(1, len(x) + 1):
        elapsed = n / first_look if first_look else n / time_cap if time_cap else 0.0
        if rule.should_stop(x[:n], elapsed):
            return n, rule.interval_confidence
    raise AssertionError("the rule never stopped")


def oracle_n(draws: list[np.ndarray], target: float, confidence: float) -> int | None:
    """The fewest samples at which a fixed run's nominal p95 interval is within `target` in the median (bisected
    to 1% of n); None if max_runs samples do not reach it."""
    def median_halfwidth(n: int) -> float:
        return float(np.median([stats.relative_halfwidth(np.sort(x[:n]), 0.95, confidence) for x in draws]))

    lo, hi = stats.first_look(0.95, confidence), len(draws[0])
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
    parser.add_argument("--first-look", type=int, default=0,
                        help="the first look the rule takes (as when min_seconds passes after that many samples)")
    parser.add_argument("--time-cap", type=int, default=0,
                        help="max_seconds passes after this many samples (a slow device): the rule with the "
                             "warm-up's pace planning it, and without")
    args = parser.parse_args()
    if args.first_look and args.time_cap:
        parser.error("--first-look and --time-cap each set the clock; give one")
    budget = dict(defaults(LatencyBudget), target_rel_halfwidth=args.target)
    last = min(args.time_cap or budget["max_runs"], budget["max_runs"])
    looks = [n for n in stats.look_points(budget["min_runs"], last) if n >= args.first_look]
    print(f"p95 interval coverage at nominal {budget['confidence']}, target half-width {args.target:.1%}, "
          f"max_runs {budget['max_runs']}, {args.reps} replicates; looks at {looks}, per-look confidence "
          f"{stats.look_confidence(tuple(looks), 0.95, budget['confidence']):.4f}")
    for name, draw in DISTRIBUTIONS.items():
        rng = np.random.default_rng(7)
        draws = [draw(rng, budget["max_runs"]) for _ in range(args.reps)]
        oracle = oracle_n(draws, args.target, budget["confidence"])
        truth_at: dict[int, float] = {}
        rows = {"stopping rule": lambda x: rule_stop(x, budget, args.first_look, args.time_cap, True)}
        if args.time_cap:
            rows["the same, unplanned"] = lambda x: rule_stop(x, budget, 0, args.time_cap, False)
        if oracle is not None:
            rows[f"fixed {oracle} runs (oracle n)"] = lambda x: (oracle, budget["confidence"])
        print(f"\n{name}: oracle n {oracle or '> max_runs'}")
        for label, stop in rows.items():
            hits, ns, widths = 0, [], []
            for x in draws:
                n, level = stop(x)
                ordered = np.sort(x[:n])
                ci = stats.quantile_ci(ordered, 0.95, level)
                if n not in truth_at:
                    truth_at[n] = true_p95(name, n, budget["max_runs"])
                hits += ci is not None and ci[0] <= truth_at[n] <= ci[1]
                ns.append(n)
                widths.append(stats.relative_halfwidth(ordered, 0.95, level))
            median = float(np.median(ns))
            ratio = f"{median / oracle:.2f}x oracle" if oracle else "-"
            print(f"  {label:27s} coverage {hits / args.reps:.3f}  samples median {median:6.0f} "
                  f"(IQR {np.percentile(ns, 25):.0f}-{np.percentile(ns, 75):.0f}, {ratio})  half-width median "
                  f"{np.median(widths):.2%}  reached target {np.mean(np.array(widths) <= args.target):.0%}")


if __name__ == "__main__":
    main()
