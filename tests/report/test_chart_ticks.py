"""The x axis of a week's and a month's charts: the tick at the period's end (the next period's first day) has no
label: in a week's chart "Mon 30" ran off the right edge ("Mon 3"), in a month's capacity chart "01 Dec" crowded
"29 Nov"."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from reporter.report.capacity import CapacityTrend
from reporter.report.capacity_chart import trend_chart
from reporter.report.charts import line_chart

TZ = ZoneInfo("Europe/Paris")


def _labels(svg: str) -> list[str]:
    return re.findall(r">(\w\w\w \d\d|\d\d \w\w\w)<", svg)


def test_a_weeks_chart_labels_its_seven_days_only():
    start = datetime(2026, 11, 23, tzinfo=TZ)
    end = start + timedelta(days=7)
    svg = line_chart([(start + timedelta(hours=h), 40.0) for h in range(168)], start=start, end=end, tz=TZ,
                     label="CPU (%)", average=40.0)
    assert _labels(svg) == ["Mon 23", "Tue 24", "Wed 25", "Thu 26", "Fri 27", "Sat 28", "Sun 29"]


def test_a_months_charts_do_not_label_the_next_month():
    start, end = datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ)
    series = [(start + timedelta(hours=h), 50.0 + h / 100) for h in range(0, 720, 6)]
    line = line_chart(series, start=start, end=end, tz=TZ, label="Disk (%)")
    assert "01 Dec" not in _labels(line) and "30 Nov" in _labels(line)
    trend = CapacityTrend(host="h", metric="disk_percent", resource="Disk", last=57.2, peak=57.2, slope=None,
                          full_at=None, outlook="short", series=series)
    capacity = trend_chart([trend], start=start, end=end, tz=TZ, label="Disk and memory (%)")
    assert _labels(capacity) == ["01 Nov", "08 Nov", "15 Nov", "22 Nov", "29 Nov"]


def test_an_all_zero_series_without_a_fixed_axis_is_drawn_on_0_to_1():
    """A day without AI requests: its response time per hour, all 0 s, was labelled 0.015, 0.03, 0.045 s."""
    start = datetime(2026, 11, 23, tzinfo=TZ)
    svg = line_chart([(start + timedelta(hours=h), 0.0) for h in range(24)], start=start,
                     end=start + timedelta(days=1), tz=TZ, label="Response time per hour", unit=" s", ymax=None)
    ticks = re.findall(r">([\d.]+) s<", svg)
    assert ticks and ticks[0] == "0" and ticks[-1] == "1" and "0.015" not in ticks, ticks
    busy = line_chart([(start + timedelta(hours=h), 0.004) for h in range(24)], start=start,
                      end=start + timedelta(days=1), tz=TZ, label="Response time per hour", unit=" s", ymax=None)
    assert "1 s" not in busy  # a small non-zero series keeps its own scale
