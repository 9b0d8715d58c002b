"""The report's long lists as CSV texts, attached to the email and written beside the report
(``<key>.<list>.csv``): every row of the lists the HTML cuts at ``REPORTER_REPORT_TOP_N``, times ISO 8601 in the
report's timezone, cells that a spreadsheet would read as a formula quoted."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reporter.report.html import FLEET_METRICS, fleet_row, outage_rows
from reporter.report.model import Report, Span


def _cell(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat(timespec="seconds")
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # no formula when a spreadsheet opens the attachment
    return value


def _csv(header: list[str], rows: list[list[Any]], tz: ZoneInfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v, tz) for v in row])
    return out.getvalue()


def _dict_rows(items: list[dict]) -> tuple[list[str], list[list[Any]]]:
    header: list[str] = []
    for item in items:
        header += [k for k in item if k not in header]
    return header, [[item.get(k) for k in header] for item in items]


def _span_row(span: Span) -> list[Any]:
    return [span.start, span.end, round(span.seconds)]


def csv_attachments(report: Report, *, capped_only: bool = False) -> dict[str, str]:
    """The full long lists as CSV texts, by list name: ``outages``, ``alerts``, ``top_users``,
    ``popular_scenarios`` (the period's, as the HTML shows them, when the application database was read; else
    the stored lifetime lists), ``gaps`` (times ISO 8601 in the report's timezone, durations in seconds). ``alerts``
    has every episode in the report's order (most severe, longest, earliest first), an empty ``end`` while still
    firing, ``duration_seconds`` within the report's period and ``inhibited_by`` (the alert that inhibited the
    episode when it began, "" for none). Written as
    ``YYYY-MM-DD.<name>.csv``: the HTML's "N more in ..." notes name the files that way. A fleet report adds
    ``hosts``: the fleet summary (coverage, CPU/memory/disk average and p95 in percent, alert episodes), also
    with ``capped_only``; its ``outages`` and ``gaps`` have a ``host`` column and the rows of every host it
    details, written when one host's list is capped.

    With ``capped_only`` only the lists longer than ``report.top_n`` (those the HTML cuts and points to).
    """
    tz = ZoneInfo(report.timezone)
    outages = outage_rows(report)
    users_header, users = _dict_rows(report.top_users)
    scenarios_header, scenarios = _dict_rows(report.popular_scenarios)
    usage = report.trends.usage if report.trends is not None else None
    if usage is not None and usage.lists == "period":  # the HTML shows the period's lists: so do the files
        users_header = ["user_id_short", "email", "activity_in_period", "last_activity_in_period"]
        users = [[u.short, u.email, u.activity, u.last_active] for u in usage.top_users]
        scenarios_header = ["scenario_id", "name", "starts_in_period", "completion_percent"]
        scenarios = [[c.scenario_id, c.name, c.starts, None if c.completion is None else round(c.completion, 2)]
                     for c in usage.scenarios]
    tables = {
        "outages": (len(outages), ["service", "start", "end", "duration_seconds"],
                        [[o["service"], o["start"], o["end"], round(o["seconds"])] for o in outages]),
        "alerts": (len(report.alerts), ["alertname", "severity", "start", "end", "duration_seconds", "labels",
                                            "summary", "acknowledged_by", "acknowledged_at", "inhibited_by"],
                       [[a.alertname, a.severity, a.start, a.end, round(a.seconds), a.distinguishing_labels,
                         a.summary, a.acknowledged_by, a.acknowledged_at, a.inhibited_by] for a in report.alerts]),
        "top_users": (len(users), users_header or ["user_id", "email", "activity_count", "last_active"], users),
        "popular_scenarios": (len(scenarios), scenarios_header or ["scenario_id", "name", "start_count",
                                                                       "completion_rate"], scenarios),
        "gaps": (len(report.gaps), ["start", "end", "duration_seconds"], [_span_row(g) for g in report.gaps]),
    }
    if report.fleet:  # every detailed host's outages and gaps, with a host column; written when a host's are capped
        detailed = [h for h in report.hosts if h.detailed]
        per_host = [(h, outage_rows(h)) for h in detailed]
        tables["outages"] = (max((len(o) for _, o in per_host), default=0),
                             ["host", "service", "start", "end", "duration_seconds"],
                             [[h.name, o["service"], o["start"], o["end"], round(o["seconds"])]
                              for h, rows in per_host for o in rows])
        tables["gaps"] = (max((len(h.gaps) for h in detailed), default=0), ["host", "start", "end", "duration_seconds"],
                          [[h.name, *_span_row(g)] for h in detailed for g in h.gaps])
    if report.fleet:  # written with every fleet report (a summary to load in a spreadsheet)
        tables["hosts"] = (len(report.hosts), ["host", "coverage_percent", "samples", "expected_samples",
                               *(f"{short}_{what}" for short in ("cpu", "memory", "disk") for what in ("avg", "p95")),
                               "alerts", "alerts_firing"],
                           [[r["host"], _round(r["coverage"]), r["samples"], h.expected_samples,
                             *(_round(v) for name in FLEET_METRICS for v in r[name]), r["alerts"], r["firing"]]
                            for h in report.hosts for r in [fleet_row(h)]])
    return {name: _csv(header, rows, tz) for name, (count, header, rows) in tables.items()
            if not capped_only or count > report.top_n or name == "hosts"}


def _round(value: float | None) -> float | None:
    """A percentage for a CSV cell: 4 decimals (None stays empty)."""
    return None if value is None else round(value, 4)
