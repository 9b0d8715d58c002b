from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report.period import Period
from reporter.report.schedule import ReportSchedule

BERLIN = ZoneInfo("Europe/Berlin")


def days(*numbers: int) -> list[Period]:
    """The Berlin days of November 2026 with these numbers."""
    return [Period.day(date(2026, 11, n), BERLIN) for n in numbers]


@pytest.fixture
def history_features():
    return ["quiz"]


def test_due_periods_after_three_days_down_then_nothing(history):
    schedule = ReportSchedule(history.engine, BERLIN, "00:10")
    first = datetime(2026, 11, 20, 8, tzinfo=UTC)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    for day in (Period.day(date(2026, 11, 20), BERLIN), Period.day(date(2026, 11, 21), BERLIN)):
        assert schedule.claim(day, now, 60)
        schedule.done(day, [], now, email=False)
    due = schedule.due_periods(now, first)
    assert due == days(22, 23, 24)
    for day in due:
        assert schedule.claim(day, now, 60)
        schedule.done(day, [], now, email=False)
    assert schedule.due_periods(now, first) == []


def test_not_due_before_the_report_time_of_the_next_day(history):
    schedule = ReportSchedule(history.engine, BERLIN, "00:10")
    first = datetime(2026, 11, 20, 8, tzinfo=UTC)
    # 2026-11-22 00:05 Berlin = 23:05 UTC on the 21st: the 21st is not due yet, the 20th is
    assert schedule.due_periods(datetime(2026, 11, 21, 23, 5, tzinfo=UTC), first) == days(20)
    assert schedule.due_periods(datetime(2026, 11, 21, 23, 11, tzinfo=UTC), first) == days(20, 21)


def test_claim_is_exclusive_and_a_dead_claim_is_taken_over(history):
    a = ReportSchedule(history.engine, BERLIN)
    b = ReportSchedule(history.engine, BERLIN)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    day = Period.day(date(2026, 11, 24), BERLIN)
    assert a.claim(day, now, 60) is True
    assert b.claim(day, now, 60) is False
    assert b.claim(day, now + timedelta(seconds=61), 60) is True  # a died holding it


def test_failed_render_is_retried_later(history):
    schedule = ReportSchedule(history.engine, BERLIN)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    day = Period.day(date(2026, 11, 24), BERLIN)
    schedule.claim(day, now, 60)
    delay = schedule.failed(day, "boom", now)
    assert 150 <= delay <= 300  # 5 min, jittered (the leased queues' backoff)
    first = datetime(2026, 11, 24, tzinfo=UTC)
    assert schedule.due_periods(now, first) == []
    assert schedule.due_periods(now + timedelta(seconds=301), first) == [day]
    assert schedule.claim(day, now + timedelta(seconds=301), 60)


def test_retention_bounds_the_catch_up(history):
    schedule = ReportSchedule(history.engine, BERLIN, retention_days=3)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert schedule.due_periods(now, datetime(2026, 10, 1, tzinfo=UTC)) == days(22, 23, 24)


CLAIM_IN_CHILD = """
import sys, time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo
from reporter.report.period import Period
from reporter.report.schedule import ReportSchedule
from reporter.store.history import History
history = History(sys.argv[1], ["quiz"])
assert ReportSchedule(history.engine, ZoneInfo("UTC")).claim(Period.day(date(2026, 11, 24), 'UTC'), datetime.now(UTC), 330)
print("claimed", flush=True)
time.sleep(600)
"""


def claim_in_child(tmp_path):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", CLAIM_IN_CHILD, f"sqlite:///{tmp_path / 'h.db'}"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "claimed"
    return child


def test_claim_of_a_killed_process_on_this_host_is_taken_over_at_once(history, tmp_path):
    schedule = ReportSchedule(history.engine, BERLIN)
    day = Period.day(date(2026, 11, 24), BERLIN)
    child = claim_in_child(tmp_path)  # a real process claims the day with a 330 s lease, then sleeps
    try:
        now = datetime.now(UTC)
        assert schedule.claim(day, now, 60) is False  # its holder is alive: wait
        assert day not in schedule.due_periods(now, datetime(2026, 11, 24, tzinfo=UTC))
    finally:
        child.kill()
        child.wait()
    now = datetime.now(UTC)  # well inside the 330 s lease
    assert day in schedule.due_periods(now, datetime(2026, 11, 24, tzinfo=UTC))
    assert schedule.claim(day, now, 60) is True
    assert schedule.claim(day, now, 60) is False  # now this (live) process holds it


def test_claim_of_a_reused_pid_or_another_host_is_judged_rightly(history):
    import os
    import socket

    from sqlalchemy import update

    from reporter.report.holder import this_process
    from reporter.store.report_schema import reports

    schedule = ReportSchedule(history.engine, BERLIN)
    day = Period.day(date(2026, 11, 24), BERLIN)
    now = datetime.now(UTC)
    me = this_process()

    def held_by(text):
        with history.engine.begin() as conn:
            conn.execute(update(reports).where(reports.c.day == day.key)
                         .values(status="claimed", claimed_by=text, lease_until=int(now.timestamp() * 1000) + 300_000))

    assert schedule.claim(day, now, 60)
    # the pid is alive (this process) but started at another time: the holder died and its pid was reused
    held_by(f"{socket.gethostname()}:{os.getpid()}:{me.start - 3600:.2f}")
    assert schedule.claim(day, now, 60) is True
    held_by(f"other-host.example:{os.getpid() + 1}:{me.start:.2f}")  # another host: its lease decides
    assert schedule.claim(day, now, 60) is False
    assert schedule.claim(day, now + timedelta(seconds=301), 60) is True
    held_by(str(me))  # a live holder (here: this very process) keeps it
    assert schedule.claim(day, now, 60) is False


def test_due_periods_across_dst_changes_are_whole_local_days(history):
    paris = ZoneInfo("Europe/Paris")
    schedule = ReportSchedule(history.engine, paris, "00:10")
    due = schedule.due_periods(datetime(2026, 3, 30, 12, tzinfo=UTC), datetime(2026, 3, 28, 6, tzinfo=UTC))
    assert [(p.key, p.hours) for p in due] == [("2026-03-28", 24), ("2026-03-29", 23)]
    autumn = Period.day(date(2026, 10, 25), paris)
    assert schedule.due_at(autumn) == datetime(2026, 10, 25, 23, 10, tzinfo=UTC)  # 00:10 CET on the 26th
    assert schedule.due_periods(datetime(2026, 10, 25, 23, 9, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC)) \
        == [Period.day(date(2026, 10, 24), paris)]
    due = schedule.due_periods(datetime(2026, 10, 25, 23, 11, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC))
    assert [(p.key, p.hours) for p in due] == [("2026-10-24", 24), ("2026-10-25", 25)]
    assert schedule.claim(due[1], datetime(2026, 10, 25, 23, 11, tzinfo=UTC), 60)
    with history.engine.connect() as conn:  # the claim's row is keyed by the period key, as before
        assert conn.exec_driver_sql("SELECT day, status FROM reports").all() == [("2026-10-25", "claimed")]
