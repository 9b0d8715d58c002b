"""Reports of a history holding values no reporter writes (put in by hand, another writer, garbage counters in
Redis): text in a numeric column, counters near 2^63, a percentage of 1e16. The report renders; nothing raises."""

import sqlite3
from datetime import UTC, datetime, timedelta

from reporter.report.build import build_report
from reporter.report.charts import collecting_images, line_chart
from reporter.report.period import Period
from reporter.store.history import History
from reporter.store.synthetic import generate

START = datetime(2026, 11, 23, tzinfo=UTC)
FEATURES = ["grammar", "quiz", "voice", "scenario"]


def _history(tmp_path, updates: list[str]) -> History:
    """A day of synthetic samples (60 s apart) with ``updates`` (SQL on the samples table) applied by hand."""
    path = tmp_path / "h.db"
    history = History(f"sqlite:///{path}", FEATURES)
    generate(history, START, START + timedelta(days=1), interval=60)
    with sqlite3.connect(path) as conn:
        for sql in updates:
            conn.execute(sql)
    return history


def test_text_in_a_numeric_column_reads_as_missing(tmp_path):
    ts = int((START + timedelta(hours=12)).timestamp() * 1000)
    history = _history(tmp_path, [f"update samples set disk_percent = 'garbage', cpu_percent = '12.5e2' "
                                  f"where ts between {ts} and {ts + 600_000}"])
    values = [v for _t, v in history.series("disk_percent", START + timedelta(hours=12), START + timedelta(hours=13))]
    assert values and all(v is None or 0 <= v <= 100 for v in values)  # a number or missing, never text
    report = build_report(history, Period.day(START.date(), "UTC"), sample_interval=60, host="h", compare=False)
    assert report is not None


def test_counters_near_two_to_the_63_do_not_overflow_the_objectives(tmp_path):
    ts = int((START + timedelta(hours=6)).timestamp() * 1000)
    huge = 2**63 - 1
    flip = f"case when (ts / 60000) % 2 = 1 then {huge} else 0 end"  # a reset every other sample: huge increases
    history = _history(tmp_path, [f"update samples set ai_quiz_requests = {flip}, ai_total_requests = {flip} "
                                  f"where ts between {ts} and {ts + 3_600_000}"])
    report = build_report(history, Period.day(START.date(), "UTC"), sample_interval=60, host="h")
    assert report.objectives


def test_a_huge_percentage_still_draws_a_png():
    points = [(START + timedelta(minutes=m), 50.0 if m % 7 else 9e16) for m in range(0, 1440, 10)]
    with collecting_images() as images:
        svg = line_chart(points, start=START, end=START + timedelta(days=1), tz=UTC, label="Memory (%)",
                         average=1.5e13)
    assert svg.startswith("<svg") and images and images[0].png.startswith(b"\x89PNG")
