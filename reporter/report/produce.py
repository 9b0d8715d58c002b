"""Produce one period's report files in this process: build the model, render the HTML and the PDF, write the
full long lists as CSV. Files: ``<key>.html``, ``<key>.pdf`` and ``<key>.<list>.csv`` (``<key>`` the period's
key, ``YYYY-MM-DD`` for a day), written atomically; with the HTML, its email variant (charts as PNG images:
``<key>.email.html``, :mod:`reporter.report.email_body`) when email is configured.

Run in the render child (:mod:`reporter.report.render_child`); the daemon and the CLI call
:func:`reporter.report.render.render_in_child`, which runs it there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from reporter.alerting.inhibition import DEFAULT_RULES, InhibitRule
from reporter.report.build import build_report
from reporter.report.files import remove_stale_temps, render_time_limit, report_path, write_atomic
from reporter.report.period import Period
from reporter.report.render import FORMATS, Produced
from reporter.settings import Settings
from reporter.store.history import History

log = logging.getLogger(__name__)


def produce(settings: Settings, history: History, period: Period, out_dir: Path,
            formats: tuple[str, ...] = FORMATS, host: str | None = None, now: datetime | None = None,
            inhibit_rules: Sequence[InhibitRule] = DEFAULT_RULES) -> Produced:
    """Render the report of ``period`` into ``out_dir`` (the current period until ``now``, default the clock),
    in this process. Raises ``reporter.report.pdf.PdfError`` when WeasyPrint fails, ``jinja2.TemplateError``
    for a broken override template, OSError when ``out_dir`` cannot be written. Temporary files that a killed
    rendering left in ``out_dir`` (older than the render time limit) are removed first. ``inhibit_rules``: the
    inhibition rules in force (they mark the inhibited alert episodes)."""
    from reporter.report.attachments import csv_attachments
    from reporter.report.charts import collecting_images
    from reporter.report.email_body import ChartImage, write_email_variant
    from reporter.report.html import render_html

    report = build_report(history, period, sample_interval=settings.sample_interval,
                          host=host or settings.host_name, top_n=settings.report_top_n, now=now,
                          settings=settings, inhibit_rules=inhibit_rules)
    # with the HTML file, when email is configured, the email variant: each chart also drawn as a PNG (from the same
    # figure)
    email = "html" in formats and bool(settings.smtp_host and settings.email_to)
    collect: contextlib.AbstractContextManager[list[ChartImage]] = (collecting_images() if email
                                                                    else contextlib.nullcontext([]))
    with collect as images:
        html = render_html(report, templates_dir=settings.report_templates)
    for stale in remove_stale_temps(out_dir, render_time_limit(settings.report_timeout)):
        log.info("report %s: removed %s, left by a stopped rendering", period, stale.name)
    files: list[Path] = []
    if "html" in formats:
        files.append(write_atomic(report_path(out_dir, period, "html"), html))
        if email:
            files += write_email_variant(out_dir, period, html, images)
    pdf_seconds = peak = None
    warnings: list[str] = []
    if "pdf" in formats:
        from reporter.report.pdf import write_pdf

        result = write_pdf(html, report_path(out_dir, period, "pdf"))
        files.append(result.path)
        pdf_seconds, peak, warnings = result.seconds, result.peak_rss_bytes, result.warnings
    for name, text in csv_attachments(report, capped_only=True).items():
        files.append(write_atomic(report_path(out_dir, period, f"{name}.csv"), text))
    return Produced(period, files, report.empty, pdf_seconds, peak, warnings)
