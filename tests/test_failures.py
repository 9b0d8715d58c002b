"""FailureLog on an injected clock: once when a failure starts, a reminder at most every 5 minutes, once when
it ends (with its duration); keyed by source, never by the error's text."""

import logging

import pytest

from reporter.base.timefmt import duration
from reporter.failures import FailureLog


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def lines(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "test.failures"]


def test_a_failure_every_second_for_an_hour_logs_start_reminders_and_recovery(caplog, clock):
    failures = FailureLog(logging.getLogger("test.failures"), clock=clock)
    caplog.set_level(logging.INFO, "test.failures")
    for second in range(3600):
        clock.now = 1000.0 + second
        # a hung peer alternates its message: still one failure
        failures.failed("database", "still running from an earlier sample" if second % 2 else "timed out after 2 s",
                        hint="sampling goes on")
    clock.now = 1000.0 + 3600
    assert failures.ok("database") is True
    got = lines(caplog)
    assert got[0] == ("WARNING", "database: timed out after 2 s (sampling goes on)")
    reminders = got[1:-1]
    assert len(reminders) == 11  # at 5, 10, ... 55 minutes
    assert reminders[0] == ("WARNING", "database: still failing after 5 min (301 failed attempts): "
                                       "timed out after 2 s (sampling goes on)")
    assert got[-1] == ("INFO", "database: recovered after 1 h 00 min (3600 failed attempts; "
                               "last error: still running from an earlier sample)")
    assert failures.ok("database") is False and lines(caplog) == got  # nothing more once it works


def test_sources_are_independent_and_tracebacks_only_on_the_first_line(caplog, clock):
    failures = FailureLog(logging.getLogger("test.failures"), remind_seconds=10, clock=clock, level=logging.ERROR)
    caplog.set_level(logging.INFO, "test.failures")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        error = exc
    assert failures.failed("notifier", "a pass failed", exc_info=error) is True
    assert failures.failed("redis", "refused") is True
    assert failures.failed("notifier", "a pass failed", exc_info=error) is False
    assert failures.failing() == {"notifier": "a pass failed", "redis": "refused"}
    clock.now += 10
    assert failures.failed("notifier", "a pass failed", exc_info=error) is True  # the reminder
    assert failures.ok("redis") is True
    assert failures.error("redis") is None and failures.error("notifier") == "a pass failed"
    records = [r for r in caplog.records if r.name == "test.failures"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("ERROR", "notifier: a pass failed"), ("ERROR", "redis: refused"),
        ("ERROR", "notifier: still failing after 10 s (3 failed attempts): a pass failed"),
        ("INFO", "redis: recovered after 10 s (1 failed attempt; last error: refused)"),
    ]
    assert records[0].exc_info is not None and all(r.exc_info is None for r in records[1:])


def test_failing_again_after_recovery_is_a_new_failure(caplog, clock):
    failures = FailureLog(logging.getLogger("test.failures"), clock=clock)
    caplog.set_level(logging.INFO, "test.failures")
    failures.failed("ollama", "refused")
    clock.now += 30
    failures.ok("ollama")
    clock.now += 5
    failures.failed("ollama", "refused")
    assert [m for _, m in lines(caplog)] == ["ollama: refused", "ollama: recovered after 30 s (1 failed attempt; "
                                             "last error: refused)", "ollama: refused"]


def test_durations_in_log_lines_are_the_one_spelling():
    """The log lines use reporter.base.timefmt.duration, as the report and notifications do (was a second spelling
    here, "1 min 1 s" / "1 h 0 min")."""
    assert [duration(s) for s in (0, 59.6, 61, 3599, 3600, 7322, 90061)] == [
        "0 s", "1 min", "1 min", "1 h 00 min", "1 h 00 min", "2 h 02 min", "1 d 1 h"]
