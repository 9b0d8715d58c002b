"""Render a report as one self-contained HTML document (inline CSS, inline SVG charts); its long lists as CSV are
:mod:`reporter.report.attachments`.

Templates come from a Jinja2 ``ChoiceLoader``: an override folder first (``REPORTER_REPORT_TEMPLATES``), then the
packaged defaults in ``reporter.templates`` (``report.html.j2``, ``report.css``). Autoescape is on: every value from
the data (service, scenario, user, host names...) is escaped; only the charts, which we generate, are marked safe.
"""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from markupsafe import Markup

from reporter.base.timefmt import duration
from reporter.catalog import report_metrics
from reporter.report.model import HostDay, Report, severity_rank
from reporter.rounding import format_percent

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
# each section of the report with its own template and stylesheet (``report_<name>.html.j2``, ``report_<name>.css``,
# both optional), included by report.html.j2
SECTIONS = ("summary", "objectives", "incidents", "capacity", "ai_trends", "ai_service", "usage_trends")
NA = "n/a"


def packaged_templates() -> str:
    """The folder of the default templates: the installed ``reporter.templates`` package, or the top-level
    ``templates/`` folder of a source checkout (when ``reporter`` is imported from the checkout itself)."""
    try:
        return str(files("reporter.templates"))
    except ModuleNotFoundError:
        return str(Path(__file__).resolve().parents[2] / "templates")


@lru_cache(maxsize=8)
def environment(templates_dir: str | None = None) -> Environment:
    """The Jinja2 environment: overrides in ``templates_dir`` (if given) before the packaged templates."""
    loaders = [FileSystemLoader(templates_dir)] if templates_dir else []
    loaders.append(FileSystemLoader(packaged_templates()))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "j2"), default_for_string=True,
                                     default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_number, pct=fmt_percent, secs=fmt_seconds, duration=fmt_duration,
                       signed=fmt_signed, hm=_hm, when=_when, label=label, clip=clip)
    return env


# ---- formatting: every filter turns None, NaN and infinities into "n/a" -------------------------------------


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_number(value: Any, digits: int = 0) -> str:
    """``4846.0`` -> ``"4,846"``; ``digits`` decimals; n/a for None/NaN/inf."""
    number = _finite(value)
    return NA if number is None else f"{number:,.{digits}f}"


def fmt_percent(value: Any) -> str:
    """``96.1205`` -> ``"96.12%"`` (values are already 0-100): the one rounding of ``reporter.rounding``, so the
    report shows what the snapshot JSON and the API say."""
    return format_percent(_finite(value), NA)


def fmt_seconds(value: Any) -> str:
    """A response time: ``2.663`` -> ``"2.66 s"``, ``0.0123`` -> ``"12 ms"``."""
    number = _finite(value)
    if number is None:
        return NA
    if abs(number) < 1:
        return f"{number * 1000:.0f} ms"
    return f"{number:.2f} s" if abs(number) < 10 else f"{number:.1f} s"


def fmt_signed(value: Any, digits: int = 0) -> str:
    """A change against the previous day: ``+27``, ``-3``, ``±0``."""
    number = _finite(value)
    if number is None:
        return NA
    if round(number, digits) == 0:
        return "±0"
    return f"{number:+,.{digits}f}"


def fmt_duration(value: Any) -> str:
    """Seconds as a human duration (:func:`reporter.base.timefmt.duration`: ``45 s``, ``7 min``, ``1 h 05 min``,
    ``12 d 3 h``, halves up); n/a for None, NaN, infinity and negative values."""
    number = _finite(value)
    return NA if number is None or number < 0 else duration(number)


CLIP_CHARS = 80


def clip(value: Any, limit: int = CLIP_CHARS) -> str:
    """A name from the data cut to ``limit`` characters, the last one "…" when cut (None -> "")."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def label(name: str) -> str:
    """The report label of a row: the catalog's ``report`` label of the metric (system rows by column name,
    usage figures without their ``usage_`` prefix), else the name in words."""
    return (report_metrics("system").get(name) or report_metrics("usage").get(f"usage_{name}")
            or name.replace("_", " ").capitalize())


def _local(ctx, value: datetime) -> datetime:
    return value.astimezone(ctx["tz"])


def _datetime(value: Any) -> datetime | None:
    """A datetime, or an ISO 8601 string as stored in the usage lists (naive = UTC); None if neither."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def local_time(value: datetime, report: Report, tz: ZoneInfo) -> str:
    """A time of ``report`` for people, in ``tz``: in a daily report ``HH:MM`` within its day (``24:00`` for
    its end) and ``YYYY-MM-DD HH:MM`` outside it; in a weekly or monthly report the weekday and date, ``Tue 24
    Nov 14:05`` (with the year when it is not the period's year)."""
    local = value.astimezone(tz)
    if report.period.kind == "day":
        if value == report.midnight:
            return "24:00"
        return local.strftime("%H:%M" if local.date() == report.day else "%Y-%m-%d %H:%M")
    year = f" {local.year}" if local.year != report.day.year else ""
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"


@pass_context
def _hm(ctx, value: datetime | str | None, since: datetime | None = None) -> str:
    """A time of the report's period for people (:func:`local_time`: ``HH:MM`` in a daily report, ``Tue 24 Nov
    14:05`` in a weekly or monthly one, only ``14:19`` on the local day of ``since``, e.g. an end after its start);
    in a period with a DST change with the zone abbreviation, since a wall time can repeat."""
    if value is None:
        return NA
    if not isinstance(value, datetime):
        parsed = _datetime(value)
        if parsed is None:
            return str(value)
        value = parsed
    report: Report = ctx["report"]
    tz = ctx["tz"]
    if since is not None and report.period.kind != "day" and value.astimezone(tz).date() == since.astimezone(tz).date():
        text = value.astimezone(tz).strftime("%H:%M")
    else:
        text = local_time(value, report, tz)
    if ctx["dst_day"] and value != report.midnight:
        text += _local(ctx, value).strftime(" %Z")
    return text


@pass_context
def _when(ctx, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A full local date and time in the report's timezone."""
    value = _datetime(value)
    return NA if value is None else _local(ctx, value).strftime(fmt)


# ---- view model --------------------------------------------------------------------------------------------


def outage_rows(report: Report | HostDay) -> list[dict]:
    rows = [{"service": s.name, "start": o.start, "end": o.end, "seconds": o.seconds}
            for s in report.services for o in s.outages]
    return sorted(rows, key=lambda r: (r["start"], r["service"]))


def _cap_longest(rows: list[dict], top_n: int, key: str = "seconds") -> list[dict]:
    """The ``top_n`` longest rows, shown in time order."""
    if len(rows) <= top_n:
        return rows
    longest = sorted(rows, key=lambda r: -(r[key] or 0))[:top_n]
    return sorted(longest, key=lambda r: r["start"])


def _zone_line(report: Report, tz: ZoneInfo) -> str:
    """``Europe/Berlin (CET, UTC+01:00)``, or both abbreviations on a DST change day."""
    first = report.start.astimezone(tz)
    last = (report.midnight - timedelta(seconds=1)).astimezone(tz)
    names = [first.strftime("%Z, UTC%z")]
    if last.utcoffset() != first.utcoffset():
        names.append(last.strftime("%Z, UTC%z"))
    names = [n[:-2] + ":" + n[-2:] for n in names]
    return f"{report.timezone} ({' → '.join(names)})" if report.timezone != "UTC" else "UTC"


def _charts(report: Report, tz: ZoneInfo) -> dict[str, Markup]:
    from reporter.report.charts import bar_chart  # matplotlib is imported only when rendering

    charts: dict[str, Markup] = {}
    if report.empty:
        return charts
    if not report.fleet:
        charts.update(_host_charts(report, report, tz))
    if report.trends is not None:  # AI and usage over the period, instead of one bar per AI feature
        from reporter.report.trend_charts import trend_charts

        charts.update(trend_charts(report, tz))
        return charts
    features = [(f.name, f.requests) for f in report.ai.features]
    if len(features) > 1 and any(_finite(v) for _, v in features):
        charts["features"] = Markup(bar_chart(features, label="AI requests per feature"))
    return charts


def _host_chart(report: Report, host: HostDay, tz: ZoneInfo) -> dict[str, Markup]:
    """A fleet report's chart of one host: its system metrics (CPU, memory, disk) as lines of one chart, under
    the key ``system`` (none for a host without samples)."""
    from reporter.report.charts import lines_chart

    if host.samples == 0:
        return {}
    series = [(label(name), points) for name, points in host.series.items()]
    return {"system": Markup(lines_chart(series, start=report.start, end=report.midnight, tz=tz,
                                         label=f"{', '.join(n for n, _ in series)} (%)",
                                         interval=report.sample_interval))}


def _host_charts(report: Report, host: Report, tz: ZoneInfo) -> dict[str, Markup]:
    """The line chart of each system metric of a single host's report, by metric."""
    from reporter.report.charts import line_chart

    charts: dict[str, Markup] = {}
    for name, points in host.series.items():
        stats = host.system.get(name)
        charts[name] = Markup(line_chart(points, start=report.start, end=report.midnight, tz=tz,
                                         label=f"{label(name)} (%)", average=stats.avg if stats else None,
                                         interval=report.sample_interval))
    return charts


def host_view(host: Report | HostDay, top_n: int) -> dict[str, Any]:
    """What the template shows of one host besides its figures: its outages (all, and the ``top_n`` longest),
    its gaps (the ``top_n`` longest, and their total), its first ``top_n`` alert episodes and how many still
    fire, the services that had an outage and the lowest availability."""
    outages = outage_rows(host)
    gaps = [{"start": g.start, "end": g.end, "seconds": g.seconds} for g in host.gaps]
    return {
        "outages": outages,
        "outages_shown": _cap_longest(outages, top_n),
        "gaps_shown": _cap_longest(gaps, top_n),
        "gaps_total": sum(g["seconds"] for g in gaps),
        "alerts_shown": host.alerts[:top_n],  # most severe, then longest, then earliest first
        "alerts_firing": sum(1 for a in host.alerts if a.firing),
        "services_down": [s.name for s in host.services  # a host not detailed has no outage list
                          if s.outages or (s.availability is not None and s.availability < 100.0)],
        "min_availability": min((s.availability for s in host.services if s.availability is not None),
                                default=None),
    }


def fleet_row(host: HostDay) -> dict[str, Any]:
    """One row of the fleet summary: the host, its coverage, the average and p95 of CPU, memory and disk, its
    alert episodes and how many still fire."""
    row: dict[str, Any] = {"host": host.name, "coverage": host.coverage, "samples": host.samples,
                           "alerts": len(host.alerts), "firing": sum(1 for a in host.alerts if a.firing),
                           "worst": min((a.severity for a in host.alerts), key=severity_rank, default="")}
    for name in FLEET_METRICS:
        stats = host.system.get(name)
        row[name] = (stats.avg, stats.p95) if stats is not None else (None, None)
    return row


FLEET_METRICS = ("cpu_percent", "memory_percent", "disk_percent")


def summary_view(report: Report, top_n: int) -> dict[str, Any]:
    """The summary's and the incidents section's values: ``verdict``, ``key_figures`` and ``compared``
    (``last week``...) from :mod:`reporter.report.summary`; ``incidents`` (:mod:`reporter.report.incidents`),
    ``incident_figures`` and ``incidents_shown`` (the first ``top_n`` episodes, most severe first)."""
    from reporter.report.incidents import incidents  # summary.py formats with this module's filters
    from reporter.report.summary import compared_with, incident_figures, key_figures, verdict

    figures = key_figures(report)
    found = report.incidents if report.incidents is not None else incidents(report)
    return {"verdict": verdict(report, figures), "key_figures": figures, "compared": compared_with(report),
            "incidents": found, "incident_figures": incident_figures(report),
            "incidents_shown": found.episodes[:top_n]}


def context(report: Report, generated_at: datetime | None = None) -> dict[str, Any]:
    """Everything the template uses besides the report itself. The top-level host values (``outages``,
    ``gaps_shown``, ``alerts_shown``...) are those of the report's own host (and every alert episode); a fleet
    report adds ``fleet_rows`` (the summary), ``host_views`` (one per host: ``h`` its figures, ``anchor``, and
    its :func:`host_view`) and ``fleet_alerts_shown``."""
    tz = ZoneInfo(report.timezone)
    top_n = max(1, report.top_n)
    usage_known = any(u.value is not None for u in report.usage) or report.top_users or report.popular_scenarios
    values = {
        "report": report,
        "tz": tz,
        "dst_day": abs(report.hours - 24 * report.period.days) > 0.01,  # a period with a DST change
        "dst_note": ("the clocks went back one hour" if report.hours > 24 * report.period.days
                     else "the clocks went forward one hour"),
        "zone": _zone_line(report, tz),
        "generated_at": (generated_at or datetime.now(UTC)),
        "top_n": top_n,
        "clip_chars": CLIP_CHARS,
        **host_view(report, top_n),
        "users_shown": report.top_users[:top_n],
        "show_email_column": any(u.get("email") for u in report.top_users),
        "scenarios_shown": report.popular_scenarios[:top_n],
        "usage_known": usage_known,
        "ai_known": report.ai.requests is not None or report.ai.model_availability is not None,
        "fleet": report.fleet,
        "fleet_rows": [fleet_row(h) for h in report.hosts] if report.fleet else [],
        "fleet_alerts_shown": report.fleet_alerts[:top_n],
        "host_views": [],
        "anchors": {},
        "hosts_hidden": 0,
        **summary_view(report, top_n),
    }
    if report.fleet:
        shown = {h.name for h in report.hosts if h.detailed}
        anchors = {h.name: f"host-{i}" for i, h in enumerate(report.hosts, 1) if h.name in shown}
        values["anchors"] = anchors
        values["host_views"] = [{"h": h, "anchor": anchors[h.name], **host_view(h, top_n)}
                                for h in report.hosts if h.name in shown]
        values["hosts_hidden"] = len(report.hosts) - len(shown)
    if report.fleet:
        views = [host_view(h, top_n) for h in report.hosts]  # every host: its services' availability
        values["services_down"] = sorted({s for v in views for s in v["services_down"]})
        values["min_availability"] = min((v["min_availability"] for v in views
                                          if v["min_availability"] is not None), default=None)
    return values


def render_html(report: Report, *, templates_dir: str | None = None,
                generated_at: datetime | None = None) -> str:
    """The report as one self-contained HTML document (no external resource: CSS and SVG charts inline). Its
    ``<meta name="reporter-text-summary">`` carries the key figures as plain text (the email's text part).

    ``templates_dir``: a folder whose ``report.html.j2`` / ``report.css`` replace the packaged ones.
    Raises ``jinja2.TemplateError`` for a broken override template.
    """
    env = environment(templates_dir)
    assert env.loader is not None  # environment() gives it one
    css, _, _ = env.loader.get_source(env, STYLESHEET)
    for section in SECTIONS:
        with contextlib.suppress(TemplateNotFound):
            css += "\n" + env.loader.get_source(env, f"report_{section}.css")[0]
    from reporter.report.text import render_text  # text.py formats with this module's filters

    values = context(report, generated_at)
    values["text_summary"] = render_text(report)
    values["css"] = Markup(css.replace("</", "<\\/"))  # a stylesheet cannot close its <style> element
    values["charts"] = _charts(report, values["tz"])
    if report.capacity:  # the capacity section's charts (matplotlib only when rendering)
        from reporter.report.capacity_chart import capacity_charts

        values["capacity_charts"] = capacity_charts(report)
    values["own"] = {**host_view(report, max(1, report.top_n)), "charts": values["charts"]}
    for view in values["host_views"]:
        view["charts"] = _host_chart(report, view["h"], values["tz"])
    return env.get_template(TEMPLATE).render(values)
