"""Numbers as people read them: three significant digits, durations and sizes in the unit that suits them
(7.12 µs, 1.23 ms; 24.7 kB, 69.2 MB), a metric's value and bound in its unit, p-values never 'p = 0'.

The one home of figure formatting: every table, report, JUnit and Markdown line and command
output goes through it. Sizes are binary, as /proc counts memory: 1 kB = 1024 bytes, 1 MB = 1024 kB (every `_mb`
figure: memory, RAM, model size). Imports nothing.
"""

from __future__ import annotations

import math
from typing import Any


def sig(value: Any, digits: int = 3) -> str:
    """`value` to `digits` significant digits, trailing zeros kept ('2.10', '356', '0.0712'); '-' for missing,
    integers and text as they are."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return f"{value:.0f}"
    if abs(value) < 1e-4:
        return f"{value:.{digits - 1}e}"
    return f"{value:#.{digits}g}".rstrip(".")


P_FLOOR = 0.001  # a smaller p-value is shown as this bound: past it the exact figure changes no reading


def p_value(p: float) -> str:
    """'p = 0.032', 'p < 0.001': a p-value as people read it, never 'p = 0'."""
    return f"p < {P_FLOOR:g}" if p < P_FLOOR else f"p = {p:.2g}"


# (unit, milliseconds per unit), largest first: a duration is shown in the first unit it reaches 1 of
DURATION_UNITS = (("s", 1000.0), ("ms", 1.0), ("µs", 1e-3), ("ns", 1e-6))
BYTES_PER_MB = 2**20
# (unit, MB per unit), largest first: a size is shown in the first unit it reaches 1 of
SIZE_UNITS = (("GB", 1024.0), ("MB", 1.0), ("kB", 1 / 1024), ("B", 1 / BYTES_PER_MB))


def _unit(value: float, units: tuple[tuple[str, float], ...], zero: str) -> tuple[str, float]:
    """(unit, scale): the largest of `units` that `value` reaches 1 of (`zero` for zero)."""
    if value == 0:
        return next((unit, scale) for unit, scale in units if unit == zero)
    reached = max(abs(value), abs(float(f"{value:.3g}")))  # 999.6 µs is shown as 1.00 ms, not 1.00e+03 µs
    for unit, scale in units:
        if reached >= scale:
            return unit, scale
    return units[-1]


def _scaled(value: float | None, units: tuple[tuple[str, float], ...], zero: str, unit_of: float | None) -> str:
    if value is None:
        return "-"
    unit, scale = _unit(float(value if unit_of is None else unit_of), units, zero)
    return f"{sig(float(value) / scale)} {unit}"


def duration_unit(ms: float) -> tuple[str, float]:
    """(unit, ms per unit) that shows `ms` milliseconds with 1 to 999 before the point (ms for zero)."""
    return _unit(ms, DURATION_UNITS, "ms")


def duration(ms: float | None, unit_of: float | None = None) -> str:
    """A duration given in ms, in the unit that suits it (or suits `unit_of`): '7.12 µs', '1.23 ms', '2.10 s';
    '-' for missing."""
    return _scaled(ms, DURATION_UNITS, "ms", unit_of)


def duration_range(ms: float | None, low: float, high: float) -> str:
    """'7.12 µs [6.90–7.41]': a duration and its interval, the interval in the duration's unit."""
    if ms is None:
        return "-"
    _, scale = duration_unit(float(ms))
    return f"{duration(ms)} [{sig(low / scale)}–{sig(high / scale)}]"


def size(mb: float | None) -> str:
    """A size given in MB (2^20 bytes), in the unit that suits it: '512 B', '24.7 kB', '69.2 MB', '1.50 GB'; '-' for
    missing."""
    return _scaled(mb, SIZE_UNITS, "B", None)


def file_size(n_bytes: int | float | None) -> str:
    """A size given in bytes, as `size` shows it ('24.7 kB')."""
    return size(None if n_bytes is None else n_bytes / BYTES_PER_MB)


SCALED = {"ms": duration, "MB": size}  # the metric units whose figures are shown in the unit that suits them


def value_text(value: Any, unit: str) -> str:
    """A metric's value in its unit (constraints.Metric.unit): durations and sizes in the unit that suits them
    ('7.12 µs', '69.2 MB'), others to 3 significant digits with their unit ('0.981', '2.10 W'); a flag as
    true/false, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return str(value)
    return SCALED[unit](value) if unit in SCALED else f"{sig(value)} {unit}".strip()


def figure(value: float | None, unit: str, interval: tuple[float, float] | list[float] | None = None) -> str:
    """A metric's value where its unit is named beside it (a column heading, a label): durations and sizes in the
    unit that suits them ('7.12 µs', '69.2 MB'), others to 3 significant digits alone ('0.981'); with its
    `interval` where given ('7.12 µs [6.90–7.41]', '0.95 [0.93, 0.97]'); '-' for missing."""
    if value is not None and interval and unit == "ms":
        return duration_range(value, *interval)
    text = SCALED[unit](value) if unit in SCALED else sig(value)
    return text + (f" [{sig(interval[0])}, {sig(interval[1])}]" if value is not None and interval else "")


def bound_text(value: Any, unit: str) -> str:
    """A constraint's bound in its unit: as `value_text`, but a number in another unit as typed ('0.95', '5 W')."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and unit not in SCALED:
        return f"{value:g} {unit}".strip()
    return value_text(value, unit)
