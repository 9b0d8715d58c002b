"""How figures are rounded, in one place.

Percentages (0-100) have :data:`PERCENT_DECIMALS` decimals everywhere they are shown: the snapshot JSON, the
``/api`` answers, ``/metrics`` (as ratios, one more step of /100), the history (stored x100) and the daily report
(HTML, PDF, CSV, email), which prints them with exactly that many decimals (``70.59%``, ``100.00%``). A
completion rate of 12 / 17 is 70.59 in every one of them. Rounding is Python's ``round()`` (to the nearest, ties
to even on the binary value), applied once where the figure is computed; the report only formats.
"""

from __future__ import annotations

import math

PERCENT_DECIMALS = 2


def round_percent(value: float) -> float:
    """A percentage rounded to :data:`PERCENT_DECIMALS` decimals: ``70.588235`` -> ``70.59``."""
    return round(value, PERCENT_DECIMALS)


def percent(part: float | None, whole: float | None) -> float | None:
    """``part / whole`` as a rounded percentage; None when either is unknown or ``whole`` is not positive."""
    if part is None or whole is None or not whole > 0:
        return None
    return round_percent(part / whole * 100.0)


def format_percent(value: float | None, missing: str = "n/a") -> str:
    """A percentage as the report prints it: ``70.59%``; ``missing`` for None, NaN and infinities."""
    if value is None or isinstance(value, bool) or not math.isfinite(value):
        return missing
    return f"{round_percent(value):.{PERCENT_DECIMALS}f}%"
