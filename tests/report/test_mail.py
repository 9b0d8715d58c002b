import io
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader, PdfWriter

from reporter.report.mail import ReportMailer
from reporter.report.period import Period
from reporter.report.schedule import ReportSchedule
from reporter.settings import load_settings
from reporter.store.history import History
from tests.conftest import free_port
from tests.smtp import SMTPServer

DAY = date(2026, 11, 24)


@pytest.fixture
def history_features():
    return ["quiz"]


def files(folder):
    folder.mkdir(exist_ok=True)
    (folder / f"{DAY}.html").write_text("<html><body><h1>Daily report</h1><p>東京-db01</p></body></html>")
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    (folder / f"{DAY}.pdf").write_bytes(buffer.getvalue())
    (folder / f"{DAY}.outages.csv").write_text("service,start,end\nredis,a,b\n")


def queue(history, now):
    schedule = ReportSchedule(history.engine, __import__("zoneinfo").ZoneInfo("UTC"))
    schedule.claim(Period.day(DAY, UTC), now, 60)
    schedule.done(Period.day(DAY, UTC), [], now, email=True)


def test_email_with_pdf_and_csv_sent_once(history, tmp_path):
    smtp = SMTPServer()
    try:
        files(tmp_path / "reports")
        settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
                                 email_to="team@example.com", report_dir=str(tmp_path / "reports"))
        now = datetime.now(UTC)
        queue(history, now)
        mailer = ReportMailer(history.engine, settings, "web01.example.com")
        assert mailer.deliver_due(now) == 1
        assert mailer.deliver_due(now + timedelta(hours=1)) == 0  # recorded: never twice
        [message] = smtp.wait_for(1)
        assert message["Subject"] == f"Daily report {DAY} - web01.example.com"
        assert message["To"] == "team@example.com"
        html = message.get_body(("html",)).get_content()
        assert "東京-db01" in html
        attachments = {part.get_filename(): part for part in message.iter_attachments()}
        pdf = attachments[f"{DAY}.pdf"].get_content()
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
        assert f"{DAY}.outages.csv" in attachments
    finally:
        smtp.stop()


def test_smtp_down_is_retried_then_sent(history, tmp_path):
    files(tmp_path / "reports")
    port = free_port()
    settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                             smtp_username="reporter", smtp_password="pa55-word",
                             email_to="team@example.com", report_dir=str(tmp_path / "reports"))
    now = datetime.now(UTC)
    queue(history, now)
    mailer = ReportMailer(history.engine, settings, "h")
    assert mailer.deliver_due(now) == 0
    from sqlalchemy import select

    from reporter.store.report_schema import report_emails
    with history.engine.connect() as conn:
        row = conn.execute(select(report_emails)).mappings().one()
    assert row["status"] == "pending" and row["attempts"] == 1 and "pa55-word" not in row["last_error"]
    assert mailer.deliver_due(now + timedelta(seconds=29)) == 0  # not yet due (backoff 60 s jittered: 30 to 60 s)
    smtp = SMTPServer(port)
    try:
        no_auth = load_settings(None, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                                email_to="team@example.com", report_dir=str(tmp_path / "reports"))
        assert ReportMailer(history.engine, no_auth, "h").deliver_due(now + timedelta(seconds=61)) == 1
        assert len(smtp.wait_for(1)) == 1
    finally:
        smtp.stop()


# ---- item 29: a security mismatch names the setting; the text part carries the key figures --------------------


def test_starttls_against_a_plain_server_names_the_setting(history, tmp_path, caplog):
    import logging

    from reporter.report.mail import MailError, build_message, report_files, send

    smtp = SMTPServer()  # aiosmtpd without TLS: no STARTTLS in its EHLO answer
    try:
        files(tmp_path / "reports")
        settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=smtp.port, email_to="team@example.com",
                                 report_dir=str(tmp_path / "reports"))
        assert settings.smtp_security == "starttls"  # the default
        message = build_message(settings, DAY.isoformat(), "h", report_files(tmp_path / "reports", DAY.isoformat()))
        with pytest.raises(MailError) as error:
            send(settings, message)
        assert "does not support STARTTLS" in str(error.value)
        assert "REPORTER_SMTP_SECURITY=none" in str(error.value)
        now = datetime.now(UTC)
        queue(history, now)
        with caplog.at_level(logging.WARNING, logger="reporter.report.mail"):
            assert ReportMailer(history.engine, settings, "h").deliver_due(now) == 0
        assert any("REPORTER_SMTP_SECURITY=none" in r.getMessage() for r in caplog.records)
        assert smtp.messages == []
    finally:
        smtp.stop()


def test_implicit_tls_against_a_plain_server_names_the_setting(tmp_path):
    from reporter.report.mail import MailError, build_message, report_files, send

    smtp = SMTPServer()
    try:
        files(tmp_path / "reports")
        settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="tls",
                                 email_to="team@example.com", report_dir=str(tmp_path / "reports"))
        message = build_message(settings, DAY.isoformat(), "h", report_files(tmp_path / "reports", DAY.isoformat()))
        with pytest.raises(MailError, match=r"REPORTER_SMTP_SECURITY=starttls .*or REPORTER_SMTP_SECURITY=none"):
            send(settings, message)
    finally:
        smtp.stop()


def test_text_part_carries_the_key_figures(tmp_path):
    import json
    from zoneinfo import ZoneInfo

    from reporter.base.ms import to_ms
    from reporter.report.build import build_report, day_bounds
    from reporter.report.html import fmt_number, fmt_percent, fmt_seconds
    from reporter.report.produce import produce
    from reporter.store.alert_schema import alert_events
    from reporter.store.synthetic import generate

    tz = ZoneInfo("UTC")
    h = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    smtp = SMTPServer()
    try:
        start, end = day_bounds(DAY, tz)
        generate(h, start - timedelta(hours=1), end, interval=60)
        with h.engine.begin() as conn:
            conn.execute(alert_events.insert(), [
                {"at": to_ms(start + timedelta(hours=3)), "fingerprint": "x", "rule": "redis_down", "state": "firing",
                 "value": 0.0, "labels": json.dumps({"alertname": "redis_down", "severity": "critical",
                                                     "service": "redis\nINJECTED: line"})}])
        settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
                                 email_to="team@example.com", report_dir=str(tmp_path / "reports"), timezone="UTC",
                                 sample_interval=60)
        produce(settings, h, Period.day(DAY, tz), tmp_path / "reports", ("html",), host="web01")
        report = build_report(h, Period.day(DAY, tz), sample_interval=60, host="web01")
        queue(h, datetime.now(UTC))
        assert ReportMailer(h.engine, settings, "web01").deliver_due(datetime.now(UTC)) == 1
        [message] = smtp.wait_for(1)
        plain = message.get_body(("plain",)).get_content()
        assert "see attachment" not in plain.lower()
        for service in report.services:
            assert f"{service.name} {fmt_percent(service.availability)}" in plain
        assert f"AI requests:   {fmt_number(report.ai.requests)}, success rate {fmt_percent(report.ai.success_rate)}" \
            in plain
        assert f"latency avg {fmt_seconds(report.ai.avg_response_time)} / p95 " \
               f"{fmt_seconds(report.ai.p95_response_time)}" in plain
        assert f"peak {fmt_percent(report.system['cpu_percent'].max)}" in plain
        assert f"peak {fmt_percent(report.system['memory_percent'].max)}" in plain
        assert "Alerts:        1 episode, 1 still firing" in plain
        assert "CRITICAL redis_down service=redis INJECTED: line: 03:00, still firing" in plain
        assert not any(line.startswith("INJECTED") for line in plain.splitlines())
        assert message.get_body(("html",)) is not None  # the HTML version stays
    finally:
        smtp.stop()
        h.close()


def test_smtp_down_is_logged_once_then_its_recovery_not_every_retry(history, tmp_path, caplog):
    files(tmp_path / "reports")
    port = free_port()
    settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                             email_to="team@example.com", report_dir=str(tmp_path / "reports"))
    now = datetime.now(UTC)
    queue(history, now)
    mailer = ReportMailer(history.engine, settings, "h")
    caplog.set_level("INFO", logger="reporter.report.mail")
    for seconds in (0, 61, 183):  # three attempts (backoff 60 s, then 120 s) within 5 minutes
        assert mailer.deliver_due(now + timedelta(seconds=seconds)) == 0
    assert caplog.text.count("not sent") == 1, caplog.text
    assert mailer.deliver_due(now + timedelta(seconds=424)) == 0  # 7 min in: one reminder
    assert caplog.text.count("still failing") == 1, caplog.text
    at = now + timedelta(seconds=424)
    smtp = SMTPServer(port)
    try:
        assert mailer.deliver_due(at + timedelta(hours=1)) == 1
    finally:
        smtp.stop()
    assert caplog.text.count("recovered after") == 1 and "emailed to team@example.com" in caplog.text


def test_a_large_report_email_is_given_time_to_upload():
    """A whole-message deadline of twice the 30 s timeout would cut a 5 MB report email on a slow link at every
    attempt (never delivered); the deadline grows with the size, at 32 KiB/s."""
    from reporter.report.mail import send_deadline

    assert send_deadline(0) == 60.0
    assert send_deadline(5 * 1024 * 1024) == 60.0 + 160.0
