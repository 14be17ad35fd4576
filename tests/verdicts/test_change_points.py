"""Change points in a series of per-run figures (edgeprof.compare.change_points) on synthetic series."""

from __future__ import annotations

import numpy as np

from edgeprof.compare import change_points


def noisy(*levels: tuple[float, int], seed: int = 0, spread: float = 0.01) -> list[float]:
    """Runs at each (level, count) in turn, with relative gaussian noise `spread`."""
    rng = np.random.default_rng(seed)
    return [float(level * (1 + spread * rng.standard_normal())) for level, count in levels for _ in range(count)]


def test_a_step_is_found_at_its_first_point() -> None:
    assert change_points(noisy((1.0, 10), (1.3, 10))) == [10]
    assert change_points(noisy((2.0, 6), (1.0, 9), seed=3)) == [6]


def test_two_steps_are_both_found() -> None:
    assert change_points(noisy((1.0, 8), (1.5, 8), (1.1, 8), seed=1)) == [8, 16]


def test_noise_and_small_steps_are_not_change_points() -> None:
    assert change_points(noisy((1.0, 30), seed=2, spread=0.05)) == []
    assert change_points(noisy((1.0, 10), (1.02, 10), seed=4, spread=0.002)) == []  # significant, below 5%
    assert change_points(noisy((1.0, 10), (1.02, 10), seed=4, spread=0.002), min_effect=0.01) == [10]


def test_short_series_and_missing_values() -> None:
    assert change_points([1.0, 1.0, 1.0, 2.0, 2.0, 2.0]) == []  # 3 v 3 cannot reach p < 0.05
    assert change_points([1.0] * 4 + [2.0] * 4) == [4]
    series: list[float | None] = [1.0, None, 1.01, 0.99, 1.0, 2.0, None, 2.02, 1.98, 2.0]
    assert change_points(series) == [5]
    assert change_points([]) == [] and change_points([None, None]) == []
