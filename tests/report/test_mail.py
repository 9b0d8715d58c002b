import io
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader, PdfWriter

from reporter.report.mail import ReportMailer
from reporter.report.schedule import ReportSchedule
from reporter.settings import load_settings
from reporter.store.history import History
from tests.conftest import free_port
from tests.smtp import SMTPServer

DAY = date(2026, 11, 24)


@pytest.fixture
def history(tmp_path):
    h = History(f"sqlite:///{tmp_path / 'h.db'}", ["quiz"])
    yield h
    h.close()


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
    schedule.claim(DAY, now, 60)
    schedule.done(DAY, [], now, email=True)


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
    assert mailer.deliver_due(now + timedelta(seconds=30)) == 0  # not yet due (backoff 60 s)
    smtp = SMTPServer(port)
    try:
        no_auth = load_settings(None, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                                email_to="team@example.com", report_dir=str(tmp_path / "reports"))
        assert ReportMailer(history.engine, no_auth, "h").deliver_due(now + timedelta(seconds=61)) == 1
        assert len(smtp.wait_for(1)) == 1
    finally:
        smtp.stop()
