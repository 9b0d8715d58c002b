"""Produce one day's report files: build the model, render HTML, render the PDF in a child process, write the
full long lists as CSV. Files: ``YYYY-MM-DD.html``, ``.pdf`` and ``YYYY-MM-DD.<list>.csv``, written atomically.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from reporter.report.build import build_report
from reporter.report.files import remove_stale_temps, render_time_limit, write_atomic
from reporter.settings import Settings
from reporter.store.history import History

log = logging.getLogger(__name__)
FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class Produced:
    """The files written for one day, and the PDF child's figures (seconds, peak RSS bytes) when rendered."""

    day: date
    files: list[Path]
    empty: bool
    pdf_seconds: float | None = None
    pdf_peak_rss_bytes: int | None = None


def produce(settings: Settings, history: History, day: date, out_dir: Path, formats: tuple[str, ...] = FORMATS,
            host: str | None = None, now: datetime | None = None) -> Produced:
    """Render ``day`` into ``out_dir`` (the current day until ``now``, default the clock). Raises
    ``reporter.report.pdf.PdfError`` when the PDF child fails or overruns ``REPORTER_REPORT_TIMEOUT``. Temporary
    files that a killed rendering left in ``out_dir`` (older than the render time limit) are removed first."""
    from reporter.report.html import csv_attachments, render_html

    report = build_report(history, day, settings.tz, sample_interval=settings.sample_interval,
                          host=host or socket.gethostname(), top_n=settings.report_top_n, now=now)
    html = render_html(report, templates_dir=settings.report_templates)
    for stale in remove_stale_temps(out_dir, render_time_limit(settings.report_timeout)):
        log.info("report %s: removed %s, left by a stopped rendering", day, stale.name)
    files: list[Path] = []
    if "html" in formats:
        files.append(write_atomic(out_dir / f"{day}.html", html))
    pdf_seconds = peak = None
    if "pdf" in formats:
        from reporter.report.pdf import render_pdf

        result = render_pdf(html, out_dir / f"{day}.pdf", timeout=settings.report_timeout)
        files.append(result.path)
        pdf_seconds, peak = result.seconds, result.peak_rss_bytes
        for warning in result.warnings:
            log.warning("report %s: PDF renderer: %s", day, warning)
    for name, text in csv_attachments(report, capped_only=True).items():
        files.append(write_atomic(out_dir / f"{day}.{name}.csv", text))
    return Produced(day, files, report.empty, pdf_seconds, peak)
