"""An alert's annotations (``summary``, ``description``) from its rule's templates, as the evaluator sets them
when an alert goes pending or fires.

Template fields: the alert's labels, ``alertname``, ``value``, ``op``, ``threshold``, ``clear``, ``metric``,
``for``, ``severity``, ``host`` (empty for an app-wide rule), ``since`` (local time) and, for
``receiver_failing``, ``status_code``, ``error`` and ``response``; for ``increase``, ``window`` (``1h``); for
``throughput_drop``, ``baseline`` and ``limit`` (tokens/s; ``-`` when not known). A ``no_data`` alert has fixed texts.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from reporter.alerting.rules import TEMPLATE, Rule, duration_text
from reporter.alerting.scope import HOST_LABEL
from reporter.base.timefmt import format_local


def fmt(value: float | None) -> str:
    """A value as the annotations show it: at most two decimals, no trailing zeros; ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def annotate(tz: ZoneInfo, rule: Rule, labels: dict[str, str], value: float | None, since: datetime,
             no_data: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``{"summary", "description"}`` of an alert of ``rule`` with ``labels`` and ``value``, true since
    ``since`` (shown in ``tz``); ``no_data``: the rule's ``no_data`` alert; ``extra``: more template fields."""
    local = format_local(since, tz)
    host = labels.get(HOST_LABEL)
    if no_data:
        on = f" on {host}" if host else ""
        return {"summary": f"No data for rule {rule.name}{on}",
                "description": f"The value of {rule.name} ({rule.metric}){on} has been missing since {local}; "
                               "check the collector errors in the snapshot."}
    blank = {"receiver_failing": {"status_code": "-", "error": "-", "response": "-"},
             "throughput_drop": {"baseline": "-", "limit": "-"},
             "increase": {"window": duration_text(rule.window_seconds)}}.get(rule.kind, {})
    fields = {"host": "", "since": local, **blank, **(extra or {}), **labels, "alertname": rule.alert_name,
              "value": fmt(value), "op": rule.op, "threshold": fmt(rule.threshold), "clear": fmt(rule.clear),
              "metric": rule.metric, "for": fmt(rule.for_seconds), "severity": rule.severity}
    return {"summary": TEMPLATE.format(rule.summary, **fields),
            "description": TEMPLATE.format(rule.description, **fields) + f" Since {local}."}
