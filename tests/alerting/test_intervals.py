"""Time intervals in Alertmanager's form: every field, ranges, negative days of the month, 24:00, the location,
a weekly window at the right local times across both DST changes, and the one-line errors of the file."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from reporter.alerting.intervals import IntervalError, describe, parse_time_intervals
from reporter.alerting.loading import AlertingConfigError, load_alerting
from reporter.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")


def interval(**entry):
    return parse_time_intervals([{"name": "w", "time_intervals": [entry]}])["w"]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_times_end_is_exclusive_and_24_00_reaches_midnight():
    night = interval(times=[{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "01:30"}])
    assert not night.active(utc(2026, 12, 4, 21, 59))
    assert night.active(utc(2026, 12, 4, 22, 0))
    assert night.active(utc(2026, 12, 4, 23, 59, 59))
    assert night.active(utc(2026, 12, 5, 0, 0))
    assert night.active(utc(2026, 12, 5, 1, 29, 59))
    assert not night.active(utc(2026, 12, 5, 1, 30))  # end exclusive


def test_weekdays_names_and_inclusive_ranges():
    work = interval(weekdays=["monday:friday"])
    weekend = interval(weekdays=["Saturday", "sunday"])
    # 2026-11-30 is a Monday
    days = [utc(2026, 11, 30 + d) if d < 1 else utc(2026, 12, d) for d in range(0, 7)]
    assert [work.active(d) for d in days] == [True, True, True, True, True, False, False]
    assert [weekend.active(d) for d in days] == [False, False, False, False, False, True, True]


def test_days_of_month_positive_negative_and_ranges():
    first = interval(days_of_month=["1:5"])
    last3 = interval(days_of_month=["-3:-1"])
    whole = interval(days_of_month=["1:-1"])
    assert first.active(utc(2026, 2, 5)) and not first.active(utc(2026, 2, 6))
    assert last3.active(utc(2026, 2, 26)) and not last3.active(utc(2026, 2, 25))  # February 2026: 28 days
    assert last3.active(utc(2028, 2, 27)) and not last3.active(utc(2028, 2, 26))  # leap year: 29 days
    assert last3.active(utc(2026, 1, 29)) and not last3.active(utc(2026, 1, 28))
    assert all(whole.active(utc(2026, 4, d)) for d in range(1, 31))
    assert interval(days_of_month=[15]).active(utc(2026, 3, 15))


def test_months_by_name_or_number_and_years():
    winter = interval(months=["december", "january:february"])
    assert winter.active(utc(2026, 12, 1)) and winter.active(utc(2027, 2, 28)) and not winter.active(utc(2027, 3, 1))
    assert interval(months=["3:5"]).active(utc(2026, 4, 1)) and not interval(months=["3:5"]).active(utc(2026, 6, 1))
    span = interval(years=["2026:2027"])
    assert span.active(utc(2027, 12, 31, 23, 59)) and not span.active(utc(2028, 1, 1))


def test_location_reads_the_fields_in_that_zone_and_all_fields_must_match():
    entry = {"weekdays": ["friday"], "times": [{"start_time": "00:00", "end_time": "01:00"}],
             "location": "Asia/Tokyo"}
    tokyo = interval(**entry)
    assert tokyo.active(utc(2026, 12, 3, 15, 30))  # Thursday 15:30 UTC = Friday 00:30 in Tokyo
    assert not tokyo.active(utc(2026, 12, 4, 0, 30))  # Friday 00:30 UTC = 09:30 in Tokyo
    assert interval().active(utc(2026, 1, 1))  # an entry without fields matches always


def test_any_entry_matches_and_no_entries_never():
    both = parse_time_intervals([{"name": "x", "time_intervals": [{"weekdays": ["monday"]}, {"months": ["july"]}]}])
    assert both["x"].active(utc(2026, 11, 30)) and both["x"].active(utc(2026, 7, 1))
    assert not both["x"].active(utc(2026, 12, 1))
    assert not parse_time_intervals([{"name": "n"}])["n"].active(utc(2026, 1, 1))
    assert describe(both["x"]) == "x: weekdays monday; months july"


SUNDAY_NIGHT = {"weekdays": ["sunday"], "times": [{"start_time": "02:00", "end_time": "04:00"}],
                "location": "Europe/Berlin"}


@pytest.mark.parametrize(("when", "muted"), [
    # a Sunday in CET (UTC+1): 02:00-04:00 local is 01:00-03:00 UTC
    (utc(2026, 3, 22, 0, 59), False), (utc(2026, 3, 22, 1, 0), True), (utc(2026, 3, 22, 2, 59), True),
    (utc(2026, 3, 22, 3, 0), False),
    # 29 March 2026: clocks jump from 02:00 CET to 03:00 CEST at 01:00 UTC; 02:00-03:00 local never happens
    (utc(2026, 3, 29, 0, 59), False), (utc(2026, 3, 29, 1, 0), True), (utc(2026, 3, 29, 1, 59), True),
    (utc(2026, 3, 29, 2, 0), False),
    # a Sunday in CEST (UTC+2): 00:00-02:00 UTC
    (utc(2026, 4, 4, 23, 59), False), (utc(2026, 4, 5, 0, 0), True), (utc(2026, 4, 5, 1, 59), True),
    (utc(2026, 4, 5, 2, 0), False),
    # 25 October 2026: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:00-03:00 local happens twice
    (utc(2026, 10, 24, 23, 59), False), (utc(2026, 10, 25, 0, 0), True), (utc(2026, 10, 25, 0, 59), True),
    (utc(2026, 10, 25, 1, 0), True), (utc(2026, 10, 25, 2, 59), True), (utc(2026, 10, 25, 3, 0), False),
    # a weekday at 02:30 local is not muted
    (utc(2026, 10, 26, 1, 30), False),
])
def test_weekly_window_mutes_at_local_times_across_dst(tmp_path, when, muted):
    path = tmp_path / "alerting.toml"
    path.write_text('[[receivers]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                    'mute_time_intervals = ["sunday-night"]\n\n'
                    '[[time_intervals]]\nname = "sunday-night"\n[[time_intervals.time_intervals]]\n'
                    'weekdays = ["sunday"]\ntimes = [{ start_time = "02:00", end_time = "04:00" }]\n'
                    'location = "Europe/Berlin"\n')
    receiver = load_alerting(Settings(alerting_file=str(path))).receivers[0]
    assert receiver.muted(when) == ("mute_time_intervals sunday-night" if muted else None)
    assert interval(**SUNDAY_NIGHT).active(when) is muted


def test_active_time_intervals_mute_outside_them(tmp_path):
    path = tmp_path / "alerting.toml"
    path.write_text('[[receivers]]\nname = "day"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                    'active_time_intervals = ["business-hours"]\n\n'
                    '[[time_intervals]]\nname = "business-hours"\n[[time_intervals.time_intervals]]\n'
                    'weekdays = ["monday:friday"]\ntimes = [{ start_time = "09:00", end_time = "17:00" }]\n')
    config = load_alerting(Settings(alerting_file=str(path)))
    receiver = config.receivers[0]
    assert list(config.time_intervals) == ["business-hours"]
    assert receiver.muted(utc(2026, 12, 4, 10, 0)) is None  # Friday 10:00
    assert receiver.muted(utc(2026, 12, 4, 17, 0)) == "outside active_time_intervals business-hours"
    assert receiver.muted(utc(2026, 12, 5, 10, 0)) == "outside active_time_intervals business-hours"


BAD = [
    ({"weekdays": ["funday"]}, 'time_intervals[0] (weekend).time_intervals[0].weekdays: "funday" is not a weekday'),
    ({"weekdays": ["saturday:sunday"]}, "weekdays: 'saturday:sunday': the range begins after it ends"),
    ({"weekdays": "monday"}, "weekdays: must be an array"),
    ({"times": [{"start_time": "04:00", "end_time": "02:00"}]}, "times: start_time 04:00 must be before end_time"),
    ({"times": [{"start_time": "24:00", "end_time": "24:00"}]}, "times: start_time 24:00 must be before"),
    ({"times": [{"start_time": "2:00", "end_time": "04:00"}]}, "times: start_time '2:00' is not a time HH:MM"),
    ({"times": [{"start_time": "00:00", "end_time": "24:30"}]}, "end_time '24:30' is not a time from 00:00 to 24:00"),
    ({"times": [{"start_time": "00:00"}]}, "times: {'start_time': '00:00'} must be"),
    ({"days_of_month": ["0"]}, "days_of_month: 0 is not a day of the month"),
    ({"days_of_month": ["32"]}, 'days_of_month: "32" is not a day of the month'),
    ({"days_of_month": ["5:1"]}, "days_of_month: '5:1': the range begins after it ends"),
    ({"days_of_month": ["-1:-3"]}, "days_of_month: '-1:-3': the range begins after it ends"),
    ({"months": ["13"]}, 'months: "13" is not a month'),
    ({"months": ["smarch"]}, 'months: "smarch" is not a month'),
    ({"years": ["2027:2026"]}, "years: '2027:2026': the range begins after it ends"),
    ({"years": ["1:2:3"]}, "years: '1:2:3' is not a value or a range"),
    ({"location": "Mars/Olympus"}, "location: 'Mars/Olympus' is not a known IANA time zone"),
    ({"weekday": ["monday"]}, "time_intervals[0]: unknown field(s) ['weekday']"),
]


@pytest.mark.parametrize(("entry", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_entry_is_one_line_naming_table_and_field(tmp_path, entry, expected):
    with pytest.raises(IntervalError) as caught:
        parse_time_intervals([{"name": "weekend", "time_intervals": [entry]}])
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("time_intervals[0] (weekend).time_intervals[0]")


def _load(tmp_path, text):
    path = tmp_path / "alerting.toml"
    path.write_text(text)
    return load_alerting(Settings(alerting_file=str(path)))


def test_file_errors_name_the_file_table_and_field(tmp_path):
    with pytest.raises(AlertingConfigError) as caught:
        _load(tmp_path, '[[time_intervals]]\nname = "weekend"\n[[time_intervals.time_intervals]]\n'
                        'weekdays = ["funday"]\n')
    assert str(caught.value) == (f'{tmp_path / "alerting.toml"}: time_intervals[0] (weekend).time_intervals[0]'
                                 f'.weekdays: "funday" is not a weekday (sunday ... saturday)')
    with pytest.raises(AlertingConfigError, match=r"time_intervals\[1\] \(a\)\.name: 'a' is defined twice"):
        _load(tmp_path, '[[time_intervals]]\nname = "a"\n[[time_intervals]]\nname = "a"\n')
    with pytest.raises(AlertingConfigError, match=r"time_intervals\[0\]\.name: missing"):
        _load(tmp_path, '[[time_intervals]]\n[[time_intervals.time_intervals]]\n')
    with pytest.raises(AlertingConfigError, match=r"time_intervals: must be an array of tables"):
        _load(tmp_path, 'time_intervals = 3\n')
    with pytest.raises(AlertingConfigError) as caught:
        _load(tmp_path, '[[receivers]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                        'mute_time_intervals = ["weekend-maintenance"]\n'
                        '[[time_intervals]]\nname = "weekend"\n')
    assert str(caught.value) == (f"{tmp_path / 'alerting.toml'}: receivers[0] (ops).mute_time_intervals: unknown "
                                 f"time interval 'weekend-maintenance'; defined: weekend")
    with pytest.raises(AlertingConfigError, match=r"active_time_intervals: unknown time interval 'x'; defined: "
                                                  r"none"):
        _load(tmp_path, '[[receivers]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                        'active_time_intervals = ["x"]\n')


def test_check_config_lists_the_intervals_and_the_receivers_they_mute_or_activate(tmp_path):
    from tests.alerting.test_config import reporter

    result = reporter(tmp_path, "check-config",
                      '[[receivers]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                      'mute_time_intervals = ["weekend-maintenance"]\nactive_time_intervals = ["business-hours"]\n'
                      '[[receivers]]\nname = "audit"\ntype = "webhook"\nurl = "http://127.0.0.1:9/audit"\n'
                      'mute_time_intervals = ["weekend-maintenance"]\n'
                      '[[time_intervals]]\nname = "weekend-maintenance"\n[[time_intervals.time_intervals]]\n'
                      'weekdays = ["saturday"]\ntimes = [{ start_time = "02:00", end_time = "04:00" }]\n'
                      'location = "Europe/Berlin"\n'
                      '[[time_intervals]]\nname = "business-hours"\n[[time_intervals.time_intervals]]\n'
                      'weekdays = ["monday:friday"]\ntimes = [{ start_time = "09:00", end_time = "17:00" }]\n'
                      '[[time_intervals]]\nname = "spare"\n[[time_intervals.time_intervals]]\n')
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("# time interval")]
    assert lines == [
        "# time interval weekend-maintenance: weekdays saturday times 02:00-04:00 in Europe/Berlin (mutes ops, audit)",
        "# time interval business-hours: weekdays monday:friday times 09:00-17:00 (activates ops)",
        "# time interval spare: always (used by no receiver)"]
    bad = reporter(tmp_path, "check-config", '[[time_intervals]]\nname = "weekend"\n'
                                             '[[time_intervals.time_intervals]]\nweekdays = ["funday"]\n')
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith('alerting.toml: time_intervals[0] (weekend).time_intervals[0].weekdays: '
                                       '"funday" is not a weekday (sunday ... saturday)')


def test_documented_maintenance_window_example_loads_and_mutes_saturday_night_in_berlin(tmp_path):
    import re
    from pathlib import Path

    reference = (Path(__file__).resolve().parents[2] / "docs" / "alerting.md").read_text(encoding="utf-8")
    text = reference.split("**Maintenance windows**", 1)[1]
    toml = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    receiver = _load(tmp_path, toml).receivers[0]
    assert receiver.muted(utc(2026, 12, 5, 1, 30)) == "mute_time_intervals weekend-maintenance"  # 02:30 CET
    assert receiver.muted(utc(2026, 12, 5, 3, 0)) is None  # 04:00 CET
