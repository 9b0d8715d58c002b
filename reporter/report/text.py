"""The daily report's key figures as plain text: the text part of the report email, carried in the HTML report's
``<meta name="reporter-text-summary">`` (read back by :func:`summary_of`).

Same figures and the same formatting (``reporter.report.html``'s filters, ``reporter.rounding``) as the HTML, so
the email's two parts agree. Values from the data are reduced to one printable line each.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from reporter.report.html import fmt_duration, fmt_number, fmt_percent, fmt_seconds, local_time
from reporter.report.model import Report

MAX_EPISODES = 5
WIDTH = 76  # the verdict's lines
SUMMARY_META = "reporter-text-summary"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _line(value: object, limit: int = 80) -> str:
    """One printable line: control characters and line breaks become spaces, cut at ``limit`` with "…"."""
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _time(value: datetime, report: Report, tz: ZoneInfo) -> str:
    return local_time(value, report, tz)


def _acknowledged(episode, report: Report, tz: ZoneInfo) -> str:
    """``, acknowledged by ann at 10:05`` (or "" when nobody acknowledged the episode)."""
    if not episode.acknowledged_by:
        return ""
    at = f" at {_time(episode.acknowledged_at, report, tz)}" if episode.acknowledged_at is not None else ""
    return f", acknowledged by {_line(episode.acknowledged_by, 64)}{at}"


def render_text(report: Report) -> str:
    """The key figures of ``report`` as plain text (a few lines, ``\\n`` line ends): availability per service,
    AI requests / success rate / latency (response time), CPU and memory averages and peaks, alerts, data
    coverage."""
    tz = ZoneInfo(report.timezone)
    period = f"{_time(report.start, report, tz)} to {_time(report.end, report, tz)}"
    who = f"fleet of {len(report.hosts)} hosts" if report.fleet else _line(report.host)
    lines = [f"{report.period.title} {report.period.key} · {who} · {report.timezone} ({period}"
             f"{f', the {report.period.noun} so far' if report.partial else ''})", ""]
    lines += summary_lines(report)
    if report.empty:
        return "\n".join(lines) + "\n"
    if report.fleet:
        lines.append(f"Availability:  {_fleet_availability(report)}")
    else:
        services = []
        for s in report.services:
            down = f" ({len(s.outages)} outage{'s' if len(s.outages) != 1 else ''}, " \
                   f"{fmt_duration(sum(o.seconds for o in s.outages))} down)" if s.outages else ""
            services.append(f"{s.name} {fmt_percent(s.availability) if s.probes else 'not probed'}{down}")
        lines.append(f"Availability:  {', '.join(services)}")
    ai = report.ai
    lines.append(f"AI requests:   {fmt_number(ai.requests)}, success rate {fmt_percent(ai.success_rate)}, "
                 f"latency avg {fmt_seconds(ai.avg_response_time)} / p95 {fmt_seconds(ai.p95_response_time)}, "
                 f"model available {fmt_percent(ai.model_availability)}")
    if (service := ai_service_line(report, tz)) is not None:
        lines.append(f"AI service:    {service}")
    if report.fleet:
        lines.append(f"Fleet:         {len(report.hosts)} hosts (coverage; CPU, memory, disk average / p95; alerts)")
        width = min(24, max(len(_line(h.name, 24)) for h in report.hosts))
        for h in report.hosts:
            figures = ", ".join(f"{label} {fmt_percent(h.system[name].avg)} / {fmt_percent(h.system[name].p95)}"
                                for name, label in FLEET_COLUMNS if name in h.system)
            firing = sum(1 for a in h.alerts if a.firing)
            lines.append(f"  {_line(h.name, 24):<{width}} coverage {fmt_percent(h.coverage)}, {figures}, "
                         f"alerts {len(h.alerts)}{f' ({firing} firing)' if firing else ''}")
    else:
        for name, label in (("cpu_percent", "CPU"), ("memory_percent", "Memory"), ("disk_percent", "Disk")):
            stats = report.system.get(name)
            if stats is not None:
                lines.append(f"{label + ':':<15}avg {fmt_percent(stats.avg)}, p95 {fmt_percent(stats.p95)}, "
                             f"peak {fmt_percent(stats.max)}")
    firing = sum(1 for a in report.alerts if a.firing)
    count = len(report.alerts)
    lines.append(f"Alerts:        {count} episode{'s' if count != 1 else ''}"
                 + (f", {firing} still firing" if firing else "") + (" (most severe first):" if count else ""))
    for a in report.alerts[:MAX_EPISODES]:
        labels = " ".join(f"{k}={v}" for k, v in a.distinguishing_labels.items())
        span = f"{_time(a.start, report, tz)}, still firing" if a.end is None else \
            f"{_time(a.start, report, tz)} to {_time(a.end, report, tz)}"
        lines.append(f"  {_line(a.severity or '-', 12).upper()} {_line(a.alertname, 60)}"
                     f"{' ' + _line(labels) if labels else ''}: {span}, "
                     f"{fmt_duration(a.seconds)}" + _acknowledged(a, report, tz)
                     + (f", inhibited by {_line(a.inhibited_by, 80)}" if a.inhibited_by else ""))
    if count > MAX_EPISODES:
        lines.append(f"  and {count - MAX_EPISODES} more (every episode is in the report)")
    if report.receivers:
        lines.append(f"Receivers:     {receivers_line(report)}")
    filling = [c for c in report.capacity if c.filling and c.full_at is not None]
    if filling:  # only what fills up within a year: the rest is in the report's Capacity section
        lines.append("Capacity:      " + "; ".join(
            f"{_line(c.host, 24) + ' ' if report.fleet else ''}{c.resource} {fmt_percent(c.last)}, "
            f"full {c.full_at.astimezone(tz):%Y-%m-%d} at {c.slope or 0:+.2f} pts a day"
            for c in filling[:MAX_EPISODES] if c.full_at is not None))
    if not report.fleet:
        lines.append(f"Data coverage: {report.samples:,} of {report.expected_samples:,} samples "
                     f"({fmt_percent(report.coverage)}), {len(report.gaps)} gap{'s' if len(report.gaps) != 1 else ''}")
    return "\n".join(lines) + "\n"


def ai_service_line(report: Report, tz: ZoneInfo) -> str | None:
    """The AI service section in one line (None when it has nothing): per host the model's loaded share and its
    share partly on the CPU with the worst offload, the tokens per second of every feature and its change, the
    cold loads: ``model loaded 95.00% (on GPU); 41.2 tokens/s (-8.0 % vs yesterday); 3 cold loads``."""
    from reporter.report.summary import compared_with

    s = report.ai_service
    if s is None or not s.known or report.empty:
        return None
    parts = []
    for h in [h for h in s.residency if h.read][:MAX_EPISODES]:
        where = ""
        if h.on_cpu and h.worst_ratio is not None and h.worst_at is not None:
            where = (f" (partly on CPU {fmt_percent(h.cpu_share)} of it, worst offload "
                     f"{fmt_percent(h.worst_ratio * 100)} at {_time(h.worst_at, report, tz)})")
        elif h.loaded and h.on_gpu == h.loaded:
            where = " (on GPU)"
        parts.append(f"{_line(h.host, 24) + ' ' if report.fleet else ''}model loaded {fmt_percent(h.loaded_share)}"
                     + where)
    if s.overall is not None and s.overall.tokens_per_second is not None:
        change = (f" ({s.overall.change:+.1f} % vs {compared_with(report)})" if s.overall.change is not None
                  else "")
        parts.append(f"{fmt_number(s.overall.tokens_per_second, 1)} tokens/s{change}")
    if s.cold_loads is not None:
        parts.append(f"{fmt_number(s.cold_loads)} cold load{'s' if s.cold_loads != 1 else ''}")
    return "; ".join(parts) or None


def summary_lines(report: Report) -> list[str]:
    """The verdict (wrapped at :data:`WIDTH` characters) and the key figures, one short line each with its change
    against the previous period (:mod:`reporter.report.summary`), then a blank line."""
    from reporter.report.summary import compared_with, key_figures, verdict

    figures = key_figures(report)
    lines = [*textwrap.wrap(_line(verdict(report, figures), 400), WIDTH), ""]
    lines.append(f"Key figures (change vs {compared_with(report)}; pts = percentage points):")
    for f in figures:
        value = f.value_text + (f" ({_line(f.note, 24)})" if f.note else "")
        change = f.change_text + (f", {f.verdict_word}" if f.verdict_word else "")
        lines.append(f"  {f.label:<22} {value:<20} {change}")
    return [*lines, ""]


def receivers_line(report: Report) -> str:
    """Per receiver, its notifications of the period by outcome: ``oncall 12 delivered, 2 failed; ...``."""
    parts = []
    for r in report.receivers:
        counts = [f"{n} {what}" for n, what in ((r.delivered, "delivered"), (r.failed, "failed"),
                                                (r.expired, "expired"), (r.pending, "waiting")) if n or what == "delivered"]
        parts.append(f"{_line(r.name, 64)} {', '.join(counts)}")
    return "; ".join(parts)


FLEET_COLUMNS = (("cpu_percent", "CPU"), ("memory_percent", "memory"), ("disk_percent", "disk"))


def _fleet_availability(report: Report) -> str:
    """Per service: the lowest availability of the hosts that probed it, and which host that was."""
    parts = []
    names = list(dict.fromkeys(s.name for h in report.hosts for s in h.services))
    for name in names:
        probed = [(s.availability, h.name) for h in report.hosts for s in h.services
                  if s.name == name and s.probes and s.availability is not None]
        if not probed:
            parts.append(f"{name} not probed")
            continue
        lowest, host = min(probed)
        parts.append(f"{name} {fmt_percent(lowest)}" + (f" (lowest: {_line(host, 24)})" if len(probed) > 1
                                                        else f" ({_line(host, 24)})"))
    return ", ".join(parts)


class _Summary(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: str | None = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if self.text is None and tag == "meta" and values.get("name") == SUMMARY_META:
            self.text = values.get("content") or None

    handle_startendtag = handle_starttag


def summary_of(html: str) -> str | None:
    """The plain-text key figures an HTML report carries (None for a report without them, e.g. an override
    template that leaves the meta element out)."""
    parser = _Summary()
    parser.feed(html[:html.find("</head>") + 7] if "</head>" in html else html)
    return parser.text
