"""Numbers as people read them: three significant digits, durations in the unit that suits (7.12 µs, 1.23 ms).

The one home of figure formatting for tables, reports and figures; imports nothing.
"""

from __future__ import annotations

import math
from typing import Any

# (unit, milliseconds per unit), largest first: a duration is shown in the first unit it reaches 1 of
DURATION_UNITS = (("s", 1000.0), ("ms", 1.0), ("µs", 1e-3), ("ns", 1e-6))


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


P_FLOOR = 1e-16  # a smaller p-value is shown as this bound: the tests' arithmetic resolves nothing below it


def p_value(p: float) -> str:
    """'p = 0.032', 'p < 1e-16': a p-value as people read it, never 'p = 0'."""
    return f"p < {P_FLOOR:g}" if p < P_FLOOR else f"p = {p:.2g}"


def duration_unit(ms: float) -> tuple[str, float]:
    """(unit, ms per unit) that shows `ms` milliseconds with 1 to 999 before the point (ms for zero)."""
    if ms == 0:
        return "ms", 1.0
    rounded = abs(float(f"{ms:.3g}"))  # 999.6 µs is shown as 1.00 ms, not 1.00e+03 µs
    for unit, scale in DURATION_UNITS:
        if rounded >= scale:
            return unit, scale
    return DURATION_UNITS[-1]


def duration(ms: float | None, unit_of: float | None = None) -> str:
    """A duration given in ms, in the unit that suits it (or suits `unit_of`): '7.12 µs', '1.23 ms', '2.10 s';
    '-' for missing."""
    if ms is None:
        return "-"
    unit, scale = duration_unit(float(ms if unit_of is None else unit_of))
    return f"{sig(float(ms) / scale)} {unit}"


def duration_range(ms: float | None, low: float, high: float) -> str:
    """'7.12 µs [6.90–7.41]': a duration and its interval, the interval in the duration's unit."""
    if ms is None:
        return "-"
    _, scale = duration_unit(float(ms))
    return f"{duration(ms)} [{sig(low / scale)}–{sig(high / scale)}]"
