"""The top of a report: one verdict sentence and the key figures, each compared with the previous period of the
same kind (yesterday, last week, last month).

Pure functions over :class:`~reporter.report.model.Report` and its ``previous`` (the previous period's Report, or
None); the HTML (``templates/report_summary.html.j2``) and the email's text part (:mod:`reporter.report.text`)
show what they return, so both say the same.

A change is in percentage points (``pts``) for a figure that is itself a percentage (availability, success
rate, cache hit rate, coverage) and in percent of the previous value for the others (alerts, MTTR, AI requests,
AI p95, active users); from a previous value of 0 it is the difference itself (``+3``). "n/a" when either side
has no value. Whether a change is good depends on the figure's direction (a lower p95 is good); requests are
neither good nor bad. The direction is always written (arrow and sign), never shown by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reporter.report.html import fmt_duration, fmt_number, fmt_percent, fmt_seconds
from reporter.report.incidents import Incidents, incidents
from reporter.report.model import Report

Unit = Literal["percent", "count", "seconds", "duration"]
Better = Literal["higher", "lower"] | None

COMPARED = {"day": "yesterday", "week": "last week", "month": "last month"}
UP, DOWN = "▲", "▼"
ACTIVE_USERS = "active_users_24h"  # the usage figure shown as "active users"


def _finite(value: float | None) -> float | None:
    """``value``, or None for None, NaN and infinities (a figure that cannot be compared)."""
    return value if value is not None and math.isfinite(value) else None


def compared_with(report: Report) -> str:
    """How the report names the period it compares with: ``yesterday``, ``last week``, ``last month``."""
    return COMPARED.get(report.period.kind, f"the previous {report.period.noun}")


@dataclass(frozen=True)
class Figure:
    """One key figure: ``value`` in this period and ``previous`` in the previous one (None: no data), its
    ``unit`` (``percent`` 0-100, ``count``, ``seconds`` of response time, ``duration`` in seconds), which
    direction is ``better`` (None: neither) and a ``note`` (which service, host...; "" for none)."""

    key: str
    label: str
    value: float | None
    previous: float | None
    unit: Unit
    better: Better
    note: str = ""

    @property
    def change(self) -> float | None:
        """The change against the previous period: points for a percentage, percent of the previous value for
        the others, the difference itself from a previous 0 (see :attr:`change_unit`); None without both."""
        if self.value is None or self.previous is None:
            return None
        if self.unit == "percent" or self.previous == 0:
            return self.value - self.previous
        return (self.value - self.previous) / abs(self.previous) * 100.0

    @property
    def change_unit(self) -> str:
        """``pts`` (percentage points), ``%`` (percent of the previous value) or ``""`` (the difference, from 0)."""
        if self.unit == "percent":
            return "pts"
        return "" if self.previous == 0 else "%"

    @property
    def rounded_change(self) -> float | None:
        """:attr:`change` as shown: points to 2 decimals, percent to 1 decimal under 10 and whole above, counts
        whole, seconds to 2 decimals."""
        change = self.change
        if change is None:
            return None
        if self.unit == "percent":
            return round(change, 2)
        if self.change_unit == "%":
            return round(change, 1) if abs(change) < 10 else float(round(change))
        return float(round(change)) if self.unit == "count" else round(change, 2)

    @property
    def direction(self) -> Literal["up", "down", "flat"] | None:
        """``up``/``down`` as shown (a change that rounds to 0 is ``flat``); None without a change."""
        shown = self.rounded_change
        if shown is None:
            return None
        return "flat" if shown == 0 else ("up" if shown > 0 else "down")

    @property
    def tone(self) -> Literal["good", "bad", "neutral", "na"]:
        """``good`` or ``bad`` by the figure's direction; ``neutral`` when unchanged or neither; ``na`` without a
        change."""
        direction = self.direction
        if direction is None:
            return "na"
        if direction == "flat" or self.better is None:
            return "neutral"
        return "good" if (direction == "up") == (self.better == "higher") else "bad"

    @property
    def value_text(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def previous_text(self) -> str:
        return format_value(self.previous, self.unit)

    @property
    def change_text(self) -> str:
        """``▲ +12 %``, ``▼ -0.40 pts``, ``±0 %``, ``▲ +3`` or ``▲ +1 h 05 min`` (from 0), or ``n/a``."""
        shown = self.rounded_change
        if shown is None:
            return "n/a"
        unit = f" {self.change_unit}" if self.change_unit else ""
        if shown == 0:
            return f"±0{unit}"
        if self.change_unit == "" and self.unit != "count":  # a time from 0: the difference as a time
            arrow, sign = (UP, "+") if shown > 0 else (DOWN, "-")
            return f"{arrow} {sign}{format_value(abs(shown), self.unit)}"
        digits = 2 if self.unit == "percent" else (1 if self.change_unit == "%" and abs(shown) < 10 else 0)
        return f"{UP if shown > 0 else DOWN} {shown:+,.{digits}f}{unit}"

    @property
    def verdict_word(self) -> str:
        """``better``, ``worse`` or "" (unchanged, neither, or no change): the tone in words."""
        return {"good": "better", "bad": "worse"}.get(self.tone, "")


def format_value(value: float | None, unit: Unit) -> str:
    """A key figure's value as the report prints it (n/a for None)."""
    if unit == "percent":
        return fmt_percent(value)
    if unit == "seconds":
        return fmt_seconds(value)
    if unit == "duration":
        return fmt_duration(value)
    return fmt_number(value)


# ---- the figures of one report ------------------------------------------------------------------------------


def lowest_availability(report: Report) -> tuple[float | None, str]:
    """The lowest availability (percent) of any probed service of any host, and which (``redis``, or ``redis on
    web-1`` in a fleet); (None, "") when nothing was probed."""
    if report.fleet:
        probed = [(s.availability, f"{s.name} on {h.name}") for h in report.hosts for s in h.services
                  if s.probes and s.availability is not None]
    else:
        probed = [(s.availability, s.name) for s in report.services if s.probes and s.availability is not None]
    if not probed:
        return None, ""
    return min(probed, key=lambda p: p[0])


def coverage(report: Report) -> tuple[float | None, str]:
    """Data coverage in percent: the report's own host's, or in a fleet the lowest host's (and which)."""
    if report.fleet:
        known = [(h.coverage, h.name) for h in report.hosts if h.coverage is not None]
        return min(known, key=lambda p: p[0]) if known else (None, "")
    return report.coverage, ""


def _incidents(report: Report) -> Incidents:
    return report.incidents if report.incidents is not None else incidents(report)


def _alerts_note(found: Incidents) -> str:
    """``1 critical, 1 inhibited`` (the parts that are not 0), "" for none."""
    return ", ".join(f"{n} {what}" for n, what in ((found.critical, "critical"), (found.inhibited, "inhibited")) if n)


def _values(report: Report | None) -> dict[str, tuple[float | None, str]]:
    """Each key figure's value (and note) in ``report``; every value None for no report or an empty one (an
    alert count too, unless an episode is there)."""
    if report is None:
        return {}
    found = _incidents(report)
    usage = {u.name: u.value for u in report.usage}
    values: dict[str, tuple[float | None, str]] = {
        "availability": lowest_availability(report),
        "alerts": (None if report.empty and not found.count else float(found.count), _alerts_note(found)),
        "mttr": (found.mttr, f"{found.resolved} resolved" if found.resolved else ""),
        "ai_requests": (report.ai.requests, ""),
        "ai_p95": (report.ai.p95_response_time, ""),
        "ai_success": (report.ai.success_rate, ""),
        "cache_hit_rate": (report.ai.cache_hit_rate, ""),
        "active_users": (usage.get(ACTIVE_USERS), ""),
        "coverage": coverage(report),
    }
    if report.empty:
        values = {k: (v if k == "alerts" else None, n if k == "alerts" else "") for k, (v, n) in values.items()}
    return values


# key, label, unit, better
FIGURES: tuple[tuple[str, str, Unit, Better], ...] = (
    ("availability", "Lowest availability", "percent", "higher"),
    ("alerts", "Alerts", "count", "lower"),
    ("mttr", "Mean time to resolve", "duration", "lower"),
    ("ai_requests", "AI requests", "count", None),
    ("ai_p95", "AI p95 response time", "seconds", "lower"),
    ("ai_success", "AI success rate", "percent", "higher"),
    ("cache_hit_rate", "Cache hit rate", "percent", "higher"),
    ("active_users", "Active users (24 h)", "count", "higher"),
    ("coverage", "Data coverage", "percent", "higher"),
)


def key_figures(report: Report) -> list[Figure]:
    """The key figures of ``report`` (in :data:`FIGURES` order), each with its value in ``report.previous``
    (None without a previous report, or where it has no data)."""
    now, before = _values(report), _values(report.previous)
    return [Figure(key, label, _finite(now[key][0]), _finite(before.get(key, (None, ""))[0]), unit, better,
                   now[key][1])
            for key, label, unit, better in FIGURES]


# ---- the verdict ------------------------------------------------------------------------------------------


def _names(items: Sequence[Any], limit: int = 3) -> str:
    names = [str(getattr(o, "name", o)) for o in items]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def objectives_clause(objectives: Sequence[Any]) -> str:
    """What the objectives say in a few words: ``all 6 objectives met``, ``2 of 6 objectives missed (a, b), 1 at
    risk (c)``; "" for none. Each objective has ``.name`` and ``.status`` (``met``, ``at_risk``, ``missed``,
    ``no_data``)."""
    if not objectives:
        return ""
    by: dict[str, list[Any]] = {}
    for o in objectives:
        by.setdefault(str(o.status), []).append(o)
    met, at_risk, missed, none = (by.get(s, []) for s in ("met", "at_risk", "missed", "no_data"))
    total = len(objectives)
    parts = []
    if missed:
        parts.append(f"{len(missed)} of {total} objective{'s' if total != 1 else ''} missed ({_names(missed)})")
    if at_risk:
        parts.append(f"{len(at_risk)} {'of ' + str(total) + ' ' if not missed else ''}at risk ({_names(at_risk)})")
    if not parts:
        if not met:
            return f"no objective could be measured ({total} without data)"
        parts.append(f"all {len(met)} objective{'s' if len(met) != 1 else ''} met" if len(met) == total
                     else f"{len(met)} of {total} objectives met")
    if none and met and (missed or at_risk or len(met) != total):
        parts.append(f"{len(none)} without data")
    return ", ".join(parts)


def services_clause(report: Report) -> str:
    """Without objectives, the services in a few words: ``all services up``, ``lowest availability redis
    99.20%``; "" when no service was probed."""
    value, which = lowest_availability(report)
    if value is None:
        return ""
    return "all services up" if value >= 100.0 else f"lowest availability {which} {fmt_percent(value)}"


def alerts_clause(found: Incidents) -> str:
    """``no alerts``, ``2 alerts (1 critical, 1 inhibited, 14 min)``: the episodes, the critical ones (not
    inhibited), the inhibited ones, their firing time within the period, and how many still fire."""
    if not found.count:
        return "no alerts"
    details = [_alerts_note(found)] if found.critical or found.inhibited else []
    details.append(fmt_duration(found.seconds))
    if found.firing:
        details.append(f"{found.firing} still firing")
    return f"{found.count} alert{'s' if found.count != 1 else ''} ({', '.join(details)})"


def ai_clause(report: Report, p95: Figure) -> str:
    """``AI p95 3.10 s, 12 % faster than last week`` (or slower; ``about as fast`` within 1 %); "" without a
    p95."""
    if p95.value is None:
        return ""
    text = f"AI p95 {p95.value_text}"
    if p95.change is None:
        return text
    when = compared_with(report)
    shown = p95.rounded_change or 0.0
    if shown == 0 or (p95.change_unit == "%" and abs(shown) < 1):
        return f"{text}, about as fast as {when}"
    amount = f"{abs(shown):.{1 if abs(shown) < 10 else 0}f} %" if p95.change_unit == "%" else fmt_seconds(abs(shown))
    return f"{text}, {amount} {'slower' if shown > 0 else 'faster'} than {when}"


def verdict(report: Report, figures: list[Figure] | None = None) -> str:
    """One sentence a reader takes away: the objectives (or, without objectives, the services), the alerts and
    the AI p95 against the previous period, e.g. ``All 5 objectives met; 2 alerts (1 critical, 14 min); AI p95
    3.10 s, 12 % faster than last week.`` An empty report says there is no data."""
    found = _incidents(report)
    if report.empty:
        text = f"No data for this {report.period.noun}: the history holds no samples for it"
        return text + (f"; {alerts_clause(found)}." if found.count else ".")
    figures = figures if figures is not None else key_figures(report)
    p95 = next(f for f in figures if f.key == "ai_p95")
    parts = [objectives_clause(report.objectives) or services_clause(report), alerts_clause(found),
             ai_clause(report, p95)]
    sentence = "; ".join(p for p in parts if p)
    return sentence[:1].upper() + sentence[1:] + "."


def incident_figures(report: Report) -> list[Figure]:
    """The incidents' figures compared with the previous period: episodes, mean time to resolve, the longest
    episode (its firing time within the period) and the total firing time (None where a side has no data)."""
    now = _incidents(report)
    before = None if report.previous is None or (report.previous.empty and not report.previous.alerts) \
        else _incidents(report.previous)
    empty = report.empty and not now.count

    def pair(get) -> tuple[float | None, float | None]:
        return (None if empty else _finite(get(now))), (None if before is None else _finite(get(before)))

    rows: list[tuple[str, str, Unit, Any]] = [
        ("episodes", "Episodes", "count", lambda i: float(i.count)),
        ("mttr", "Mean time to resolve", "duration", lambda i: i.mttr),
        ("longest", "Longest", "duration", lambda i: i.longest_seconds),
        ("firing", "Firing time", "duration", lambda i: i.seconds),
    ]
    return [Figure(key, label, *pair(get), unit, "lower") for key, label, unit, get in rows]
