"""Rendering of the daily report: HTML (escaping, sections, n/a, empty day, offline), PDF (A4, page numbers,
running header, the day's figures as text, non-ASCII glyphs without .notdef). The render child's time limit and
crash: tests/report/test_render_child.py."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from reporter.alerting.state import AlertStore
from reporter.base.ms import to_ms
from reporter.report.attachments import csv_attachments
from reporter.report.build import build_report, day_bounds
from reporter.report.html import (
    fmt_duration,
    fmt_number,
    fmt_percent,
    fmt_seconds,
    fmt_signed,
    render_html,
)
from reporter.report.model import Stats
from reporter.report.pdf import write_pdf
from reporter.report.period import Period
from reporter.report.usage_trends import short_id
from reporter.store.alert_schema import alert_events
from reporter.store.history import History
from reporter.store.synthetic import generate

TZ = ZoneInfo("Europe/Berlin")
DAY = date(2026, 3, 10)
HOST = "東京-db01"
XSS = "<img src=x onerror=alert(1)>"
SCENARIOS = [XSS, "שלום", "Airport 🛫 small talk", "東京-db01", "Hotel Check-in"]  # top 3 shown
GENERATED = datetime(2026, 3, 11, 0, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    h = History(f"sqlite:///{tmp_path_factory.mktemp('render') / 'h.db'}", ["grammar", "quiz"])
    start, end = day_bounds(DAY, TZ)
    generate(h, start - timedelta(days=1), end, interval=60)  # the day before gives the usage changes
    scenarios = [{"scenario_id": f"scn_{i}", "name": name, "start_count": 50 - i, "completion_rate": 70.5 - i}
                 for i, name in enumerate(SCENARIOS)]
    with h.engine.begin() as conn:
        conn.execute(h.usage_lists.insert(), [{"kind": "popular_scenarios", "ts": to_ms(end - timedelta(seconds=30)),
                                                "body": json.dumps(scenarios)}])
        events = [  # one episode resolved during the day, one still firing at its end
            (start + timedelta(hours=2), "firing", "a1", {"alertname": "HighCPU", "severity": "warning",
                                                          "host": "<b>bold</b>"}),
            (start + timedelta(hours=2, minutes=25), "resolved", "a1", {"alertname": "HighCPU",
                                                                        "severity": "warning", "host": "<b>bold</b>"}),
            (start + timedelta(hours=22), "firing", "a2", {"alertname": "DiskFilling", "severity": "critical"}),
        ]
        conn.execute(alert_events.insert(), [{"at": to_ms(at), "fingerprint": fp, "rule": labels["alertname"],
                                              "state": state, "value": 1.0, "labels": json.dumps(labels)}
                                             for at, state, fp, labels in events])
    assert len(AlertStore(h.engine).events(start, end)) == 3
    yield h
    h.close()


@pytest.fixture(scope="module")
def report(history):
    return build_report(history, Period.day(DAY, TZ), sample_interval=60, host=HOST, top_n=3)


@pytest.fixture(scope="module")
def html(report):
    return render_html(report, generated_at=GENERATED)


@pytest.fixture(scope="module")
def pdf(html, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf")
    result = write_pdf(html, folder / f"{DAY}.pdf")
    reader = PdfReader(str(result.path))
    return result, reader, [page.extract_text() for page in reader.pages]


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, f"no section {name}"
    return match.group(1)


def text(fragment: str) -> str:
    """Visible text of an HTML fragment (tags removed, whitespace collapsed)."""
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


# ---- HTML --------------------------------------------------------------------------------------------------


def test_html_has_every_section_with_its_heading(html, report):
    for name, heading in [("system", "System"), ("services", "Services"), ("ai", "AI"), ("usage", "Usage"),
                          ("incidents", "Incidents"), ("coverage", "Data coverage")]:
        assert f"<h2>{heading}</h2>" in section(html, name)
    header = text(html[html.index("<header"):html.index("</header>")])
    assert "Tuesday 10 March 2026" in header and HOST in header and "Europe/Berlin (CET, UTC+01:00)" in header
    assert "Daily report 2026-03-10 · Europe/Berlin · 東京-db01" in html  # the PDF's running header
    system = text(section(html, "system"))
    assert f"CPU 1.0% {fmt_percent(report.system['cpu_percent'].avg)}" in system or \
        fmt_percent(report.system["cpu_percent"].avg) in system
    assert section(html, "system").count('<svg') == 3 and "Host uptime" in system
    ai = text(section(html, "ai"))
    assert f"Requests {fmt_number(report.ai.requests)}" in ai
    assert fmt_seconds(report.ai.p95_response_time) in ai and "grammar" in ai and "quiz" in ai
    usage = text(section(html, "usage"))
    assert "Users" in usage and fmt_signed(report.usage[0].change) in usage
    assert "u***@example.com" in usage  # emails as stored (masked at collection)
    coverage = text(section(html, "coverage"))
    assert f"{report.samples:,} of {report.expected_samples:,} expected samples" in coverage


def test_scenario_name_is_escaped_never_raw(html):
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert XSS not in html and "<img" not in html and "onerror=alert(1)>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in section(html, "incidents") and "<b>bold" not in html


class Resources(HTMLParser):
    """Every URL-valued attribute of the document's elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "poster", "data", "action", "background"):
                self.urls.append((tag, name, value or ""))

    handle_startendtag = handle_starttag


def test_html_is_self_contained(html):
    parser = Resources()
    parser.feed(html)
    assert parser.urls, "the charts refer to their own clip paths"
    for tag, name, value in parser.urls:
        assert value.startswith("#"), f"<{tag} {name}={value!r}>: an external resource"
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html and "<img" not in html
    css = html[html.index("<style>"):html.index("</style>")]
    assert ".report-header" in css  # the stylesheet is inline
    assert re.findall(r"url\(", css) == [] and re.findall(r"src:\s*([^;]+);", css) == ['local("Noto Color Emoji")']


def test_long_lists_capped_with_the_rest_in_csv(html, report):
    usage = text(section(html, "usage"))
    assert len(report.popular_scenarios) == 5
    assert "3 of 5 shown; 2 more in 2026-03-10.popular_scenarios.csv (attached)" in usage
    files = csv_attachments(report)
    assert set(files) == {"outages", "alerts", "top_users", "popular_scenarios", "gaps"}
    rows = files["popular_scenarios"].splitlines()
    assert rows[0] == "scenario_id,name,start_count,completion_rate" and len(rows) == 6
    assert "scn_0,<img src=x onerror=alert(1)>,50,70.5" in rows  # CSV is data, not HTML
    alerts = files["alerts"].splitlines()
    # every episode, the most severe first; a still-firing one has no end and counts until the day's end
    assert alerts[1].startswith("DiskFilling,critical,2026-03-10T22:00:00+01:00,,7200,")
    assert alerts[2].startswith("HighCPU,warning,2026-03-10T02:00:00+01:00,2026-03-10T02:25:00+01:00,1500,")
    assert set(csv_attachments(report, capped_only=True)) >= {"popular_scenarios", "top_users"}


def test_alerts_every_episode_with_start_end_duration(html):
    alerts = text(section(html, "incidents"))
    assert "HighCPU" in alerts and "02:00 02:25 25 min" in alerts
    assert "DiskFilling" in alerts and "22:00 still firing 2 h 00 min" in alerts


def test_nan_and_infinite_values_show_na(report):
    broken = dataclasses.replace(
        report,
        system={**report.system, "cpu_percent": Stats(math.nan, math.inf, None, -math.inf, 3)},
        ai=dataclasses.replace(report.ai, requests=math.nan, success_rate=math.inf, avg_response_time=None),
    )
    html = render_html(broken)
    cpu_row = re.search(r"<tr><td>CPU</td>(.*?)</tr>", html).group(1)
    assert text(cpu_row).split() == ["n/a", "n/a", "n/a", "n/a", "3"]
    ai = text(section(html, "ai"))
    assert "Requests n/a" in ai and "Success rate n/a" in ai and "Average response time n/a" in ai
    assert "nan" not in text(html).lower().split() and "inf" not in text(html).lower()


def test_filters():
    for bad in (None, math.nan, math.inf, -math.inf, "x"):
        assert fmt_number(bad) == fmt_percent(bad) == fmt_seconds(bad) == fmt_duration(bad) == fmt_signed(bad) \
            == "n/a"
    assert fmt_percent(96.1205) == "96.12%" and fmt_number(4846.0) == "4,846" and fmt_seconds(2.663) == "2.66 s"
    assert fmt_duration(3900) == "1 h 05 min" and fmt_duration(45) == "45 s" and fmt_duration(360) == "6 min"
    assert fmt_duration(86400 * 12 + 3 * 3600) == "12 d 3 h"
    # halves round up everywhere (Python's round() would give 6 min and 44 s)
    assert fmt_duration(390) == "7 min" and fmt_duration(2730) == "46 min" and fmt_duration(44.5) == "45 s"
    assert fmt_duration(2.5 * 3600 * 24 + 0.5 * 3600) == "2 d 13 h"
    assert fmt_signed(27) == "+27" and fmt_signed(-3) == "-3" and fmt_signed(0.0) == "±0"


def test_empty_day_says_no_data_in_each_section(history):
    empty = build_report(history, Period.day(date(2026, 3, 1), TZ), sample_interval=60, host=HOST)
    assert empty.empty
    html = render_html(empty)
    for name in ("system", "services", "ai", "usage", "coverage", "incidents"):
        body = section(html, name)
        assert "No data for this day" in body, name
        assert "<table" not in body and "n/a" not in body, name


def test_dst_day_is_labelled(history):
    html = render_html(build_report(history, Period.day(date(2026, 3, 29), TZ), sample_interval=60, host=HOST))
    assert "A 23 h day: the clocks went forward one hour." in html
    assert "Europe/Berlin (CET, UTC+01:00 → CEST, UTC+02:00)" in html


def test_override_folder_comes_first_and_stays_escaped(report, tmp_path):
    (tmp_path / "report.css").write_text("body { color: #123456; } /* override */")
    (tmp_path / "report.html.j2").write_text(
        "<style>{{ css }}</style><ul>{% for s in report.popular_scenarios %}<li>{{ s.name }}</li>{% endfor %}</ul>")
    html = render_html(report, templates_dir=str(tmp_path))
    assert "#123456" in html and ".report-header" not in html
    assert "<li>&lt;img src=x onerror=alert(1)&gt;</li>" in html


# ---- PDF ---------------------------------------------------------------------------------------------------


def test_pdf_is_a4_with_page_numbers_and_running_header(pdf):
    result, reader, pages = pdf
    assert result.path.read_bytes().startswith(b"%PDF-") and result.pages == len(reader.pages) >= 2
    for number, page in enumerate(reader.pages, 1):
        assert abs(float(page.mediabox.width) - 595.28) < 1 and abs(float(page.mediabox.height) - 841.89) < 1
        assert f"Page {number} of {len(reader.pages)}" in pages[number - 1]
        assert "Daily report 2026-03-10 · Europe/Berlin · 東京-db01" in pages[number - 1]
    assert result.peak_rss_bytes > 10 * 2**20 and result.seconds > 0
    assert [p.name for p in result.path.parent.iterdir()] == [result.path.name]  # no temp file left


def test_pdf_holds_the_days_figures(pdf, report):
    _, _, pages = pdf
    everything = "\n".join(pages)
    assert fmt_percent(report.system["cpu_percent"].avg) in everything
    assert fmt_percent(report.system["memory_percent"].p95) in everything
    assert fmt_number(report.ai.requests) in everything
    assert fmt_percent(report.ai.success_rate) in everything
    assert f"{report.samples:,} of {report.expected_samples:,} expected samples" in everything.replace("\n", " ")


def test_pdf_non_ascii_names_have_glyphs(pdf):
    result, _, pages = pdf
    notdef = [w for w in result.warnings if ".notdef" in w]
    assert not notdef, f"missing glyphs: {notdef}"
    assert result.warnings == []
    everything = "\n".join(pages)
    for name in ("東京-db01", "שלום", "🛫", "<img src=x onerror=alert(1)>"):
        assert name in everything, name


# ---- long names wrap or are cut, in HTML and PDF (item 20) ---------------------------------------------------


def text_starts(page) -> list[float]:
    """The x (points) where each text-showing operator of ``page`` starts drawing."""
    starts: list[float] = []

    def before(op, args, cm, tm):
        if op in (b"Tj", b"TJ", b"'", b'"'):
            starts.append(tm[4] * cm[0] + tm[5] * cm[2] + cm[4])

    page.extract_text(visitor_operand_before=before)
    return starts


def test_a_10000_character_name_keeps_every_column_on_the_page(tmp_path):
    long_scenario, long_user = "W" * 10_000, "東" * 10_000  # the user's is its email: wide glyphs, 80 wider than a page
    h = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    try:
        start, end = day_bounds(DAY, TZ)
        generate(h, start, end, interval=300)
        lists = [("popular_scenarios", [{"scenario_id": "scn_1", "name": long_scenario, "start_count": 4242,
                                         "completion_rate": 70.59},
                                        {"scenario_id": "scn_2", "name": "Hotel", "start_count": 17,
                                         "completion_rate": 12.5}]),
                 ("top_users", [{"user_id": "user_1", "email": long_user, "activity_count": 987,
                                 "last_active": "2026-03-10T11:00:00.000Z"}])]
        with h.engine.begin() as conn:
            conn.execute(h.usage_lists.insert(), [{"kind": kind, "ts": to_ms(end - timedelta(seconds=1)),
                                                    "body": json.dumps(body)} for kind, body in lists])
        report = build_report(h, Period.day(DAY, TZ), sample_interval=300, host=HOST)
    finally:
        h.close()
    html = render_html(report)
    usage = section(html, "usage")
    # cut with an ellipsis at 80 characters; the whole value in the title attribute (and in the CSV)
    assert "W" * 79 + "…" in usage and "W" * 81 not in text(usage) and "東" * 79 + "…" in usage
    assert f'title="{long_scenario}"' in usage and f'title="{long_user}"' in usage
    assert long_scenario in csv_attachments(report)["popular_scenarios"]
    assert "overflow-wrap: anywhere" in html

    result = write_pdf(html, tmp_path / "long.pdf")
    reader = PdfReader(str(result.path))
    everything = ""
    for page in reader.pages:
        assert abs(float(page.mediabox.width) - 595.28) < 1
        layout = page.extract_text(extraction_mode="layout")
        everything += layout
        # laid out on a character grid as wide as the page: a column pushed off the page makes a line thousands
        # of characters long; a normal row is about 200
        assert max(len(line) for line in layout.splitlines()) < 400
        starts = text_starts(page)  # where every text run (a cell's line) begins, in points from the left
        assert starts and min(starts) >= 0 and max(starts) < float(page.mediabox.width) - 15 * 72 / 25.4
    scenario_row = next(line for line in everything.splitlines() if "4,242" in line)
    assert "70.59%" in scenario_row and "W" * 20 in scenario_row  # the other columns beside the cut name
    user_row = next(line for line in everything.splitlines() if " 987 " in line)
    assert "東" * 10 in user_row and short_id("user_1") in user_row  # the user's short id beside the email
