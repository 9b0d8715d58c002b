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
