"""Looks of the report (issue 12, item 9): no PDF page holds a lone leftover row of a table, a heading and the
sentence introducing a table stay with it, and the HTML has no horizontal overflow at a phone's width (390 px)."""

from __future__ import annotations

import html as html_lib
import io
import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from reporter.base.ms import to_ms
from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.period import Period
from reporter.store.alert_schema import alert_events
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.conftest import unavailable

CSS = Path(__file__).resolve().parents[2] / "templates" / "report.css"
ROWS = 8


def table_document(spacer_mm: float) -> str:
    """A heading, its sentence and a table of ROWS rows (``row-01``...) in the report's stylesheet, pushed down the
    first page by ``spacer_mm``."""
    rows = "".join(f'<tr><td class="name">row-{i:02d}</td><td class="num">{i * 7} min</td></tr>'
                   for i in range(1, ROWS + 1))
    return (f"<!doctype html><html><head><style>{CSS.read_text()}</style></head><body>"
            f'<div style="height: {spacer_mm}mm"></div><section><h2>Alerts</h2><p class="facts">{ROWS} episodes.</p>'
            f'<table class="data"><thead><tr><th>Alert</th><th class="num">Duration</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section><p>After the table.</p></body></html>")


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_no_page_holds_a_lone_row_or_a_heading_without_its_rows():
    """The table pushed down the page half a row at a time, so that each possible break point inside it (and
    before it) comes up: no page may hold one row of it alone, nor its heading without rows."""
    from weasyprint import HTML

    # A4 content box: 297 mm - 18 mm - 17 mm of margins = 262 mm; a row is ~5 mm
    checked = 0
    for spacer in [262 - 12 * 5 + 2.5 * i for i in range(23)]:
        pages = pages_text(HTML(string=table_document(spacer)).write_pdf())
        counts = [len(re.findall(r"row-\d\d", text)) for text in pages]
        assert sum(counts) == ROWS, (spacer, counts)
        shared = [c for c in counts if c]
        if len(shared) > 1:
            checked += 1
            assert min(shared) >= 2, f"spacer {spacer} mm: rows per page {counts}"
        for text, count in zip(pages, counts, strict=True):
            if "Alerts" in text:
                assert count >= 2, f"spacer {spacer} mm: the heading on a page with {count} row(s) of its table"
    assert checked >= 3  # the table was split across pages in several positions


TZ = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def week_html(tmp_path_factory):
    """The HTML of a week's report with long names and many alert episodes."""
    folder = tmp_path_factory.mktemp("looks")
    week = Period.parse("2026-W48", TZ)
    history = History(f"sqlite:///{folder / 'h.db'}", ["grammar", "quiz", "voice", "scenario"])
    try:
        generate(history, week.previous().start, week.end, interval=600)
        events = []
        for i in range(14):
            at = week.start + timedelta(hours=5 * i + 1)
            labels = {"alertname": f"rule-{i:02d}" + "-very-long-alert-name" * (4 if i == 2 else 0),
                      "severity": "critical" if i % 3 == 0 else "warning", "host": "db01.example.com",
                      "service": "x" * (120 if i == 4 else 5)}
            events += [(at, "firing", f"fp{i}", labels), (at + timedelta(minutes=7 + i), "resolved", f"fp{i}", labels)]
        scenarios = [{"scenario_id": f"scn_{i}", "name": "Airport check-in, a long scenario name " * (3 if i == 1 else 1),
                      "start_count": 50 - i, "completion_rate": 70.5 - i} for i in range(12)]
        with history.engine.begin() as conn:
            conn.execute(alert_events.insert(), [
                {"at": to_ms(at), "fingerprint": fp, "rule": labels["alertname"], "state": state, "value": 1.0,
                 "labels": json.dumps(labels)} for at, state, fp, labels in events])
            conn.execute(history.usage_lists.insert(), [{"kind": "popular_scenarios",
                                                         "ts": to_ms(week.end - timedelta(seconds=30)),
                                                         "body": json.dumps(scenarios)}])
        report = build_report(history, week, sample_interval=600, host="web-frontend-01.eu-central.example.com")
    finally:
        history.close()
    return render_html(report)


def phone_width(html: str, folder: Path, width: int = 390) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of ``html`` laid out ``width`` px wide by headless Chromium: in an iframe of that
    width (a headless window is at least 500 px wide), read by a script of the page around it, written into its
    DOM and read back with --dump-dom."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("chromium (Debian: apt-get install chromium)")
    page = folder / "phone.html"
    page.write_text(
        f'<!doctype html><html><body style="margin:0"><iframe id="f" style="width:{width}px;height:2000px;border:0" '
        f'srcdoc="{html_lib.escape(html, quote=True)}"></iframe><script>window.addEventListener("load", function() '
        '{ var d = document.getElementById("f").contentDocument.documentElement; '
        'document.body.setAttribute("data-width", d.scrollWidth + "x" + d.clientWidth); });</script></body></html>')
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=500,2000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60).stdout
    found = re.search(r'data-width="(\d+)x(\d+)"', out)
    assert found, out[-2000:]
    return int(found[1]), int(found[2])


def test_the_phone_view_has_no_horizontal_overflow(week_html, tmp_path):
    scroll, client = phone_width(week_html, tmp_path)
    assert 300 < client <= 390 and scroll <= client, f"the page is {scroll} px wide in a {client} px view"


def test_a_week_says_dst_only_when_it_holds_a_change_and_its_times_carry_their_date(week_html, tmp_path):
    assert "the clocks went" not in week_html  # 2026-W48 is 168 h long
    assert "Mon 23 Nov 01:00" in week_html  # an episode of the week's first day: with its date, as every other one
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar"])
    try:
        autumn = render_html(build_report(history, Period.parse("2026-W43", TZ), sample_interval=600, host="h"))
        spring = render_html(build_report(history, Period.parse("2026-03", TZ), sample_interval=600, host="h"))
    finally:
        history.close()
    assert "A 169 h week: the clocks went back one hour" in autumn
    assert "A 743 h month: the clocks went forward one hour" in spring
