"""The PDF's charts: WeasyPrint gets each inline chart as one ``<image>`` of the same SVG (``charts_as_images``),
and the PDF is the one the inline charts give: the same pages, text (the charts' labels included) and drawing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.pdf import _fetcher, charts_as_images, write_pdf
from reporter.report.period import Period
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.report.test_render import DAY, GENERATED, TZ


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    history = History(f"sqlite:///{tmp_path_factory.mktemp('pdf') / 'h.db'}", ["grammar", "quiz"])
    period = Period.day(DAY, TZ)
    generate(history, period.start - timedelta(days=1), period.end, interval=60)
    try:
        report = build_report(history, period, sample_interval=60, host="web01")
    finally:
        history.close()
    return render_html(report, generated_at=GENERATED)


def test_each_chart_becomes_one_image_of_the_same_svg(html):
    charts = re.findall(r'<svg\b[^>]*class="chart".*?</svg>', html, re.S)
    assert len(charts) >= 3 and all("<path" in c and "<text" in c for c in charts)
    converted = charts_as_images(html)
    images = re.findall(r'(<svg\b[^>]*class="chart"[^>]*>)<image ([^>]*)/></svg>', converted)
    assert len(images) == len(charts)
    assert "<path" not in converted.split("<svg", 1)[1].rsplit("</svg>", 1)[0]  # no chart element left inline
    for (tag, image), chart in zip(images, charts, strict=True):
        assert chart.startswith(tag)  # the element the stylesheet sizes stays
        box = re.search(r'viewBox="([^"]+)"', tag).group(1).split()
        assert re.search(r'x="([^"]+)" y="([^"]+)" width="([^"]+)" height="([^"]+)"', image).groups() == tuple(box)
    outside = lambda text: re.sub(r'<svg\b[^>]*class="chart".*?</svg>', "", text, flags=re.S)  # noqa: E731
    assert outside(converted) == outside(html)


def test_a_chart_that_is_not_xml_stays_inline():
    html = '<p>x</p><svg class="chart" viewBox="0 0 10 10"><text>a &nbsp; b</text></svg>'
    assert charts_as_images(html) == html
    no_box = '<svg class="chart"><path d="M0 0L1 1"/></svg>'
    assert charts_as_images(no_box) == no_box


def test_the_pdf_is_the_one_of_the_inline_charts(html, tmp_path):
    from weasyprint import HTML

    result = write_pdf(html, tmp_path / "images.pdf")
    HTML(string=html, url_fetcher=_fetcher()).write_pdf(str(tmp_path / "inline.pdf"))
    ours, inline = PdfReader(str(result.path)), PdfReader(str(tmp_path / "inline.pdf"))
    assert len(ours.pages) == len(inline.pages) == result.pages
    assert [p.extract_text() for p in ours.pages] == [p.extract_text() for p in inline.pages]
    text = "\n".join(p.extract_text() for p in ours.pages)
    assert "00:00" in text and "12:00" in text  # the charts' axis labels are text in the PDF
    assert result.warnings == []
