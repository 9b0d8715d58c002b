"""The email variant of a report: its HTML with each chart as a PNG image referenced by ``cid:``, for the HTML
body of the report email (Gmail and Outlook show no inline SVG). The HTML file and the PDF keep the vector charts.

The render child writes it next to the report when email is configured (:func:`write_email_variant`): one file,
``<key>.email.html``, whose charts are ``<img src="data:image/png;base64,...">`` (written atomically, and it opens
in a browser as it is). The mailer reads it back (:func:`read_email_variant`) without matplotlib (the daemon never
loads it) and turns each data URI into an inline ``image/png`` part named by a ``cid:`` (mail clients block data
URIs). A report rendered before the email variant existed, or whose variant is older than its HTML file, has
none: the mailer then sends the HTML file itself.
"""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from reporter.report.files import report_path, write_atomic
from reporter.report.period import Period

log = logging.getLogger(__name__)
EMAIL_HTML = "email.html"  # <key>.email.html


@dataclass(frozen=True)
class ChartImage:
    """One chart drawn for a report: its inline ``<svg>`` element as the HTML holds it, the same figure as PNG
    bytes, its titles as alt text, and its display size in CSS pixels (``width`` x ``height``)."""

    svg: str
    png: bytes
    alt: str
    width: int
    height: int


@dataclass(frozen=True)
class EmailVariant:
    """A report's email variant read back: ``html`` whose charts are ``<img src="cid:NAME">``, and ``images``:
    each NAME (a file name, ``<key>.email.<n>.png``) with its PNG bytes, in the order of the HTML."""

    html: str
    images: list[tuple[str, bytes]]


def png_name(period: Period | str, number: int) -> str:
    """``2026-W48.chart-3.png``: the attachment name (and the ``cid:`` name) of a report's ``number``-th chart."""
    return f"{period}.chart-{number}.png"


def _img(image: ChartImage) -> str:
    """The ``<img>`` of a chart, its PNG as a data URI: full width up to its drawn size, height in proportion; the
    width and height attributes for clients that ignore CSS (Outlook on Windows)."""
    data = base64.b64encode(image.png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{html_lib.escape(image.alt, quote=True)}" width="{image.width}" '
            f'height="{image.height}" class="chart-img" style="display:block;width:100%;max-width:{image.width}px;'
            f'height:auto;border:0">')


def email_variant(html: str, images: list[ChartImage]) -> tuple[str, int]:
    """``html`` with each chart of ``images`` (its ``<svg>`` element, as the HTML holds it) replaced by an
    ``<img>`` of its PNG (a data URI), and how many were replaced. A chart the HTML does not hold (an override
    template leaving it out) is skipped."""
    count = 0
    for image in images:
        if image.svg in html:
            html = html.replace(image.svg, _img(image))
            count += 1
    return html, count


def write_email_variant(folder: Path, period: Period, html: str, images: list[ChartImage]) -> list[Path]:
    """Write the email variant of ``period``'s report into ``folder``: ``<key>.email.html``, atomically, after the
    report's HTML file (so it is never older than it). A report without charts gets none (an earlier one is
    removed): its HTML file is the email's body. Returns the written path (or none). Raises OSError when
    ``folder`` cannot be written."""
    variant, count = email_variant(html, images)
    path = report_path(folder, period, EMAIL_HTML)
    if not count:
        path.unlink(missing_ok=True)
        return []
    return [write_atomic(path, variant)]


_DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def read_email_variant(html_file: Path, period: Period | str) -> EmailVariant | None:
    """The email variant next to the report's HTML file ``html_file`` (``<key>.html``) with its charts as
    ``cid:`` references (``<key>.chart-<n>.png``) and their PNG bytes, or None when there is none, when it is
    older than ``html_file`` (rendered again without it) or cannot be read or decoded (logged): the caller then
    sends ``html_file`` itself."""
    path = report_path(html_file.parent, period, EMAIL_HTML)
    images: list[tuple[str, bytes]] = []

    def to_cid(match: re.Match) -> str:
        name = png_name(period, len(images) + 1)
        images.append((name, base64.b64decode(match.group(1), validate=True)))
        return f'src="cid:{name}"'

    try:
        if not path.is_file() or path.stat().st_mtime_ns < html_file.stat().st_mtime_ns:
            return None
        html = _DATA_URI.sub(to_cid, path.read_text(encoding="utf-8"))
        if 'src="data:' in html:
            raise ValueError("an image is not a base64 PNG")
        return EmailVariant(html, images)
    except (OSError, ValueError, binascii.Error) as exc:
        log.warning("report %s: the email variant cannot be read (%s); the HTML report is sent instead", period,
                    exc)
        return None
