"""Vector charts of the daily report: matplotlib's SVG backend, labels kept as text, inlined into the HTML.

Every chart goes through :func:`_svg`. Inside :func:`collecting_images` it also draws the same figure as a PNG
(Agg canvas, :data:`PNG_DPI`) and collects it with its SVG (:class:`reporter.report.email_body.ChartImage`): the
render child makes the email's HTML body from them (mail clients such as Gmail and Outlook show no inline SVG).

No pyplot and no global backend: each chart is a ``matplotlib.figure.Figure`` drawn by ``FigureCanvasSVG``, so
rendering works in any thread and in a child process without a display. The SVG prologue, the metadata block
and matplotlib's ids are adjusted so several charts can be inlined in one HTML document.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

from reporter.report.email_body import ChartImage
from reporter.rounding import PERCENT_DECIMALS, round_percent

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

# muted palette shared with report.css
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e3e7ec"
LINE = "#2f6690"
FILL = "#d7e5f0"
AVG = "#9aa5b1"
RED = "#c0392b"

FONT = ["DejaVu Sans", "Noto Sans", "Noto Sans CJK JP", "Noto Sans Hebrew", "sans-serif"]
RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: selectable, searchable, extractable from the PDF
    "svg.hashsalt": "reporter",  # deterministic ids
    "font.family": "sans-serif",
    "font.sans-serif": FONT,
    "font.size": 7.5,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.linewidth": 0.8,
}
WIDTH_IN = 7.0  # inches; the PDF content box is about 7.1 in wide
_lock = threading.Lock()  # rc_context changes process-wide rcParams
_counter = itertools.count(1)
_REF = re.compile(r'(\bid="|url\(#|href="#)')
_STYLE = re.compile(r' style="([^"]*)"')
_PATH = re.compile(r'(\bd=")([^"]*)"')
_DECIMALS = re.compile(r"(\d\.\d\d)\d+")
PNG_DPI = 144  # the email's PNG charts: twice the figures' 72 dpi, sharp on high-density screens
_images: ContextVar[list[ChartImage] | None] = ContextVar("chart_images", default=None)


@contextmanager
def collecting_images() -> Iterator[list[ChartImage]]:
    """Within the block, every chart drawn (in this thread or context) is also drawn as a PNG and appended, with
    its SVG, to the list yielded (in drawing order). The charts still return their SVG."""
    images: list[ChartImage] = []
    token = _images.set(images)
    try:
        yield images
    finally:
        _images.reset(token)


def _png(fig: Figure, svg: str) -> ChartImage:
    """The figure as a PNG at :data:`PNG_DPI` (no timestamp or software metadata: the same figure gives the same
    bytes), with its display size in CSS pixels (72 per inch, as the SVG's viewBox) and its titles as alt text."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_figure(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    titles = [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
    alt = " · ".join(t.replace(r"\$", "$") for t in titles if t) or "chart"
    return ChartImage(svg=svg, png=buffer.getvalue(), alt=alt, width=round(fig.get_figwidth() * 72),
                      height=round(fig.get_figheight() * 72))


def _attributes(match: re.Match) -> str:
    """``style="fill: #fff; stroke-width: 0.6"`` -> `` fill="#fff" stroke-width="0.6"``."""
    out = []
    for declaration in match.group(1).split(";"):
        name, _, value = declaration.partition(":")
        if name.strip() and value.strip():
            out.append(f' {name.strip()}="{value.strip()}"')
    return "".join(out)


def _short_path(match: re.Match) -> str:
    data = _DECIMALS.sub(r"\1", match.group(2).replace(" \n", " "))
    return f'{match.group(1)}{data}"'


def _svg(fig: Figure, prefix: str) -> str:
    """The figure as an inline ``<svg>`` element: no XML prologue/doctype/metadata, ids made unique."""
    buffer = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None, "Creator": None, "Format": None,
                                                      "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # matplotlib's one <style> rule and its style="" attributes as SVG presentation attributes: inlined in HTML, a
    # <style> would apply to the whole page and style="" is parsed as HTML CSS (WeasyPrint warns on each property)
    text = re.sub(r"\s*<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>", "", text, count=1)
    text = _STYLE.sub(_attributes, text)
    # path data to 1/100 pt (a third smaller, invisible at any zoom that matters)
    text = _PATH.sub(_short_path, text)
    # ids (and the references to them) prefixed: several charts share one HTML document
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}-", text)
    # scale with the page: no fixed size, the viewBox keeps the aspect ratio
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                  r'<svg\1 class="chart" preserveAspectRatio="xMidYMid meet" stroke-linejoin="round" '
                  r'stroke-linecap="butt"', text, count=1)
    text = text.strip()
    images = _images.get()
    if images is not None:
        images.append(_png(fig, text))
    return text


def _with_breaks(points: Sequence[tuple[datetime, float | None]], interval: float | None, ymax: float | None = None):
    """x and y lists with NaN in missing values and across pauses in the data, so no line bridges a gap. With
    ``ymax`` (a fixed axis), values are held within -ymax..2 x ymax: they leave the plot as before, and a
    garbage value (1e16 %) cannot overflow the PNG rasteriser."""
    xs, ys = [], []
    step = None
    if len(points) > 1:
        deltas = sorted((b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points))
        step = deltas[len(deltas) // 2]
    limit = max(step or 0.0, interval or 0.0) * 2.5
    previous = None
    for at, value in points:
        if previous is not None and limit and (at - previous).total_seconds() > limit:
            xs.append(previous + timedelta(seconds=1))
            ys.append(math.nan)
        xs.append(at)
        y = math.nan if value is None or not math.isfinite(value) else float(value)
        if ymax is not None and ymax > 0 and not math.isnan(y):
            y = min(max(y, -ymax), 2 * ymax)
        ys.append(y)
        previous = at
    return xs, ys


def line_chart(points: Sequence[tuple[datetime, float | None]], *, start: datetime, end: datetime, tz: ZoneInfo,
               label: str, unit: str = "%", ymax: float | None = 100.0, average: float | None = None,
               interval: float | None = None, height_in: float = 1.35) -> str:
    """A time-series line chart of one day as an inline SVG string.

    ``points`` are (aware datetime, value or None); the x axis runs from ``start`` to ``end`` with hour ticks in
    ``tz`` (so a 23 h or 25 h day shows its real length); the y axis is 0..``ymax`` labelled with ``unit``. A
    dashed line marks ``average`` when given. Missing values and pauses in the data are left as breaks.
    """
    with _lock, matplotlib.rc_context(RC):
        fig = Figure(figsize=(WIDTH_IN, height_in), dpi=72)
        ax = fig.add_axes((0.07, 0.19, 0.91, 0.69))
        xs, ys = _with_breaks(points, interval, ymax)
        if xs:
            ax.plot(xs, ys, color=LINE, linewidth=0.9, solid_joinstyle="round")
            ax.fill_between(xs, ys, 0, color=FILL, linewidth=0, alpha=0.8)
        # an average far off a fixed axis (garbage samples) is not drawn: its label would overflow the rasteriser
        if average is not None and math.isfinite(average) and (ymax is None or -ymax <= average <= 2 * ymax):
            ax.axhline(average, color=AVG, linewidth=0.7, linestyle=(0, (3, 2)))
            shown = f"{round_percent(average):.{PERCENT_DECIMALS}f}" if unit == "%" else f"{average:.1f}"
            ax.annotate(f"avg {shown}{unit}", xy=(1.0, average), xycoords=("axes fraction", "data"),
                        xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", color=MUTED,
                        fontsize=6.5)
        if not xs or all(math.isnan(y) for y in ys):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color=MUTED)
        _time_axes(ax, start, end, tz, unit, ymax)
        ax.set_title(label, loc="left", fontsize=8, color=INK, pad=4, fontweight="bold")
        return _svg(fig, f"c{next(_counter)}")


def _time_axes(ax, start: datetime, end: datetime, tz: ZoneInfo, unit: str, ymax: float | None) -> None:
    """The x axis from ``start`` to ``end`` with hour ticks in ``tz`` (local day ticks beyond 48 h), the y axis
    0..``ymax`` in ``unit``, the grid and the spines of a time chart."""
    ax.set_xlim(mdates.date2num(start), mdates.date2num(end))  # what the date axis makes of datetimes
    ax.set_ylim(0, ymax if ymax is not None else None)
    top = ax.dataLim.ymax  # the highest value drawn (-inf when nothing is)
    if ymax is None and not (math.isfinite(top) and top > 0):
        ax.set_ylim(0, 1)  # all zero: 0..1, not the 0..0.05 matplotlib pads an empty range to ("0.015 s" ticks)
    hours = (end - start).total_seconds() / 3600
    if hours > 48:  # a week or a month: local days
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=1 if hours <= 8 * 25 else 3, tz=tz))
        ax.xaxis.set_minor_locator(mdates.DayLocator(tz=tz))
        dates = mdates.DateFormatter("%a %d" if hours <= 8 * 25 else "%d %b", tz=tz)
        last = mdates.date2num(end) - 1e-6  # no label at the right edge: it would be cut in half
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, pos: "" if x >= last else dates(x, pos)))
    else:
        ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3 if hours > 12 else 1), tz=tz))
        ax.xaxis.set_minor_locator(mdates.HourLocator(tz=tz))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    if ymax == 100.0:
        ax.yaxis.set_major_locator(MultipleLocator(25))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}{unit}"))
    ax.grid(True, which="major", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=2, width=0.6, pad=2)
    ax.tick_params(which="minor", length=1.2, width=0.4)


SERIES_COLORS = (LINE, "#d9822b", "#5b8c5a", "#8e6c8a")


def lines_chart(series: Sequence[tuple[str, Sequence[tuple[datetime, float | None]]]], *, start: datetime,
                end: datetime, tz: ZoneInfo, label: str, unit: str = "%", ymax: float | None = 100.0,
                interval: float | None = None, height_in: float = 1.35, title_left: bool = False) -> str:
    """Several time series of one day in one line chart (e.g. a host's CPU, memory and disk), each with its
    name in the legend, as an inline SVG string. Axes as :func:`line_chart`; missing values and pauses in the
    data are breaks. The legend is above the plot at the left and the title at the right, or the other way round
    with ``title_left`` (every text then starts at a left edge: no right-anchored text)."""
    with _lock, matplotlib.rc_context(RC):
        fig = Figure(figsize=(WIDTH_IN, height_in), dpi=72)
        ax = fig.add_axes((0.07, 0.19, 0.91, 0.69))
        drawn = False
        for (name, points), color in zip(series, itertools.cycle(SERIES_COLORS)):
            xs, ys = _with_breaks(points, interval, ymax)
            if xs:
                ax.plot(xs, ys, color=color, linewidth=0.8, solid_joinstyle="round", label=name.replace("$", r"\$"))
                drawn = drawn or not all(math.isnan(y) for y in ys)
        if not drawn:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color=MUTED)
        else:
            ax.legend(loc="lower right" if title_left else "lower left", bbox_to_anchor=(1.0 if title_left else 0.0, 1.0),
                      ncol=len(series), frameon=False, fontsize=6.5, borderaxespad=0.2, handlelength=1.4,
                      columnspacing=1.2)
        _time_axes(ax, start, end, tz, unit, ymax)
        ax.set_title(label, loc="left" if title_left else "right", fontsize=8, color=INK, pad=4, fontweight="bold")
        return _svg(fig, f"c{next(_counter)}")


def bar_chart(items: Sequence[tuple[str, float | None]], *, label: str, unit: str = "",
              height_in: float | None = None) -> str:
    """A small horizontal bar chart (e.g. requests per AI feature) as an inline SVG string; None bars are 0."""
    items = list(items)
    with _lock, matplotlib.rc_context(RC):
        height = height_in or 0.55 + 0.24 * max(1, len(items))
        fig = Figure(figsize=(WIDTH_IN * 0.4, height), dpi=72)
        left = 0.3
        ax = fig.add_axes((left, 0.32 / height, 0.97 - left - 0.1, 1 - 0.62 / height))
        names = [name.replace("$", r"\$") for name, _ in items][::-1]  # no mathtext from data
        values = [0.0 if v is None or not math.isfinite(v) else float(v) for _, v in items][::-1]
        bars = ax.barh(range(len(values)), values, color=LINE, height=0.62)
        ax.set_yticks(range(len(values)), names)
        top = max(values, default=0.0) or 1.0
        ax.set_xlim(0, top * 1.12)
        for bar, value in zip(bars, values, strict=True):
            ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, f"{value:,.0f}{unit}",
                    va="center", ha="left", color=INK, fontsize=6.5)
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.grid(True, axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(length=2, width=0.6, pad=2)
        ax.set_title(label, loc="left", fontsize=8, color=INK, pad=4, fontweight="bold")
        return _svg(fig, f"c{next(_counter)}")


def bucket_chart(buckets: Sequence[tuple[datetime, datetime, float | None]], *, start: datetime, end: datetime,
                 tz: ZoneInfo, label: str, unit: str = "", height_in: float = 1.35) -> str:
    """One value per bucket of time (e.g. AI requests per hour or per local day) as vertical bars over the period,
    as an inline SVG string. ``buckets`` are (start, end, value or None) with aware datetimes, each bar as wide as
    its bucket (a 25 h day is wider); a None bucket has no bar. Axes as :func:`line_chart` (y from 0, ``unit``)."""
    with _lock, matplotlib.rc_context(RC):
        fig = Figure(figsize=(WIDTH_IN, height_in), dpi=72)
        ax = fig.add_axes((0.07, 0.19, 0.91, 0.69))
        shown = [(a, b, float(v)) for a, b, v in buckets if v is not None and math.isfinite(v)]
        if shown:
            lefts = [mdates.date2num(a) for a, _, _ in shown]
            widths = [(mdates.date2num(b) - mdates.date2num(a)) * 0.82 for a, b, _ in shown]
            ax.bar(lefts, [v for _, _, v in shown], width=widths, align="edge", color=LINE, linewidth=0)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color=MUTED)
        _time_axes(ax, start, end, tz, unit, None)
        if not any(v for _, _, v in shown):
            ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}{unit}" if v == int(v) else ""))
        ax.set_title(label, loc="left", fontsize=8, color=INK, pad=4, fontweight="bold")
        return _svg(fig, f"c{next(_counter)}")
