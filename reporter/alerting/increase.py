"""Kind ``increase``: how much a history counter column grew over the last ``window`` seconds, as Prometheus'
``increase(x[1h])`` (``model_cold_loads``: the configured model's loads seen by the ``/api/ps`` probe).

The value is :func:`reporter.counters.increase` over the column's stored readings with ``now - window <= t <=
now``: a reading lower than the one before is a counter reset (the reporter restarted, Redis was flushed) and
counts as growth by its own value, never negative. A host column (``ollama_model_loads``) is read per host (the
rule is per host, its alerts labelled ``host``); an app column (``ai_{feature}_cold_loads``) once for the
application. Fewer than two readings in the window (a new history, a column never written, a service not probed
here) give no value and a false condition: no alert, and no ``no_data``, as ``predict_linear`` with too little
history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reporter.counters import increase

if TYPE_CHECKING:
    from reporter.catalog import Metric


def counter_increase(series: list[tuple[int, float | None]]) -> float | None:
    """The increase across ``series`` (``[(ts_ms, value)]``, oldest first), resets handled; None with fewer than
    two readings. Rounded to 6 decimals (the columns are scaled integers)."""
    grown = increase(value for _, value in series)
    return None if grown is None else round(grown, 6)


def counter_problem(metric: Metric) -> str | None:
    """Why catalog ``metric`` cannot be read by an ``increase`` rule (it is not a counter:
    :attr:`reporter.catalog.Metric.cumulative`), or None."""
    if metric.cumulative:
        return None
    return (f"increase reads a counter column; {metric.name!r} is not one (counters: ollama_model_loads, "
            f"ai_{{feature}}_cold_loads, ai_{{feature}}_requests...)")
