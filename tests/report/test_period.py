"""The report period: a local day (23 h / 25 h on DST change days), its key and label, previous/next, and the
report files named from it."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from reporter.report.files import remove_stale_temps, report_files, report_path
from reporter.report.period import Period

PARIS = ZoneInfo("Europe/Paris")


def test_a_day_is_local_midnight_to_midnight():
    day = Period.day(date(2026, 12, 3), PARIS)
    assert (day.start, day.end) == (datetime(2026, 12, 2, 23, tzinfo=UTC), datetime(2026, 12, 3, 23, tzinfo=UTC))
    assert (day.kind, day.key, day.label, day.title) == ("day", "2026-12-03", "Thursday 3 December 2026",
                                                        "Daily report")
    assert day.hours == 24 and str(day) == "2026-12-03" and day.timezone == "Europe/Paris"
    assert day.first_day == day.last_day == date(2026, 12, 3)


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25),
                                            (date(2026, 3, 28), 24), (date(2026, 3, 30), 24)])
def test_dst_change_days_in_paris_are_23_and_25_hours(day, hours):
    period = Period.day(day, PARIS)
    assert period.hours == hours
    assert period.end == period.next().start and period.start == period.previous().end


def test_key_round_trip_and_bad_keys():
    for day in (date(2026, 1, 1), date(2026, 3, 29), date(2026, 10, 25), date(2028, 2, 29)):
        period = Period.day(day, PARIS)
        assert Period.parse(period.key, PARIS) == period
        assert Period.parse(period.key, "Europe/Paris", "day") == period
    for bad in ("2026-13-01", "2026-13", "2026-00", "2026-W00", "2026-W54", "2025-W53", "x", "2026-12-03.pdf", ""):
        with pytest.raises(ValueError):
            Period.parse(bad, PARIS)


def test_an_iso_week_runs_monday_to_monday_in_local_time():
    week = Period.of("week", date(2026, 11, 26), PARIS)  # a Thursday
    assert (week.kind, week.key, week.title, week.noun) == ("week", "2026-W48", "Weekly report", "week")
    assert week.label == "Week 48 · 23\u201329 November 2026"
    assert (week.start, week.end) == (datetime(2026, 11, 22, 23, tzinfo=UTC), datetime(2026, 11, 29, 23, tzinfo=UTC))
    assert week.first_day == date(2026, 11, 23) and week.last_day == date(2026, 11, 29) and week.days == 7
    assert Period.parse("2026-W48", PARIS) == week == Period.parse("2026-W48", PARIS, "week")
    assert week.previous().key == "2026-W47" and week.next().key == "2026-W49"
    # ISO years: 2026 has 53 weeks, and its week 1 starts on Monday 29 December 2025
    first = Period.parse("2026-W01", PARIS)
    assert first.first_day == date(2025, 12, 29) and first.previous().key == "2025-W52"
    assert first.label == "Week 1 · 29 December 2025 \u2013 4 January 2026"
    assert Period.parse("2026-W53", PARIS).next().key == "2027-W01"
    assert Period.of("week", date(2026, 12, 1), PARIS).label == "Week 49 · 30 November \u2013 6 December 2026"
    # the week holding the end of summer time is 169 h long, the one holding its start 167 h
    assert Period.of("week", date(2026, 10, 25), PARIS).hours == 169
    assert Period.of("week", date(2026, 3, 29), PARIS).hours == 167


def test_a_month_is_a_calendar_month_in_local_time():
    month = Period.of("month", date(2026, 11, 17), PARIS)
    assert (month.key, month.label, month.title, month.days) == ("2026-11", "November 2026", "Monthly report", 30)
    assert month.start == datetime(2026, 10, 31, 23, tzinfo=UTC) and month.end == datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert month.previous().key == "2026-10" and month.next().key == "2026-12"
    assert Period.parse("2026-12", PARIS).next().key == "2027-01"
    assert Period.parse("2026-01", PARIS).previous().key == "2025-12"
    assert Period.parse("2028-02", PARIS).days == 29
    assert Period.parse("2026-10", PARIS).hours == 31 * 24 + 1  # holds the end of summer time
    assert Period.containing(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), PARIS, "month").key == "2026-12"


def test_previous_and_next_cross_months_years_and_dst():
    day = Period.day(date(2026, 1, 1), PARIS)
    assert day.previous().key == "2025-12-31" and day.next().key == "2026-01-02"
    assert day.previous().next() == day
    autumn = Period.day(date(2026, 10, 25), PARIS)
    assert autumn.next() == Period.day(date(2026, 10, 26), PARIS) and autumn.previous().hours == 24


def test_containing_an_instant_uses_the_local_calendar():
    # 23:30 UTC on 2 December is 00:30 on 3 December in Paris
    assert Period.containing(datetime(2026, 12, 2, 23, 30, tzinfo=UTC), PARIS).key == "2026-12-03"
    assert datetime(2026, 12, 2, 23, tzinfo=UTC) in Period.day(date(2026, 12, 3), PARIS)
    assert datetime(2026, 12, 3, 23, tzinfo=UTC) not in Period.day(date(2026, 12, 3), PARIS)  # end excluded


def test_report_files_are_named_from_the_period_key(tmp_path):
    period = Period.day(date(2026, 12, 3), PARIS)
    assert report_path(tmp_path, period, "pdf") == tmp_path / "2026-12-03.pdf"
    (tmp_path / "2026-12-03.top_users.csv").write_text("x")
    (tmp_path / "2026-12-04.top_users.csv").write_text("x")
    assert report_files(tmp_path, period) == {"html": tmp_path / "2026-12-03.html",
                                              "pdf": tmp_path / "2026-12-03.pdf",
                                              "2026-12-03.top_users.csv": tmp_path / "2026-12-03.top_users.csv"}
    assert report_files(tmp_path, "2026-12-03") == report_files(tmp_path, period)


def test_stale_temporary_files_are_recognised_by_a_period_key(tmp_path):
    for name in (".2026-12-03.pdf.abc.tmp", ".notes.txt.abc.tmp", ".2026-12-3.pdf.abc.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in remove_stale_temps(tmp_path, 0, now=4e9)] == [".2026-12-03.pdf.abc.tmp"]


def test_a_new_kind_is_one_entry_in_the_kinds_table(monkeypatch, tmp_path):
    """What a weekly report would add to the period layer: one Kind. Periods, keys, previous/next, the schedule's
    due periods and the temporary-file clean-up then work for it unchanged."""
    from datetime import timedelta

    from reporter.report.period import KINDS, Kind
    from reporter.report.schedule import ReportSchedule
    from reporter.store.history import History

    def monday(d: date) -> date:
        return d - timedelta(days=d.weekday())

    def parse(key: str) -> date:
        year, week = key.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)

    week = Kind(name="week", title="Weekly report", noun="week", key_pattern=r"\d{4}-W\d{2}", first=monday,
                after=lambda d: d + timedelta(days=7),
                key=lambda d: f"{d.isocalendar().year}-W{d.isocalendar().week:02d}", parse=parse,
                label=lambda d: f"Week {d.isocalendar().week}, {d.day} {d:%B %Y}")
    monkeypatch.setitem(KINDS, "week", week)

    spring = Period.of("week", date(2026, 3, 29), PARIS)  # the week of the clocks going forward
    assert (spring.key, spring.hours, spring.first_day, spring.last_day) == ("2026-W13", 167, date(2026, 3, 23),
                                                                             date(2026, 3, 29))
    assert Period.parse("2026-W13", PARIS) == spring and spring.next().key == "2026-W14"
    assert spring.previous().end == spring.start and spring.label == "Week 13, 23 March 2026"

    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["quiz"])
    try:
        schedule = ReportSchedule(history.engine, PARIS, "00:10", kind="week")
        due = schedule.due_periods(datetime(2026, 4, 6, 12, tzinfo=UTC), datetime(2026, 3, 24, tzinfo=UTC))
        assert [p.key for p in due] == ["2026-W13", "2026-W14"]
        assert schedule.due_at(due[0]) == datetime(2026, 3, 29, 22, 10, tzinfo=UTC)  # Monday 00:10 CEST
    finally:
        history.close()
    (tmp_path / ".2026-W13.pdf.abc.tmp").write_bytes(b"")
    assert [p.name for p in remove_stale_temps(tmp_path, 0, now=4e9)] == [".2026-W13.pdf.abc.tmp"]
