"""The daemon renders every missing day once, even after downtime, and emails each report once."""

import io
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from reporter.report.period import Period
from reporter.report.schedule import ReportSchedule
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.conftest import free_port
from tests.daemon.helpers import start_daemon
from tests.smtp import SMTPServer

pytestmark = pytest.mark.slow


def start(tmp_path, smtp_port, redis_url):
    return start_daemon(tmp_path, {
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "REPORTER_REDIS_URL": redis_url, "REPORTER_REPORT_DIR": str(tmp_path / "reports"),
        "REPORTER_SAMPLE_INTERVAL": "60", "REPORTER_TIMEZONE": "UTC",
        "REPORTER_REPORT_TIME": "00:00",  # yesterday's report is due whatever the time of day the test runs
        "REPORTER_REPORTS": "daily",  # this test counts daily reports; the weekly and monthly ones depend on the date
        "REPORTER_SMTP_HOST": "127.0.0.1", "REPORTER_SMTP_PORT": str(smtp_port), "REPORTER_SMTP_SECURITY": "none",
        "REPORTER_EMAIL_TO": "oncall@example.com", "REPORTER_EMAIL_FROM": "reporter@example.com",
    }, free_port())


def report_rows(tmp_path):
    conn = sqlite3.connect(tmp_path / "history.db")
    rows = conn.execute("SELECT day, status, attempts FROM reports ORDER BY day").fetchall()
    conn.close()
    return rows


def test_three_days_down_then_three_reports_each_once(tmp_path, redis_url):
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (3, 2, 1)]
    history = History(f"sqlite:///{tmp_path / 'history.db'}", ["grammar", "quiz", "voice", "scenario"])
    day_start = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC)
    generate(history, day_start - timedelta(days=1), day_start + timedelta(hours=20), interval=60)
    schedule = ReportSchedule(history.engine, UTC)
    earlier = days[0] - timedelta(days=1)
    schedule.claim(Period.day(earlier, UTC), datetime.now(UTC), 60)  # reported before the daemon went down
    schedule.done(Period.day(earlier, UTC), [], datetime.now(UTC), email=False)
    history.close()

    smtp = SMTPServer()
    try:
        proc = start(tmp_path, smtp.port, redis_url)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(smtp.messages) < 3:
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        rows = report_rows(tmp_path)
        assert [(d, s, a) for d, s, a in rows if d != earlier.isoformat()] == \
            [(d.isoformat(), "done", 1) for d in days], err
        for day in days:
            assert (tmp_path / "reports" / f"{day}.html").is_file()
            assert (tmp_path / "reports" / f"{day}.pdf").is_file()
        assert len(smtp.messages) == 3
        subjects = sorted(m["Subject"] for m in smtp.messages)
        assert [s.split()[2] for s in subjects] == [d.isoformat() for d in days]
        first = sorted(smtp.messages, key=lambda m: m["Subject"])[0]
        pdf = next(p for p in first.iter_attachments() if p.get_filename().endswith(".pdf")).get_content()
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert days[0].isoformat() in text
        mtimes = {p: p.stat().st_mtime for p in (tmp_path / "reports").iterdir()}

        proc = start(tmp_path, smtp.port, redis_url)  # a fourth start renders and sends nothing
        time.sleep(8)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert {p: p.stat().st_mtime for p in (tmp_path / "reports").iterdir()} == mtimes
        assert len(smtp.messages) == 3 and "rendering" not in err
    finally:
        smtp.stop()


def descendants(pid):
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def running(process) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def command_line(process) -> str:
    import psutil

    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def test_sigkilled_daemon_takes_its_renderer_along_and_the_next_start_takes_over(tmp_path, redis_url):
    import psutil

    day = datetime.now(UTC).date() - timedelta(days=1)
    history = History(f"sqlite:///{tmp_path / 'history.db'}", ["grammar", "quiz", "voice", "scenario"])
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    generate(history, day_start, day_start + timedelta(hours=24), interval=60)
    history.close()
    settings = {"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}", "REPORTER_REDIS_URL": redis_url,
                "REPORTER_REPORT_DIR": str(tmp_path / "reports"), "REPORTER_SAMPLE_INTERVAL": "60",
                "REPORTER_TIMEZONE": "UTC", "REPORTER_REPORT_TIME": "00:00"}  # yesterday is due whatever the hour
    pdf = tmp_path / "reports" / f"{day}.pdf"

    proc = start_daemon(tmp_path, settings, free_port())
    try:
        deadline, renderers = time.monotonic() + 60, []
        while time.monotonic() < deadline:  # the report job starts 5 s in; kill once the PDF is being written
            renderers = descendants(proc.pid)
            if (any("reporter.report.render_child" in command_line(p) for p in renderers)
                    and list(pdf.parent.glob(f".{day}.pdf.*.tmp"))):
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"no render child writing the PDF seen; rows {report_rows(tmp_path)}")
        assert not pdf.exists()
        # one process level: the render child (model, HTML and PDF) runs under the daemon, nothing under it
        # (a process seen running reporter code twice 0.2 s apart: not a fork about to exec the ldconfig/gcc of
        # ctypes' library lookup, which shows the child's command line for microseconds)
        first = {p.pid for p in renderers if "reporter" in command_line(p)}
        time.sleep(0.2)
        rendering = [p for p in descendants(proc.pid) if p.pid in first and "reporter" in command_line(p)]
        assert [p.ppid() for p in rendering] == [proc.pid], [command_line(p) for p in renderers]
        renderers = list({p.pid: p for p in [*renderers, *descendants(proc.pid)]}.values())
        proc.kill()
        proc.communicate(timeout=10)
        _, alive = psutil.wait_procs(renderers, timeout=2)
        alive = [p for p in alive if running(p)]  # a zombie runs nothing (init reaps it when it gets to it)
        assert alive == [], f"still running 2 s after the daemon was killed: {[command_line(p) for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    time.sleep(3)  # an orphaned renderer would finish its PDF meanwhile
    assert not pdf.exists(), "the renderer ran on after its daemon was killed"
    assert [(d, s) for d, s, _ in report_rows(tmp_path)] == [(day.isoformat(), "claimed")]  # lease of ~330 s
    left = sorted((tmp_path / "reports").glob(f".{day}.pdf.*.tmp"))
    assert left, "the killed rendering left its temporary PDF"
    old = time.time() - 2 * 120 - 60 - 5  # older than the render time limit (REPORTER_REPORT_TIMEOUT 120 s)
    for temp in left:
        os.utime(temp, (old, old))

    started = time.monotonic()
    proc = start_daemon(tmp_path, settings, free_port())
    try:
        assert [t for t in left if t.exists()] == [], "stale temporary files are removed at daemon start"
        while time.monotonic() - started < 60 and report_rows(tmp_path)[0][1] != "done":
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert report_rows(tmp_path)[0][1] == "done", err
    assert pdf.is_file()
    assert sorted((tmp_path / "reports").glob(".*.tmp")) == []
    assert "took over the claim" in err and "no longer running" in err


def sigterm_timed(proc) -> tuple[float, str]:
    """SIGTERM ``proc`` and wait (60 s at most) for it to exit: the seconds it took and its stderr."""
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return time.monotonic() - stopped_at, err


def test_sigterm_during_a_catch_up_of_reports_stops_at_once_and_the_next_start_renders_them(tmp_path, redis_url):
    """Four days to catch up after downtime, SIGTERM while the first renders: the daemon exits within seconds,
    its render child killed, nothing more rendered or emailed (it used to render and email all four after logging
    "reporter stopped", 20 s and more); the interrupted day is not counted as failed, and the next start renders
    every day once."""
    import psutil

    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (4, 3, 2, 1)]
    history = History(f"sqlite:///{tmp_path / 'history.db'}", ["grammar", "quiz", "voice", "scenario"])
    start_at = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC)
    generate(history, start_at, start_at + timedelta(days=4), interval=300)
    history.close()
    smtp = SMTPServer()
    try:
        proc = start(tmp_path, smtp.port, redis_url)
        try:
            deadline, renderers = time.monotonic() + 60, []
            while time.monotonic() < deadline and not renderers:  # the report job starts 5 s in
                renderers = [p for p in descendants(proc.pid) if "reporter.report.render_child" in command_line(p)]
                time.sleep(0.02)
            assert renderers, f"no render child seen; rows {report_rows(tmp_path)}"
            took, err = sigterm_timed(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        assert took < 15, f"SIGTERM took {took:.1f} s; {err[-2000:]}"
        _, alive = psutil.wait_procs(renderers, timeout=2)
        assert [p for p in alive if running(p)] == [], "the render child outlived its daemon"
        assert smtp.messages == []
        rows = report_rows(tmp_path)
        assert [s for _, s, _ in rows if s == "done"] == [], rows
        assert "rendering failed" not in err and "Traceback" not in err, err[-2000:]

        proc = start(tmp_path, smtp.port, redis_url)  # at once: the interrupted day waits for no retry delay
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(smtp.messages) < 4:
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert [(d, s) for d, s, _ in report_rows(tmp_path)] == [(d.isoformat(), "done") for d in days], err[-2000:]
        assert len(smtp.messages) == 4
    finally:
        smtp.stop()


def test_sigterm_while_the_smtp_server_drips_its_answer_stops_at_once(tmp_path, redis_url):
    """An SMTP server that answers one byte a second: each socket read returns in time, so the report email
    never ended and a SIGTERM never stopped the daemon (its scheduler thread was waited for at exit). Now the
    send has an overall deadline and the shutdown ends it; the email stays queued, no attempt counted."""
    from tests.dripping_server import DrippingServer

    day = datetime.now(UTC).date() - timedelta(days=1)
    history = History(f"sqlite:///{tmp_path / 'history.db'}", ["grammar", "quiz", "voice", "scenario"])
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    generate(history, day_start, day_start + timedelta(hours=24), interval=300)
    history.close()
    smtp = DrippingServer()
    try:
        proc = start(tmp_path, smtp.port, redis_url)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and smtp.connections == 0:
                time.sleep(0.2)
            assert smtp.connections, f"the email was never sent; rows {report_rows(tmp_path)}"
            time.sleep(1)
            took, err = sigterm_timed(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    finally:
        smtp.close()
    assert proc.returncode == 0 and took < 15, f"SIGTERM took {took:.1f} s; {err[-2000:]}"
    conn = sqlite3.connect(tmp_path / "history.db")
    rows = conn.execute("SELECT day, status, attempts FROM report_emails").fetchall()
    conn.close()
    assert rows == [(day.isoformat(), "pending", 0)]
