"""Silences as one-off maintenance windows: a start and an end (pending before the start, Alertmanager's
states), the command line's times (ISO 8601 or HH:MM local, across a DST change), expiring a pending one."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.silences import Matcher, SilenceStore, parse_when
from reporter.alerting.state import AlertRecord

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 4, 13, 30, 20, tzinfo=UTC)  # 14:30:20 in Berlin


def test_parse_when_iso_local_or_offset_and_clock_times():
    assert parse_when("2026-12-05T02:00", BERLIN, NOW) == datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    assert parse_when("2026-12-05 02:00Z", BERLIN, NOW) == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert parse_when("2026-12-05T02:00-05:00", BERLIN, NOW) == datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    assert parse_when("14:30", BERLIN, NOW) == datetime(2026, 12, 4, 13, 30, tzinfo=UTC)  # this minute counts
    assert parse_when("14:29", BERLIN, NOW) == datetime(2026, 12, 5, 13, 29, tzinfo=UTC)  # passed: tomorrow
    start = parse_when("23:00", BERLIN, NOW)
    assert parse_when("01:00", BERLIN, NOW, start) == datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # after the start
    assert parse_when("23:00", BERLIN, NOW, start) == start + timedelta(days=1)


def test_parse_when_clock_time_across_the_dst_change():
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # clocks go forward on Sunday at 02:00 CET
    start = parse_when("01:00", BERLIN, saturday)
    end = parse_when("05:00", BERLIN, saturday, start)
    assert start == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 01:00 CET
    assert end == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)  # 05:00 CEST: three hours, not four


@pytest.mark.parametrize("text", ["", "25:00", "7", "2026-13-01", "soon"])
def test_parse_when_refuses(text):
    with pytest.raises(ValueError, match="is not a time: write ISO 8601"):
        parse_when(text, BERLIN, NOW)


def test_pending_silence_mutes_only_from_its_start_and_can_be_cancelled(history):
    store = SilenceStore(history.engine)
    labels = {"alertname": "cpu_high", "host": "db1"}
    record = AlertRecord(fingerprint(labels), "cpu_high", labels, {}, AlertState.FIRING, NOW, NOW)
    start, end = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    silence = store.add([Matcher.parse("host=db1")], None, "kernel", "ops", NOW, starts_at=start, ends_at=end)
    assert [s.state(NOW) for s in store.list(NOW)] == ["pending"]
    assert store.silenced_fingerprints([record], NOW) == set()
    assert store.silenced_fingerprints([record], start) == {record.fingerprint}
    assert silence.state(start) == "active" and silence.state(end) == "expired"
    assert store.silenced_fingerprints([record], end) == set()
    assert store.expire(silence.id, NOW)
    assert store.list(NOW) == [] and store.list(NOW, include_expired=True)[0].state(NOW) == "expired"
    assert store.silenced_fingerprints([record], start) == set()  # cancelled: it never starts
    with pytest.raises(ValueError, match="must be after the start"):
        store.add([Matcher.parse("host=db1")], None, "x", "ops", NOW, starts_at=end, ends_at=start)
    with pytest.raises(ValueError, match="is in the past"):
        store.add([Matcher.parse("host=db1")], 60, "x", "ops", NOW, starts_at=NOW - timedelta(hours=1))
