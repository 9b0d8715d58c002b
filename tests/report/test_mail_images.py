"""The report email renders everywhere: its HTML body shows the charts as PNG images attached inline (``cid:``,
multipart/related), while the HTML file and the PDF keep vector SVG charts; the plain-text part carries the key
figures; no line of the message is over SMTP's 998 octets; a report rendered before the email variant existed
still emails (its HTML file as the body)."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from reporter.report.build import build_report
from reporter.report.files import report_files
from reporter.report.html import fmt_number, fmt_percent
from reporter.report.mail import ReportMailer, build_message
from reporter.report.period import Period
from reporter.report.render import render_in_child
from reporter.report.schedule import ReportSchedule
from reporter.settings import load_settings
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.smtp import SMTPServer

TZ = ZoneInfo("Europe/Berlin")
WEEK = Period.parse("2026-W47", TZ)
DAY = Period.day(date(2026, 11, 24), TZ)
IMG = re.compile(r"<img\b[^>]*>", re.I)


@pytest.fixture(scope="module")
def history_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("mail_images") / "h.db"
    h = History(f"sqlite:///{path}", ["grammar", "quiz"])
    generate(h, WEEK.start - timedelta(hours=1), DAY.end, interval=120)
    h.close()
    return f"sqlite:///{path}"


def settings_for(history_url, folder, port):
    return load_settings(None, history_url=history_url, report_dir=str(folder), timezone="Europe/Berlin",
                         ai_features="grammar,quiz", sample_interval=120, smtp_host="127.0.0.1", smtp_port=port,
                         smtp_security="none", email_to="team@example.com", email_from="reporter@example.com")


def queue(history_url, period):
    h = History(history_url, ["grammar", "quiz"])
    try:
        schedule = ReportSchedule(h.engine, TZ, kind=period.kind)
        now = datetime.now(UTC)
        schedule.claim(period, now, 60)
        schedule.done(period, [], now, email=True)
    finally:
        h.close()


def deliver(history_url, settings):
    h = History(history_url, ["grammar", "quiz"])
    try:
        return ReportMailer(h.engine, settings, "web01").deliver_due(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        h.close()


def html_images(html: str) -> list[str]:
    """The ``src`` of every <img> in ``html``."""
    return [re.search(r'src="([^"]*)"', tag).group(1) for tag in IMG.findall(html)]


def test_the_email_body_shows_png_charts_by_content_id_and_the_files_keep_svg(history_url, tmp_path):
    smtp = SMTPServer()
    folder = tmp_path / "reports"
    try:
        settings = settings_for(history_url, folder, smtp.port)
        produced = render_in_child(settings, WEEK, folder, ("html", "pdf"), timeout=300, host="web01")
        names = sorted(p.name for p in produced.files)
        assert "2026-W47.email.html" in names and not [n for n in names if n.endswith(".png")]  # one file
        assert sorted(p.name for p in folder.glob("2026-W47.*")) == names  # the job's glob lists just these
        variant = (folder / "2026-W47.email.html").read_text(encoding="utf-8")
        assert "<svg" not in variant and variant.count('src="data:image/png;base64,') >= 5  # opens in a browser
        queue(history_url, WEEK)
        assert deliver(history_url, settings) == 1
        [message] = smtp.wait_for(1)
        [raw] = smtp.raw

        # every line of the message as received within SMTP's limit (998 octets + CRLF)
        assert max(len(line.rstrip(b"\r")) for line in raw.split(b"\n")) <= 998

        html_part = message.get_body(("html",))
        assert html_part.get_content_type() == "text/html"
        related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
        assert html_part in related.iter_parts()
        html = html_part.get_content()
        assert "<svg" not in html
        sources = html_images(html)
        pngs = {p["Content-ID"].strip("<>"): p for p in related.iter_parts() if p.get_content_type() == "image/png"}
        assert len(sources) >= 5 and len(pngs) == len(sources)  # the 3 system charts, AI features, capacity
        for src in sources:
            assert src.startswith("cid:")
            part = pngs[src.removeprefix("cid:")]
            assert part.get_content().startswith(b"\x89PNG\r\n\x1a\n")
            assert part.get_content_disposition() == "inline"
        assert 'alt="CPU (%)"' in html

        # the HTML file and the PDF keep vector charts
        file_html = (folder / "2026-W47.html").read_text(encoding="utf-8")
        assert file_html.count("<svg") == len(sources) and "cid:" not in file_html
        attachments = {p.get_filename(): p for p in message.iter_attachments()}
        pdf = PdfReader(io.BytesIO(attachments["2026-W47.pdf"].get_content()))
        # charts drawn as vectors: no chart-sized image (a PNG chart would be 1008 px wide)
        assert all(image.image.size[0] < 400 for page in pdf.pages for image in page.images)
        text = "\n".join(page.extract_text() for page in pdf.pages)
        assert "CPU (%)" in text and "Disk and memory (%), trend dashed" in text  # chart titles are text

        # the plain-text part: the key figures
        plain = message.get_body(("plain",)).get_content()
        h = History(history_url, ["grammar", "quiz"])
        try:
            report = build_report(h, WEEK, sample_interval=120, host="web01")
        finally:
            h.close()
        assert f"AI requests:   {fmt_number(report.ai.requests)}" in plain
        assert f"avg {fmt_percent(report.system['cpu_percent'].avg)}" in plain
        for service in report.services:
            assert f"{service.name} {fmt_percent(service.availability)}" in plain
    finally:
        smtp.stop()


def test_a_report_rendered_before_the_email_variant_still_emails(history_url, tmp_path):
    smtp = SMTPServer()
    folder = tmp_path / "reports"
    try:
        settings = settings_for(history_url, folder, smtp.port)
        render_in_child(settings, DAY, folder, ("html",), timeout=300, host="web01")
        for path in folder.glob(f"{DAY.key}.email.*"):  # as an older version rendered it
            path.unlink()
        queue(history_url, DAY)
        assert deliver(history_url, settings) == 1
        [message] = smtp.wait_for(1)
        html = message.get_body(("html",)).get_content()
        assert "<svg" in html and not html_images(html)  # today's behaviour: the HTML file itself
        assert not any(p.get_content_type() == "image/png" for p in message.walk())
        assert max(len(line.rstrip(b"\r")) for line in smtp.raw[0].split(b"\n")) <= 998
    finally:
        smtp.stop()


def test_an_email_variant_older_than_the_html_file_is_not_used(history_url, tmp_path):
    folder = tmp_path / "reports"
    settings = settings_for(history_url, folder, 25)
    render_in_child(settings, DAY, folder, ("html",), timeout=300, host="web01")
    variant = folder / f"{DAY.key}.email.html"
    html_file = folder / f"{DAY.key}.html"
    assert "cid:" in build_message(settings, DAY.key, "web01", report_files(folder, DAY)).get_body(("html",)) \
        .get_content()
    stat = html_file.stat()
    os.utime(variant, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))  # the HTML rendered again without it
    html = build_message(settings, DAY.key, "web01", report_files(folder, DAY)).get_body(("html",)).get_content()
    assert "<svg" in html and "cid:" not in html
    text = variant.read_text(encoding="utf-8")
    variant.write_text(text.replace('src="data:image/png;base64,', 'src="data:image/png;base64,!', 1))
    os.utime(variant, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    html = build_message(settings, DAY.key, "web01", report_files(folder, DAY)).get_body(("html",)).get_content()
    assert "<svg" in html and "cid:" not in html  # a broken image: the HTML file, never a broken image


def test_no_email_variant_without_email_configured(history_url, tmp_path):
    folder = tmp_path / "reports"
    settings = load_settings(None, history_url=history_url, report_dir=str(folder), timezone="Europe/Berlin",
                             ai_features="grammar,quiz", sample_interval=120)
    produced = render_in_child(settings, DAY, folder, ("html",), timeout=300, host="web01")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in produced.files)
    assert not list(folder.glob("*.email.*")) and (folder / f"{DAY.key}.html").is_file()


def test_reporter_report_email_sends_the_png_charts_too(history_url, tmp_path):
    from tests.test_cli import reporter

    smtp = SMTPServer()
    try:
        result = reporter("report", "--date", DAY.key, "--format", "html", "--email", cwd=tmp_path, env={
            "REPORTER_HISTORY_URL": history_url, "REPORTER_TIMEZONE": "Europe/Berlin", "REPORTER_SAMPLE_INTERVAL": "120",
            "REPORTER_AI_FEATURES": "grammar,quiz", "REPORTER_REPORT_DIR": str(tmp_path / "reports"),
            "REPORTER_SMTP_HOST": "127.0.0.1", "REPORTER_SMTP_PORT": str(smtp.port), "REPORTER_SMTP_SECURITY": "none",
            "REPORTER_EMAIL_TO": "team@example.com"})
        assert result.returncode == 0, result.stderr
        [message] = smtp.wait_for(1)
        html = message.get_body(("html",)).get_content()
        pngs = {p["Content-ID"].strip("<>") for p in message.walk() if p.get_content_type() == "image/png"}
        sources = html_images(html)
        assert sources and {s.removeprefix("cid:") for s in sources} == pngs and "<svg" not in html
        assert max(len(line.rstrip(b"\r")) for line in smtp.raw[0].split(b"\n")) <= 998
    finally:
        smtp.stop()
