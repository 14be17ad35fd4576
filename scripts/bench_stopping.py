#!/usr/bin/env python3
"""Does the stopping rule's reported p95 interval cover the true p95 as often as it claims? Prints figures.

On synthetic latencies (lognormal, bimodal, drifting), each replicate draws max_runs samples and stops where
the agent's rule would (`stats.look_points`, `stats.look_confidence`: precision checked at x1.25-spaced counts,
each look's interval at the exact per-look level that makes the intervals of all the looks hold together);
it reports the coverage of the p95 interval and the samples used, next to a fixed 1,000-run loop and the
rule before this change (checks every 50 then every 5% of the samples, nominal level). min_seconds is left
out (no clock here): every look is taken, the strictest case; --first-look N starts the looks at N samples, as
when min_seconds passes after N (fewer looks taken, a lower per-look level, fewer samples).

    .venv/bin/python scripts/bench_stopping.py [--reps 1000] [--target 0.02] [--first-look 500]
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


def rule_stop(x: np.ndarray, budget: dict) -> tuple[int, float]:
    """Where the agent's rule stops on these samples, and the confidence of the interval it reports."""
    looks = [n for n in stats.look_points(budget["min_runs"], budget["max_runs"]) if n >= budget["first_look"]]
    level = stats.look_confidence(tuple(looks), 0.95, budget["confidence"])
    for n in looks:
        if stats.relative_halfwidth(np.sort(x[:n]), 0.95, level) <= budget["target_rel_halfwidth"]:
            break
    return n, level


def old_rule_stop(x: np.ndarray, budget: dict) -> tuple[int, float]:
    """The rule before: every 50 samples, then every 5%, at the nominal level."""
    n = 50
    while n < budget["max_runs"]:
        if stats.relative_halfwidth(np.sort(x[:n]), 0.95, budget["confidence"]) <= budget["target_rel_halfwidth"]:
            return n, budget["confidence"]
        n += max(50, n // 20)
    return budget["max_runs"], budget["confidence"]


def fixed_stop(x: np.ndarray, budget: dict) -> tuple[int, float]:
    return 1000, budget["confidence"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--target", type=float, default=defaults(LatencyBudget)["target_rel_halfwidth"])
    parser.add_argument("--first-look", type=int, default=0,
                        help="the first look the rule takes (as when min_seconds passes after that many samples)")
    args = parser.parse_args()
    budget = dict(defaults(LatencyBudget), target_rel_halfwidth=args.target, first_look=args.first_look)
    taken = [n for n in stats.look_points(budget["min_runs"], budget["max_runs"]) if n >= args.first_look]
    rules: dict[str, Callable] = {"stopping rule": rule_stop, "rule before (every 50/5%)": old_rule_stop,
                                  "fixed 1000 runs": fixed_stop}
    print(f"p95 interval coverage at nominal {budget['confidence']}, target half-width {args.target:.1%}, "
          f"max_runs {budget['max_runs']}, {args.reps} replicates; looks at "
          f"{taken}, per-look confidence {stats.look_confidence(tuple(taken), 0.95, budget['confidence']):.4f}")
    for name, draw in (("lognormal", lognormal), ("bimodal", bimodal), ("drifting", drifting)):
        rng = np.random.default_rng(7)
        truth_at: dict[int, float] = {}
        tally = {label: {"hits": 0, "n": [], "width": [], "precise": 0} for label in rules}
        for _ in range(args.reps):
            x = draw(rng, budget["max_runs"])
            for label, stop in rules.items():
                n, level = stop(x, budget)
                ordered = np.sort(x[:n])
                ci = stats.quantile_ci(ordered, 0.95, level)
                if n not in truth_at:
                    truth_at[n] = true_p95(name, n, budget["max_runs"])
                t = tally[label]
                t["hits"] += ci is not None and ci[0] <= truth_at[n] <= ci[1]
                t["n"].append(n)
                half = stats.relative_halfwidth(ordered, 0.95, level)
                t["width"].append(half)
                t["precise"] += half <= args.target
        print(f"\n{name}:")
        for label, t in tally.items():
            print(f"  {label:27s} coverage {t['hits'] / args.reps:.3f}  samples median {np.median(t['n']):6.0f} "
                  f"(IQR {np.percentile(t['n'], 25):.0f}-{np.percentile(t['n'], 75):.0f})  half-width median "
                  f"{np.median(t['width']):.2%}  reached target {t['precise'] / args.reps:.0%}")


if __name__ == "__main__":
    main()
