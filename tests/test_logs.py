"""Log lines as the daemon writes them to stderr."""

import logging

import pytest

from reporter import logs
from reporter.settings import load_settings


@pytest.fixture
def restore_logging():
    root, ours = logging.getLogger(), logging.getLogger("reporter")
    saved = root.handlers[:], root.level, ours.level
    yield
    root.handlers[:], _, _ = saved
    root.setLevel(saved[1])
    ours.setLevel(saved[2])


def test_every_log_line_is_masked_traceback_included(capfd, restore_logging):
    """issue 8 item 10: a driver's message or traceback quoting a secret is masked in the log."""
    load_settings(None, smtp_password="Log-Secret-77")
    logs.setup("INFO")
    log = logging.getLogger("reporter.test")
    log.warning("connecting to %s failed", "postgresql://u:Other-Pw-12@db/x")
    try:
        raise RuntimeError("server said: wrong password Log-Secret-77")
    except RuntimeError:
        log.exception("sending failed")
    err = capfd.readouterr().err
    assert "postgresql://u:***@db/x" in err and "wrong password ***" in err and "Traceback" in err
    assert "Log-Secret-77" not in err and "Other-Pw-12" not in err


def test_log_lines_are_stamped_like_the_snapshot(capfd, restore_logging):
    """One spelling of a UTC time (reporter.base.timefmt.format_utc), milliseconds and Z, in logs as in JSON."""
    import re

    logs.setup("INFO")
    logging.getLogger("reporter.test").info("hello")
    line = capfd.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO reporter\.test: hello", line), line


def test_repeat_filter_lets_a_line_through_once_then_counts_the_held_ones(capfd, restore_logging):
    """The HTTP server's lines about clients: once per 5 minutes each, the next one saying how many were held."""
    logs.setup("INFO")
    server = logging.getLogger("uvicorn.error")
    (repeat,) = [f for f in server.filters if isinstance(f, logs.RepeatFilter)]
    now = [1000.0]
    repeat.clock = lambda: now[0]
    for _ in range(5):
        server.warning("Invalid HTTP request received.")
    server.warning("Exceeded concurrency limit.")
    try:
        raise ValueError("boom")
    except ValueError:
        server.exception("Exception in ASGI application")
    now[0] += 301
    server.warning("Invalid HTTP request received.")
    server.warning("Invalid HTTP request received.")
    lines = capfd.readouterr().err.splitlines()
    invalid = [line for line in lines if "Invalid HTTP request" in line]
    assert len(invalid) == 2 and invalid[0].endswith("Invalid HTTP request received.")
    assert "(4 more since 20" in invalid[1]
    assert sum("Exceeded concurrency limit." in line for line in lines) == 1
    assert sum("Exception in ASGI application" in line for line in lines) == 1 and "ValueError: boom" in "\n".join(lines)
    logs.setup("INFO")  # set up again (the CLI does per command): still one filter
    assert sum(isinstance(f, logs.RepeatFilter) for f in server.filters) == 1
    server.filters[:] = [f for f in server.filters if not isinstance(f, logs.RepeatFilter)]
