from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report.schedule import ReportSchedule
from reporter.store.history import History

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def history(tmp_path):
    h = History(f"sqlite:///{tmp_path / 'h.db'}", ["quiz"])
    yield h
    h.close()


def test_due_days_after_three_days_down_then_nothing(history):
    schedule = ReportSchedule(history.engine, BERLIN, "00:10")
    first = datetime(2026, 11, 20, 8, tzinfo=UTC)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    for day in (date(2026, 11, 20), date(2026, 11, 21)):
        assert schedule.claim(day, now, 60)
        schedule.done(day, [], now, email=False)
    due = schedule.due_days(now, first)
    assert due == [date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]
    for day in due:
        assert schedule.claim(day, now, 60)
        schedule.done(day, [], now, email=False)
    assert schedule.due_days(now, first) == []


def test_not_due_before_the_report_time_of_the_next_day(history):
    schedule = ReportSchedule(history.engine, BERLIN, "00:10")
    first = datetime(2026, 11, 20, 8, tzinfo=UTC)
    # 2026-11-22 00:05 Berlin = 23:05 UTC on the 21st: the 21st is not due yet, the 20th is
    assert schedule.due_days(datetime(2026, 11, 21, 23, 5, tzinfo=UTC), first) == [date(2026, 11, 20)]
    assert schedule.due_days(datetime(2026, 11, 21, 23, 11, tzinfo=UTC), first) == [date(2026, 11, 20),
                                                                                    date(2026, 11, 21)]


def test_claim_is_exclusive_and_a_dead_claim_is_taken_over(history):
    a = ReportSchedule(history.engine, BERLIN)
    b = ReportSchedule(history.engine, BERLIN)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    day = date(2026, 11, 24)
    assert a.claim(day, now, 60) is True
    assert b.claim(day, now, 60) is False
    assert b.claim(day, now + timedelta(seconds=61), 60) is True  # a died holding it


def test_failed_render_is_retried_later(history):
    schedule = ReportSchedule(history.engine, BERLIN)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    day = date(2026, 11, 24)
    schedule.claim(day, now, 60)
    delay = schedule.failed(day, "boom", now)
    assert delay == 300
    first = datetime(2026, 11, 24, tzinfo=UTC)
    assert schedule.due_days(now, first) == []
    assert schedule.due_days(now + timedelta(seconds=301), first) == [day]
    assert schedule.claim(day, now + timedelta(seconds=301), 60)


def test_retention_bounds_the_catch_up(history):
    schedule = ReportSchedule(history.engine, BERLIN, retention_days=3)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert schedule.due_days(now, datetime(2026, 10, 1, tzinfo=UTC)) == [date(2026, 11, 22), date(2026, 11, 23),
                                                                         date(2026, 11, 24)]
