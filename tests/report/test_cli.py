"""``reporter report`` options as a user runs them."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report.build import day_bounds
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.smtp import SMTPServer
from tests.test_cli import reporter


def test_every_format_the_help_offers_is_accepted(tmp_path):
    help_text = reporter("report", "--help").stdout
    line = " ".join(help_text.split())
    offered = re.search(r"--format \S+ Files to write: html, pdf, or both", line)
    assert offered, help_text
    (tmp_path / "data").mkdir()
    History(f"sqlite:///{tmp_path / 'data' / 'history.db'}", ["grammar"]).close()
    for value in ("html", "pdf", "both", "html,pdf"):
        result = reporter("report", "--date", "2026-01-01", "--format", value, "--out", str(tmp_path / value),
                          cwd=tmp_path, env={"REPORTER_AI_FEATURES": "grammar"})
        assert result.returncode == 0, (value, result.stderr)
        written = sorted(p.suffix for p in (tmp_path / value).iterdir())
        assert written == {"html": [".html"], "pdf": [".pdf"]}.get(value, [".html", ".pdf"]), value


@pytest.mark.parametrize("value", ["docx", "", "html,docx"])
def test_an_unknown_format_exits_2_naming_the_choices(tmp_path, value):
    result = reporter("report", "--date", "2026-01-01", "--format", value, cwd=tmp_path)
    assert result.returncode == 2
    assert "--format" in result.stderr and "html, pdf or both" in result.stderr and "Traceback" not in result.stderr


DAY = date(2026, 11, 24)


def test_email_to_a_plain_server_with_the_default_starttls_says_which_setting(tmp_path):
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    start, end = day_bounds(DAY, ZoneInfo("UTC"))
    generate(history, start, end, interval=300)
    history.close()
    smtp = SMTPServer()
    try:
        result = reporter("report", "--date", DAY.isoformat(), "--format", "html", "--email", cwd=tmp_path, env={
            "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_TIMEZONE": "UTC",
            "REPORTER_AI_FEATURES": "grammar,quiz", "REPORTER_REPORT_DIR": str(tmp_path / "reports"),
            "REPORTER_SMTP_HOST": "127.0.0.1", "REPORTER_SMTP_PORT": str(smtp.port),
            "REPORTER_EMAIL_TO": "team@example.com"})
        assert result.returncode == 1, result.stderr
        assert "REPORTER_SMTP_SECURITY=none" in result.stderr and "STARTTLS" in result.stderr
        assert "Traceback" not in result.stderr
        assert (tmp_path / "reports" / f"{DAY}.html").is_file() and smtp.messages == []
    finally:
        smtp.stop()


def test_report_of_today_covers_the_day_until_now(tmp_path):
    """The current day's report (real clock) stops at now: no gap from now to midnight in its coverage."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    today = now.date()
    start, _ = day_bounds(today, ZoneInfo("UTC"))
    if (now - start) < timedelta(minutes=30):  # right after midnight there is too little of the day to check
        start = now - timedelta(minutes=30)
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    generate(history, start, now - timedelta(seconds=30), interval=60)
    history.close()
    result = reporter("report", "--date", today.isoformat(), "--format", "html", cwd=tmp_path, env={
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_TIMEZONE": "UTC",
        "REPORTER_SAMPLE_INTERVAL": "60", "REPORTER_AI_FEATURES": "grammar,quiz",
        "REPORTER_REPORT_DIR": str(tmp_path / "reports")})
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "reports" / f"{today}.html").read_text()
    assert "(the day so far)" in html
    coverage = html[html.index('<section id="coverage">'):]
    assert "24:00" not in coverage  # no gap running to midnight


def test_a_killed_report_command_leaves_temporary_files_that_the_next_run_removes(tmp_path):
    """``reporter report`` SIGKILLed while its PDF renders leaves ``.DAY.pdf.XXXX.tmp``; the next run in that folder
    removes it once it is older than the render time limit (2 x REPORTER_REPORT_TIMEOUT + 60 s)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    start, end = day_bounds(DAY, ZoneInfo("UTC"))
    generate(history, start, end, interval=300)
    history.close()
    out = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env.update({"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_TIMEZONE": "UTC",
                "REPORTER_AI_FEATURES": "grammar,quiz", "REPORTER_REPORT_TIMEOUT": "30"})
    command = [sys.executable, "-m", "reporter", "report", "--date", DAY.isoformat(), "--format", "pdf",
               "--out", str(out)]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(out.glob(f".{DAY}.pdf.*.tmp")) and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    left = sorted(out.glob(f".{DAY}.pdf.*.tmp"))
    assert left and not (out / f"{DAY}.pdf").exists(), "the kill left a temporary PDF"
    fresh = out / ".2026-11-23.pdf.busy.tmp"  # younger than the limit: a rendering may be writing it
    fresh.write_bytes(b"")
    old = time.time() - (2 * 30 + 60) - 5
    for temp in left:
        os.utime(temp, (old, old))
    result = reporter("report", "--date", DAY.isoformat(), "--format", "html", "--out", str(out), cwd=tmp_path,
                      env={k: v for k, v in env.items() if k.startswith("REPORTER_")})
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob(".*")) == [fresh.name]
    assert (out / f"{DAY}.html").is_file()


# ------------------------------------------------------------------------------------------- --week and --month

def week_history(tmp_path, first: date, last: date) -> dict[str, str]:
    """A history with a sample every 5 min from ``first`` to the end of ``last`` (UTC days); the settings to
    report on it."""
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    generate(history, day_bounds(first, ZoneInfo("UTC"))[0], day_bounds(last, ZoneInfo("UTC"))[1], interval=300)
    history.close()
    return {"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_TIMEZONE": "UTC",
            "REPORTER_SAMPLE_INTERVAL": "300", "REPORTER_AI_FEATURES": "grammar,quiz",
            "REPORTER_REPORT_DIR": str(tmp_path / "reports")}


def test_week_renders_its_html_and_pdf_named_by_the_iso_week(tmp_path):
    import io

    from pypdf import PdfReader

    env = week_history(tmp_path, date(2026, 11, 21), date(2026, 11, 29))  # 2026-W48 and the end of W47
    result = reporter("report", "--week", "2026-W48", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "reports"
    written = {p.name for p in out.iterdir() if p.suffix in (".html", ".pdf") and ".email." not in p.name}
    assert written == {"2026-W48.html", "2026-W48.pdf"}  # (beside the CSV lists and the email variant)
    assert "2026-W48: " in result.stdout and "not over yet" not in result.stderr
    html = (out / "2026-W48.html").read_text()
    assert "Weekly report" in html and "Week 48 · 23\u201329 November 2026" in html
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO((out / "2026-W48.pdf").read_bytes())).pages)
    assert "Weekly report" in text


def test_month_renders_its_html_named_by_the_month(tmp_path):
    env = week_history(tmp_path, date(2026, 10, 28), date(2026, 11, 3))
    result = reporter("report", "--month", "2026-11", "--format", "html", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "reports" / "2026-11.html").read_text()
    assert "Monthly report" in html and "November 2026" in html
    assert not (tmp_path / "reports" / "2026-11.pdf").exists()


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--week", "2026-48", "is not an ISO week (YYYY-Www)"),
    ("--week", "2025-W53", "year 2025 has no week 53"),
    ("--week", "2026-W00", "has no week 00"),
    ("--week", "2026-11", "is not an ISO week"),
    ("--week", "", "give --date YYYY-MM-DD, --week YYYY-Www"),  # empty: as if not given
    ("--month", "2026-13", "is not a month (YYYY-MM)"),
    ("--month", "2026-W48", "is not a month"),
    ("--month", "2026-11-01", "is not a month"),
    ("--month", "Nov", "is not a month"),
])
def test_a_bad_week_or_month_is_one_line_with_exit_2(tmp_path, option, value, says):
    result = reporter("report", option, value, cwd=tmp_path, env={"REPORTER_TIMEZONE": "UTC"})
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and option in lines[0] and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(("option", "ahead"), [("--week", timedelta(days=7)), ("--month", timedelta(days=32))])
def test_a_future_week_or_month_is_refused(tmp_path, option, ahead):
    from datetime import UTC, datetime

    later = datetime.now(UTC).date() + ahead
    value = f"{later.isocalendar()[0]}-W{later.isocalendar()[1]:02d}" if option == "--week" else later.strftime("%Y-%m")
    result = reporter("report", option, value, cwd=tmp_path, env={"REPORTER_TIMEZONE": "UTC"})
    assert result.returncode == 2, result.stderr
    assert f"{value} is in the future" in result.stderr and option in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("option", ["--week", "--month"])
def test_the_current_week_or_month_is_noted_as_not_over(tmp_path, option):
    from datetime import UTC, datetime

    today = datetime.now(UTC).date()
    value = f"{today.isocalendar()[0]}-W{today.isocalendar()[1]:02d}" if option == "--week" else today.strftime("%Y-%m")
    env = week_history(tmp_path, today - timedelta(days=1), today - timedelta(days=1))
    result = reporter("report", option, value, "--format", "html", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    noun = option.removeprefix("--")
    assert f"note: {value} is not over yet; its report covers the {noun} until now" in result.stderr
    assert (tmp_path / "reports" / f"{value}.html").is_file()


@pytest.mark.parametrize("options", [
    ("--week", "2026-W48", "--month", "2026-11"),
    ("--week", "2026-W48", "--date", "2026-11-24"),
    ("--month", "2026-11", "--from", "2026-11-01", "--to", "2026-11-03"),
])
def test_week_month_date_and_range_are_mutually_exclusive(tmp_path, options):
    result = reporter("report", *options, cwd=tmp_path, env={"REPORTER_TIMEZONE": "UTC"})
    assert result.returncode == 2, result.stderr
    assert "give one of --date, --week, --month or --from and --to" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "reports").exists()


def test_a_history_locked_by_another_writer_is_one_line_exit_1(tmp_path):
    """Another process holding an exclusive lock on a SQLite history beyond the busy timeout: `reporter report`
    says so in one line (exit 1), no traceback."""
    import sqlite3

    path = tmp_path / "h.db"
    History(f"sqlite:///{path}", ["grammar"]).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = reporter("report", "--week", "2026-W48", "--out", str(tmp_path / "out"), cwd=tmp_path,
                          env={"REPORTER_HISTORY_URL": f"sqlite:///{path}", "REPORTER_AI_FEATURES": "grammar"})
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot open the history" in result.stderr and "locked" in result.stderr
