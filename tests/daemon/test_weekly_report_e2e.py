"""The weekly report is produced once across restarts: a daemon SIGKILLed while it renders the week (its claim
held, its render child running) is restarted, takes the claim over, and the week ends with one ``done`` row, one
HTML and one PDF, and one email."""

import sqlite3
import time
from datetime import UTC, datetime

import pytest

from reporter.report.period import Period
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.conftest import free_port
from tests.daemon.helpers import start_daemon, stop_daemon
from tests.daemon.test_reports_e2e import command_line, descendants
from tests.smtp import SMTPServer

pytestmark = pytest.mark.slow


def rows(tmp_path) -> list[tuple]:
    conn = sqlite3.connect(tmp_path / "history.db")
    try:
        return conn.execute("SELECT day, status FROM reports ORDER BY day").fetchall()
    finally:
        conn.close()


def test_weekly_report_rendered_and_emailed_once_across_a_sigkill_and_restarts(tmp_path, redis_url):
    week = Period.containing(datetime.now(UTC), UTC, "week").previous()
    history = History(f"sqlite:///{tmp_path / 'history.db'}", ["grammar", "quiz", "voice", "scenario"])
    generate(history, week.start, week.end, interval=300)  # the week, every 5 min
    history.close()
    smtp = SMTPServer()
    settings = {
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}", "REPORTER_REDIS_URL": redis_url,
        "REPORTER_REPORT_DIR": str(tmp_path / "reports"), "REPORTER_SAMPLE_INTERVAL": "300",
        "REPORTER_TIMEZONE": "UTC", "REPORTER_REPORTS": "weekly",
        "REPORTER_WEEKLY_REPORT_TIME": "00:00",  # last week's report is due whatever the day and hour of the run
        "REPORTER_SMTP_HOST": "127.0.0.1", "REPORTER_SMTP_PORT": str(smtp.port), "REPORTER_SMTP_SECURITY": "none",
        "REPORTER_EMAIL_TO": "team@example.com", "REPORTER_EMAIL_FROM": "reporter@example.com",
    }
    try:
        proc = start_daemon(tmp_path, settings, free_port())
        try:  # the report job starts 5 s in: kill the daemon once it holds the claim and its child renders
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                    rows(tmp_path) == [(week.key, "claimed")]
                    and any("reporter.report.render_child" in command_line(p) for p in descendants(proc.pid))):
                time.sleep(0.02)
            assert rows(tmp_path) == [(week.key, "claimed")], rows(tmp_path)
            proc.kill()
            proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert not (tmp_path / "reports" / f"{week.key}.pdf").exists() and smtp.messages == []

        proc = start_daemon(tmp_path, settings, free_port())  # takes over the dead daemon's claim
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not smtp.messages:
            time.sleep(0.2)
        err = stop_daemon(proc, timeout=15)
        assert proc.returncode == 0, err
        assert rows(tmp_path) == [(week.key, "done")], err
        assert "took over the claim" in err and f"report {week.key}: done" in err

        proc = start_daemon(tmp_path, settings, free_port())  # a third start renders and sends nothing
        time.sleep(6)  # its report job runs 5 s in
        err = stop_daemon(proc, timeout=15)
        assert "rendering" not in err
        assert rows(tmp_path) == [(week.key, "done")]
        assert len(smtp.messages) == 1 and week.key in smtp.messages[0]["Subject"]
        assert "Weekly report" in smtp.messages[0]["Subject"]
        names = sorted(p.name for p in (tmp_path / "reports").iterdir()
                       if p.suffix in (".html", ".pdf") and ".email." not in p.name)  # not the CSVs, the email variant
        assert names == [f"{week.key}.html", f"{week.key}.pdf"]
    finally:
        smtp.stop()
