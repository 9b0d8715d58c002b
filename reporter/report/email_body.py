"""The email variant of a report: its HTML with each chart as a PNG image referenced by ``cid:``, for the HTML
body of the report email (Gmail and Outlook show no inline SVG). The HTML file and the PDF keep the vector charts.

The render child writes it next to the report (:func:`write_email_variant`): the PNG files
``<key>.email.<n>.png`` first, then ``<key>.email.html`` whose ``<img src="cid:<key>.email.<n>.png">`` name them.
The mailer reads it back (:func:`read_email_variant`) without matplotlib: the daemon never loads it. A report
rendered before the email variant existed, or whose variant is older than its HTML file or misses a PNG, has
none: the mailer then sends the HTML file itself.
"""

from __future__ import annotations

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
    """``2026-W48.email.3.png``: the file (and the ``cid:`` name) of a report's ``number``-th chart image."""
    return f"{period}.email.{number}.png"


def _img(name: str, image: ChartImage) -> str:
    """The ``<img>`` of a chart: full width up to its drawn size, height in proportion; the width and height
    attributes for clients that ignore CSS (Outlook on Windows)."""
    return (f'<img src="cid:{name}" alt="{html_lib.escape(image.alt, quote=True)}" width="{image.width}" '
            f'height="{image.height}" class="chart-img" style="display:block;width:100%;max-width:{image.width}px;'
            f'height:auto;border:0">')


def email_variant(html: str, images: list[ChartImage], period: Period | str) -> tuple[str, dict[str, bytes]]:
    """``html`` with each chart of ``images`` (its ``<svg>`` element, as the HTML holds it) replaced by an
    ``<img src="cid:...">``, and the PNG bytes by file name (``<key>.email.<n>.png``, n from 1 in drawing
    order). A chart the HTML does not hold (an override template leaving it out) gets no file."""
    files: dict[str, bytes] = {}
    for image in images:
        if image.svg not in html:
            continue
        name = png_name(period, len(files) + 1)
        html = html.replace(image.svg, _img(name, image))
        files[name] = image.png
    return html, files


def write_email_variant(folder: Path, period: Period, html: str, images: list[ChartImage]) -> list[Path]:
    """Write the email variant of ``period``'s report into ``folder`` (atomically, file by file): the PNGs, then
    ``<key>.email.html`` (after the report's HTML file, so it is never older than it), and remove the PNGs of an
    earlier rendering that this one does not name. A report without charts gets no variant (an earlier one is
    removed). Returns the written paths, the HTML last. Raises OSError when ``folder`` cannot be written."""
    variant, pngs = email_variant(html, images, period)
    written = [write_atomic(folder / name, data) for name, data in pngs.items()]
    if pngs:
        written.append(write_atomic(report_path(folder, period, EMAIL_HTML), variant))
    else:  # no chart (a period without data): the HTML file is the email's body
        report_path(folder, period, EMAIL_HTML).unlink(missing_ok=True)
    for old in folder.glob(f"{period.key}.email.*.png"):
        if old.name not in pngs:
            old.unlink(missing_ok=True)
    return written


_CID = re.compile(r'src="cid:([^"]+)"')


def read_email_variant(html_file: Path, period: Period | str) -> EmailVariant | None:
    """The email variant next to the report's HTML file ``html_file`` (``<key>.html``), or None when there is
    none, when it is older than ``html_file`` (rendered again without it), or when a PNG it names is missing
    (logged): the caller then sends ``html_file`` itself."""
    path = report_path(html_file.parent, period, EMAIL_HTML)
    try:
        if not path.is_file() or path.stat().st_mtime_ns < html_file.stat().st_mtime_ns:
            return None
        html = path.read_text(encoding="utf-8")
        names = list(dict.fromkeys(_CID.findall(html)))
        expected = re.compile(rf"{re.escape(str(period))}\.email\.\d+\.png")
        if not all(expected.fullmatch(name) for name in names):
            log.warning("report %s: %s names an image that is not one of its PNG files; the HTML report is sent "
                        "instead", period, path.name)
            return None
        return EmailVariant(html, [(name, (path.parent / name).read_bytes()) for name in names])
    except OSError as exc:
        log.warning("report %s: the email variant cannot be read (%s); the HTML report is sent instead", period,
                    exc)
        return None
