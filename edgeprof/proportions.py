"""Accuracy as a proportion of samples: its 95% Wilson interval, and McNemar's exact test between two models
scored on the same samples. Closed forms in the standard library (checked against scipy in the tests), so that
judging a deploy does not import scipy (~0.3 s on every run)."""

from __future__ import annotations

import base64
import math

Z95 = 1.959963984540054  # the standard normal quantile for a two-sided 95% interval


def wilson(successes: int, n: int, *, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of successes/n (95% by default); None for n = 0. Unlike the normal
    approximation it stays inside [0, 1] and is honest at 0 or n successes."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided p-value of McNemar's exact test: of the samples exactly one model got right, `only_a` went to A
    and `only_b` to B; under 'equally accurate' each is a fair coin (a binomial test on the discordant pairs)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def unpack_correct(packed: str, samples: int) -> list[bool]:
    """Per-sample correctness as the agent stores it in `accuracy.correct` (numpy.packbits: sample 0 the highest
    bit of byte 0, base64), for `samples` samples."""
    raw = base64.b64decode(packed)
    return [bool(raw[i // 8] & (0x80 >> (i % 8))) for i in range(samples)]
