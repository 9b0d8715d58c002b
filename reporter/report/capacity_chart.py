"""The capacity section's small chart: a host's disk and memory over the report's period with their trend lines
(dashed), drawn through :func:`reporter.report.charts._svg` like every chart (so the email gets it as a PNG).
Imported only when rendering (matplotlib)."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from reporter.report.capacity import CapacityTrend
from reporter.report.charts import (
    GRID,
    INK,
    MUTED,
    RC,
    SERIES_COLORS,
    WIDTH_IN,
    _counter,
    _lock,
    _svg,
    _with_breaks,
)
from reporter.report.model import Report

MAX_FLEET_CHARTS = 4  # a fleet report charts the hosts filling up first, at most this many


def _period_axis(ax, start: datetime, end: datetime, tz: ZoneInfo) -> None:
    """x from ``start`` to ``end``: hour ticks for a day, day ticks for a week, weekly ticks for a month (in
    ``tz``); y 0..100 %."""
    ax.set_xlim(mdates.date2num(start), mdates.date2num(end))
    days = (end - start).total_seconds() / 86400
    if days <= 1.5:
        ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 6), tz=tz))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    elif days <= 10:
        ax.xaxis.set_major_locator(mdates.DayLocator(tz=tz))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d", tz=tz))
    else:
        ax.xaxis.set_major_locator(mdates.DayLocator(bymonthday=(1, 8, 15, 22, 29), tz=tz))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b", tz=tz))
    if days > 1.5:  # the end's tick is the next period's first day: unlabelled (it crowded "29 Nov 01 Dec")
        dates, last = ax.xaxis.get_major_formatter(), mdates.date2num(end) - 1 / 24
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: "" if v > last else dates(v, pos)))
    ax.set_ylim(0, 100)
    ax.yaxis.set_major_locator(MultipleLocator(25))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
    ax.grid(True, which="major", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=2, width=0.6, pad=2)


def trend_chart(trends: list[CapacityTrend], *, start: datetime, end: datetime, tz: ZoneInfo, label: str,
                interval: float | None = None, height_in: float = 1.2) -> str:
    """One host's resources (``trends``: disk, memory) as lines over ``start``..``end`` with each one's
    least-squares line (through the daily means) dashed across the period, y 0..100 %, as an inline SVG string (a
    PNG too while :func:`reporter.report.charts.collecting_images` collects)."""
    with _lock, matplotlib.rc_context(RC):
        fig = Figure(figsize=(WIDTH_IN, height_in), dpi=72)
        ax = fig.add_axes((0.07, 0.2, 0.89, 0.66))
        drawn = False
        for t, color in zip(trends, itertools.cycle(SERIES_COLORS)):
            xs, ys = _with_breaks(t.series, interval, 100.0)
            if xs:
                ax.plot(xs, ys, color=color, linewidth=0.8, solid_joinstyle="round", label=t.resource)
                drawn = drawn or not all(math.isnan(y) for y in ys)
            if t.fit is not None:
                ax.plot([mdates.date2num(start), mdates.date2num(end)], [t.fit.at(start), t.fit.at(end)],
                        color=color, linewidth=0.8, linestyle=(0, (3, 2)), alpha=0.9)
        # the title on the left, the legend after it: text placed from its left edge stays on the page when the
        # PDF's font is wider than matplotlib's metrics (right-aligned text would run off it)
        if drawn:
            ax.legend(loc="lower left", bbox_to_anchor=(0.45, 1.0), ncol=len(trends), frameon=False, fontsize=6.5,
                      borderaxespad=0.2, handlelength=1.4, columnspacing=1.2)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color=MUTED)
        _period_axis(ax, start, end, tz)
        ax.set_title(label.replace("$", r"\$"), loc="left", fontsize=8, color=INK, pad=4, fontweight="bold")
        return _svg(fig, f"c{next(_counter)}")


def capacity_charts(report: Report) -> dict[str, Markup]:
    """The capacity charts by host name: the report's own host for a single host; in a fleet, the hosts with a
    resource filling up (soonest first), at most :data:`MAX_FLEET_CHARTS`."""
    tz = ZoneInfo(report.timezone)
    by_host: dict[str, list[CapacityTrend]] = {}
    for t in report.capacity:
        by_host.setdefault(t.host, []).append(t)
    if report.fleet:
        names = list(dict.fromkeys(t.host for t in report.capacity if t.filling))[:MAX_FLEET_CHARTS]
    else:
        names = list(by_host)[:1]
    order = {"Disk": 0, "Memory": 1}
    return {name: Markup(trend_chart(sorted(by_host[name], key=lambda t: order.get(t.resource, 2)),
                                     start=report.start, end=report.midnight, tz=tz,
                                     label=("Disk and memory (%), trend dashed" if not report.fleet
                                            else f"{name}: disk and memory (%)"),
                                     interval=report.sample_interval))
            for name in names}
