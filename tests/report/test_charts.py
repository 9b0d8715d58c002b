"""SVG charts: text labels, report-timezone hours, no prologue, ids unique per chart, breaks over gaps."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reporter.report.charts import bar_chart, line_chart

TZ = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)  # 2026-03-10 00:00 in Berlin
END = START + timedelta(days=1)


def points(step=300, skip=()):
    return [(START + timedelta(seconds=i * step), None if i in skip else 50 + 30 * math.sin(i / 20))
            for i in range(86400 // step)]


def texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_line_chart_is_inline_svg_with_text_labels_in_report_time():
    svg = line_chart(points(), start=START, end=END, tz=TZ, label="CPU (%)", average=50.0, interval=300)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata" not in svg
    labels = texts(svg)
    assert {"00:00", "03:00", "12:00", "21:00"} <= set(labels)  # local hours, not UTC (23:00)
    assert {"0%", "50%", "100%"} <= set(labels) and "CPU (%)" in labels and "avg 50.00%" in labels
    assert " style=" not in svg and "<style" not in svg  # presentation attributes only: safe to inline in HTML


def test_chart_ids_are_unique_across_charts():
    first = line_chart(points(), start=START, end=END, tz=TZ, label="a")
    second = line_chart(points(), start=START, end=END, tz=TZ, label="b")
    ids = re.findall(r'\bid="([^"]+)"', first) + re.findall(r'\bid="([^"]+)"', second)
    assert len(ids) == len(set(ids))
    for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', first):
        assert f'id="{ref}"' in first


def test_line_chart_leaves_gaps_and_handles_no_data():
    gap = points(skip=range(100, 140))
    assert line_chart(gap, start=START, end=END, tz=TZ, label="x").count("<path") > 0
    empty = line_chart([], start=START, end=END, tz=TZ, label="x")
    assert "no data" in texts(empty)
    nan = line_chart([(START, math.nan), (END, math.inf)], start=START, end=END, tz=TZ, label="x")
    assert "no data" in texts(nan)


def test_bar_chart_labels():
    svg = bar_chart([("grammar", 1602.0), ("quiz", None), ("a$b$", 3.0)], label="AI requests per feature")
    labels = texts(svg)
    assert {"grammar", "quiz", "a$b$", "1,602", "0", "AI requests per feature"} <= set(labels)
