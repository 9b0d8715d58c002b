"""Capacity: the disk and memory trend over the period and the projected date of full, checked against an
independent least-squares fit (numpy) of the samples the test inserts."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from reporter.base.ms import from_ms, to_ms
from reporter.report.build import build_report, downsample
from reporter.report.capacity import BEYOND, FILLING, FLAT, NO_DATA, SHORT, trend
from reporter.report.html import fmt_percent, render_html
from reporter.report.model import HostDay, Stats
from reporter.report.period import Period
from reporter.report.text import render_text

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = Period.parse("2026-W47", BERLIN)  # Monday 2026-11-16 00:00 CET to 2026-11-23 00:00
INTERVAL = 10.0


@pytest.fixture
def history_features():
    return ["quiz"]


def insert(history, rows):
    names = list(history.metrics)
    with history.engine.begin() as conn:
        conn.execute(history.samples.insert(), [{"ts": r["ts"], **{n: r.get(n) for n in names}} for r in rows])


def section(html: str) -> str:
    """The capacity section's text, tags removed."""
    match = re.search(r'<section id="capacity">(.*?)</section>', html, re.S)
    assert match, "no capacity section"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_a_disk_growing_one_percent_a_day_is_full_on_the_recomputed_date(history):
    rng = random.Random(5)
    rows, t = [], WEEK.start
    while t < WEEK.end:  # a week of 10 s samples: 60,480 rows, downsampled to 600 points for the report
        days = (t - WEEK.start).total_seconds() / 86400
        rows.append({"ts": to_ms(t), "cpu_percent": 20.0,
                     "disk_percent": 40.5 + days + rng.gauss(0, 0.5),
                     "memory_percent": 62.0 - 0.3 * days + 4 * math.sin(2 * math.pi * days) + rng.gauss(0, 1.5)})
        t += timedelta(seconds=INTERVAL)
    for i in range(0, len(rows), 20000):
        insert(history, rows[i:i + 20000])
    del rows[1234:1500]  # a gap of 44 min in the history
    with history.engine.begin() as conn:
        conn.execute(history.samples.delete().where(history.samples.c.ts.between(
            to_ms(WEEK.start) + 1234 * 10_000, to_ms(WEEK.start) + 1499 * 10_000)))

    # independently: the daily means of the samples (local days, each at its samples' mean time), numpy's least
    # squares through them, then where the line reaches 100 %
    days: dict = {}
    for r in rows:
        at = from_ms(r["ts"])
        days.setdefault(at.astimezone(BERLIN).date(), []).append(((at - WEEK.start).total_seconds() / 86400,
                                                                   r["disk_percent"]))
    xs = np.array([np.mean([x for x, _ in day]) for day in days.values()])
    slope, intercept = np.polyfit(xs, np.array([np.mean([y for _, y in day]) for day in days.values()]), 1)
    full = WEEK.start + timedelta(days=(100 - intercept) / slope)
    assert len(days) == 7 and abs(slope - 1.0) < 0.01
    assert full.astimezone(BERLIN).date() == date(2027, 1, 14)  # 40.5 % + 59.5 days at 1 %/day: noon

    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web01")
    disk, memory = report.capacity  # the disk filling up first
    assert (disk.resource, disk.outlook, memory.resource, memory.outlook) == ("Disk", FILLING, "Memory", FLAT)
    assert disk.slope == pytest.approx(slope, rel=0.001)
    # the same day; within 3 h (the report fits the means of 600 slices of the week, not every sample)
    assert disk.full_at.astimezone(BERLIN).date() == date(2027, 1, 14)
    assert abs((disk.full_at - full).total_seconds()) < 3 * 3600
    assert disk.peak == pytest.approx(max(r["disk_percent"] for r in rows), abs=0.005)  # stored to 0.01
    text = section(render_html(report, generated_at=datetime(2026, 11, 23, tzinfo=UTC)))
    assert f"+{slope:.2f} pp 2027-01-14 (in 53 d)" in text
    assert "Memory" in text and "not filling up" in text
    assert "least-squares straight line through the daily means of the week's samples" in text
    assert '<figure class="chart-box"><svg' in render_html(report).split('<section id="capacity">')[1]
    # the email's text part names what fills up within a year, and only that
    assert f"Capacity:      Disk {fmt_percent(disk.last)}, full 2027-01-14 at {slope:+.2f} pts a day" in render_text(report)
    assert "Memory" not in render_text(report).split("Capacity:", 1)[1].split("\n", 1)[0]


def host(values: list[float | None], start: datetime = WEEK.start, step: float = 600.0,
         metric: str = "disk_percent") -> HostDay:
    points = [(start + timedelta(seconds=i * step), v) for i, v in enumerate(values)]
    clean = [v for v in values if v is not None]
    stats = Stats(min(clean), sum(clean) / len(clean), None, max(clean), len(clean)) if clean else \
        Stats(None, None, None, None, 0)
    return HostDay("web01", len(clean), len(values), [], {metric: stats}, None, {metric: points}, [])


def test_flat_falling_slow_and_scarce_trends():
    rng = random.Random(11)
    per_day = 144  # a point every 10 min over the week
    flat = [70 + rng.gauss(0, 2) for _ in range(7 * per_day)]
    assert trend(host(flat), "disk_percent", "Disk", WEEK.end, 600, BERLIN).outlook == FLAT
    falling = [80 - i / per_day for i in range(7 * per_day)]
    assert trend(host(falling), "disk_percent", "Disk", WEEK.end, 600, BERLIN).outlook == FLAT
    slow = [50 + 0.1 * i / per_day for i in range(7 * per_day)]  # 0.1 %/day: full in about 500 days
    result = trend(host(slow), "disk_percent", "Disk", WEEK.end, 600, BERLIN)
    assert result.outlook == BEYOND and result.slope == pytest.approx(0.1)
    assert (result.full_at - WEEK.end).days == pytest.approx(500 - 7, abs=1)
    two_days = trend(host([55.0 + i / per_day for i in range(2 * per_day)]), "disk_percent", "Disk", WEEK.end, 600,
                     BERLIN)
    assert two_days.outlook == SHORT and two_days.slope is None  # a fit needs 3 days
    assert trend(host([None, None]), "disk_percent", "Disk", WEEK.end, 600, BERLIN).outlook == NO_DATA
    full = [98.0 + i / per_day for i in range(3 * per_day)]  # crossed 100 % inside the period: full at its end
    assert trend(host(full), "disk_percent", "Disk", WEEK.end, 600, BERLIN).full_at == WEEK.end


def test_a_slow_disk_reads_not_within_a_year_and_a_flat_one_not_filling_up(history):
    rows, t = [], WEEK.start
    while t < WEEK.end:
        days = (t - WEEK.start).total_seconds() / 86400
        rows.append({"ts": to_ms(t), "disk_percent": 50 + 0.1 * days, "memory_percent": 40.0})
        t += timedelta(minutes=5)
    insert(history, rows)
    report = build_report(history, WEEK, sample_interval=300, host="web01")
    assert [(c.resource, c.outlook) for c in report.capacity] == [("Disk", BEYOND), ("Memory", FLAT)]
    text = section(render_html(report))
    assert "Disk 50.70% 50.70% +0.10 pp not within a year" in text
    assert "Memory 40.00% 40.00% ±0 pp not filling up" in text


def test_a_week_with_no_data(history):
    insert(history, [{"ts": to_ms(WEEK.end + timedelta(days=3)), "disk_percent": 50.0}])
    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web01")
    assert report.empty and report.capacity == []
    assert section(render_html(report)) == "Capacity No data for this week."


def test_slice_means_are_placed_at_the_middle_of_their_slice():
    """A month of 10 s samples as the report holds it (600 slice means stamped with their first sample): the
    line through them reaches 100 % when the samples' line does (not 8 min early)."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    samples = [(start + timedelta(seconds=10 * i), 40 + i * 10 / 86400) for i in range(30 * 8640)]
    series = downsample(samples)
    assert len(series) == 600
    month = HostDay("web01", len(samples), len(samples), [], {"disk_percent": Stats(40, 55, None, 70, len(samples))},
                    None, {"disk_percent": series}, [])
    result = trend(month, "disk_percent", "Disk", start + timedelta(days=30), INTERVAL, ZoneInfo("UTC"))
    assert result.outlook == FILLING
    assert abs((result.full_at - (start + timedelta(days=60))).total_seconds()) < 60


def test_a_daily_cycle_projects_no_date_and_a_day_report_has_no_projection(history):
    """Memory up with the working day and down at night, no growth: the daily means are flat (a fit through the
    samples themselves rises by the cycle's phase); a single day is too short for a projection."""
    rows, t = [], WEEK.start
    while t < WEEK.end:
        local = t.astimezone(BERLIN)
        hour = local.hour + local.minute / 60
        rows.append({"ts": to_ms(t), "disk_percent": 50.0,
                     "memory_percent": 60 + 7.5 * math.cos((hour - 15) / 24 * 2 * math.pi)})
        t += timedelta(minutes=2)
    insert(history, rows)
    memory = next(c for c in build_report(history, WEEK, sample_interval=120, host="web01").capacity
                  if c.resource == "Memory")
    assert memory.outlook == FLAT and abs(memory.slope) < 0.01
    xs = np.array([(from_ms(r["ts"]) - WEEK.start).total_seconds() / 86400 for r in rows])
    assert np.polyfit(xs, np.array([r["memory_percent"] for r in rows]), 1)[0] > 0.2  # what the samples' fit says

    day = build_report(history, Period.day(date(2026, 11, 18), BERLIN), sample_interval=120, host="web01")
    assert {c.outlook for c in day.capacity} == {SHORT}
    text = section(render_html(day))
    assert re.search(r"Disk 50\.00% 50\.00% n/a needs 3 days of samples Memory [\d.]+% 67\.50% n/a needs 3 days", text)


def test_each_host_of_a_fleet_has_its_trend_the_filling_one_first_and_charted():
    from reporter.store.history import History, SampleRow
    from tests.conftest import private_schema

    schema = private_schema()
    url = next(schema)
    h = History(url, ["quiz"], host="web-1")
    try:
        t = WEEK.start
        rows = []
        while t < WEEK.end:
            days = (t - WEEK.start).total_seconds() / 86400
            rows += [SampleRow(ts=to_ms(t), host="web-1", values={"disk_percent": 30.0, "memory_percent": 50.0}),
                     SampleRow(ts=to_ms(t), host="db-<1>", values={"disk_percent": 71 + 2 * days,
                                                                  "memory_percent": 40.0})]
            t += timedelta(minutes=10)
        h.write_rows(rows)
        report = build_report(h, WEEK, sample_interval=600, host="web-1")
        assert report.fleet
        assert [(c.host, c.resource, c.outlook) for c in report.capacity] == [
            ("db-<1>", "Disk", FILLING), ("db-<1>", "Memory", FLAT), ("web-1", "Disk", FLAT), ("web-1", "Memory", FLAT)]
        # 71 % at the week's start, +2 %/day: 100 % after 14.5 days, on 2026-11-30 at noon
        assert abs(report.capacity[0].full_at - datetime(2026, 11, 30, 12, tzinfo=BERLIN)) < timedelta(minutes=1)
        html = render_html(report)
        text = section(html)
        assert "Host Resource" in text and "db-&lt;1&gt; Disk" in text and "2026-11-30 (in 8 d)" in text
        charts = html.split('<section id="capacity">')[1].split("</section>")[0].count("<svg")
        assert charts == 1  # the host filling up only
    finally:
        h.close()
        for _ in schema:
            pass


def test_a_disk_that_crossed_100_percent_reads_full_at_the_end(history):
    rows, t = [], WEEK.start
    while t < WEEK.end:
        days = (t - WEEK.start).total_seconds() / 86400
        rows.append({"ts": to_ms(t), "disk_percent": min(100.0, 97 + days), "memory_percent": 40.0})
        t += timedelta(minutes=10)
    insert(history, rows)
    report = build_report(history, WEEK, sample_interval=600, host="web01")
    assert report.capacity[0].full_at == WEEK.end
    assert re.search(r"Disk 100\.00% 100\.00% \+0\.\d\d pp full at the end Memory", section(render_html(report)))
