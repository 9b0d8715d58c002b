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


# ------------------------------------------------------------------------------------------- weeks and months

def weeks(*keys: str, tz=BERLIN) -> list[Period]:
    return [Period.parse(key, tz, "week") for key in keys]


def months(*keys: str, tz=BERLIN) -> list[Period]:
    return [Period.parse(key, tz, "month") for key in keys]


def render(schedule: ReportSchedule, periods: list[Period], now: datetime) -> None:
    for period in periods:
        assert schedule.claim(period, now, 60)
        schedule.done(period, [], now, email=False)


def test_finished_weeks_are_due_oldest_first_with_missed_ones_caught_up(history):
    schedule = ReportSchedule(history.engine, BERLIN, "07:00", kind="week")
    first = datetime(2026, 11, 4, 8, tzinfo=UTC)  # a Wednesday of 2026-W45: its week is reported too
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)  # a Wednesday of 2026-W49, the current week (never due)
    render(schedule, weeks("2026-W45"), now)  # reported before the daemon went down for three weeks
    due = schedule.due_periods(now, first)
    assert due == weeks("2026-W46", "2026-W47", "2026-W48")
    assert [(p.start, p.end) for p in due[-1:]] == [(datetime(2026, 11, 22, 23, tzinfo=UTC),
                                                     datetime(2026, 11, 29, 23, tzinfo=UTC))]
    render(schedule, due[:1], now)  # caught up one by one, oldest first
    assert schedule.due_periods(now, first) == weeks("2026-W47", "2026-W48")
    render(schedule, due[1:], now)
    assert schedule.due_periods(now, first) == []


def test_finished_months_are_due_oldest_first_with_missed_ones_caught_up(history):
    schedule = ReportSchedule(history.engine, BERLIN, "08:00", retention_days=400, kind="month")
    first = datetime(2026, 7, 20, 8, tzinfo=UTC)
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    render(schedule, months("2026-07", "2026-09"), now)
    due = schedule.due_periods(now, first)
    assert due == months("2026-08", "2026-10", "2026-11")
    assert (due[-1].start, due[-1].end) == (datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 30, 23, tzinfo=UTC))
    render(schedule, due, now)
    assert schedule.due_periods(now, first) == []
    # the first month of a short retention is the one holding its oldest day
    short = ReportSchedule(history.engine, BERLIN, "08:00", retention_days=30, kind="month")
    assert short.due_periods(datetime(2027, 1, 5, 12, tzinfo=UTC), first) == months("2026-12")


def test_a_week_is_due_at_the_weekly_report_time_of_the_monday_after_it(history):
    schedule = ReportSchedule(history.engine, BERLIN, "07:30", kind="week")
    first = datetime(2026, 11, 20, tzinfo=UTC)
    w47 = weeks("2026-W47")
    # Monday 30 November 07:30 in Berlin (CET, UTC+1) = 06:30 UTC: 2026-W48 is due then, not a minute before
    assert schedule.due_at(weeks("2026-W48")[0]) == datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
    assert schedule.due_periods(datetime(2026, 11, 30, 6, 29, tzinfo=UTC), first) == w47
    assert schedule.due_periods(datetime(2026, 11, 30, 6, 30, tzinfo=UTC), first) == weeks("2026-W47", "2026-W48")


def test_a_month_is_due_at_the_monthly_report_time_of_its_next_first_day(history):
    schedule = ReportSchedule(history.engine, BERLIN, "06:00", retention_days=60, kind="month")
    first = datetime(2026, 10, 20, tzinfo=UTC)
    # 1 December 06:00 in Berlin = 05:00 UTC
    assert schedule.due_periods(datetime(2026, 12, 1, 4, 59, tzinfo=UTC), first) == months("2026-10")
    assert schedule.due_periods(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), first) == months("2026-10", "2026-11")


def test_weeks_and_months_holding_a_dst_change_are_due_at_local_report_time(history):
    """The week and the month holding the end of summer time (25 October 2026 in Berlin: 169 h, 745 h) are due at
    the report time of the next local day in winter time; those holding its start (29 March: 167 h, 743 h) in
    summer time."""
    week = ReportSchedule(history.engine, BERLIN, "07:00", kind="week")
    month = ReportSchedule(history.engine, BERLIN, "07:00", retention_days=400, kind="month")
    autumn_week, autumn_month = weeks("2026-W43")[0], months("2026-10")[0]
    assert (autumn_week.hours, autumn_month.hours) == (169, 745)
    assert week.due_at(autumn_week) == datetime(2026, 10, 26, 6, tzinfo=UTC)  # 07:00 CET, Monday 26 October
    assert month.due_at(autumn_month) == datetime(2026, 11, 1, 6, tzinfo=UTC)  # 07:00 CET, 1 November
    spring_week, spring_month = weeks("2026-W13")[0], months("2026-03")[0]
    assert (spring_week.hours, spring_month.hours) == (167, 743)
    assert week.due_at(spring_week) == datetime(2026, 3, 30, 5, tzinfo=UTC)  # 07:00 CEST, Monday 30 March
    assert month.due_at(spring_month) == datetime(2026, 4, 1, 5, tzinfo=UTC)  # 07:00 CEST, 1 April
    first = datetime(2026, 10, 14, tzinfo=UTC)
    assert week.due_periods(datetime(2026, 10, 26, 5, 59, tzinfo=UTC), first) == weeks("2026-W42")
    due = week.due_periods(datetime(2026, 10, 26, 6, 0, tzinfo=UTC), first)
    assert [(p.key, p.hours) for p in due] == [("2026-W42", 168), ("2026-W43", 169)]
    assert month.due_periods(datetime(2026, 11, 1, 5, 59, tzinfo=UTC), first) == []
    assert [(p.key, p.hours) for p in month.due_periods(datetime(2026, 11, 1, 6, tzinfo=UTC), first)] \
        == [("2026-10", 745)]


def test_schedules_of_different_kinds_on_one_table_never_claim_the_same_period_twice(history):
    """A daily, a weekly and a monthly schedule share the ``reports`` table: each claims its own keys, a claim or a
    done row of one kind neither blocks nor satisfies another kind, and a second schedule of a kind (another
    process) gets no period claimed twice."""
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    first = datetime(2026, 11, 29, tzinfo=UTC)  # Sunday 29 November: in 2026-W48 and 2026-11
    schedules = {kind: ReportSchedule(history.engine, BERLIN, "00:10", kind=kind) for kind in ("day", "week", "month")}
    others = {kind: ReportSchedule(history.engine, BERLIN, "00:10", kind=kind) for kind in ("day", "week", "month")}
    due = {kind: s.due_periods(now, first) for kind, s in schedules.items()}
    assert {k: [p.key for p in v] for k, v in due.items()} == {
        "day": ["2026-11-29", "2026-11-30", "2026-12-01"], "week": ["2026-W48"], "month": ["2026-11"]}
    claimed = []
    for kind, periods in due.items():
        for period in periods:
            assert schedules[kind].claim(period, now, 60), period
            assert not others[kind].claim(period, now, 60), period  # the same kind in another process: held
            claimed.append(period.key)
    for kind, schedule in others.items():  # nothing of any kind left to claim
        assert schedule.due_periods(now, first) == [], kind
    for kind, periods in due.items():
        for period in periods:
            schedules[kind].done(period, [], now, email=True)
    with history.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT day, status, attempts FROM reports ORDER BY day").all()
        emails = [r[0] for r in conn.exec_driver_sql("SELECT day FROM report_emails ORDER BY day").all()]
    assert rows == [(key, "done", 1) for key in sorted(claimed)]
    assert emails == sorted(claimed)
    for kind, schedule in {**schedules, **others}.items():
        assert schedule.due_periods(now + timedelta(days=1), first) == (
            [Period.day(date(2026, 12, 2), BERLIN)] if kind == "day" else []), kind


def test_the_report_job_has_one_schedule_per_report_at_its_time(tmp_path):
    from reporter.report.job import ReportJob
    from reporter.settings import load_settings
    from reporter.store.history import History

    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", timezone="Europe/Berlin",
                             report_time="00:10", weekly_report_time="07:00", monthly_report_time="",
                             reports="daily,weekly,monthly")
    history = History(settings.history_url, ["quiz"])
    try:
        job = ReportJob(settings, history)
        assert [(s.kind, s.report_time.isoformat("minutes")) for s in job.schedules] == [
            ("day", "00:10"), ("week", "07:00"), ("month", "00:10")]  # no monthly time: the daily one
        job = ReportJob(settings.model_copy(update={"reports": ["weekly"]}), history)
        assert [s.kind for s in job.schedules] == ["week"]
        assert job.schedule_of(Period.parse("2026-11", BERLIN)).kind == "month"  # `reporter report --month`
    finally:
        history.close()
