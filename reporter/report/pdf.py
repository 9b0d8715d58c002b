"""PDF of a report: WeasyPrint renders the report's HTML to a PDF file, in the calling process.

Called only in the render child (:mod:`reporter.report.render_child`), never in the daemon's or the CLI's own
process: WeasyPrint can take seconds and hundreds of MB on a big document and has crashed on some inputs, so the
child's time limit and its exit bound it (:func:`reporter.report.render.render_in_child`). The file appears
atomically: a temporary file beside the target (``.<name>.<random>.tmp``) is renamed onto it, or removed on
failure. No URL is fetched but ``data:`` and installed font files.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from reporter.report.files import new_file_mode

LOGGERS = ("weasyprint", "fontTools")
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
# an inline chart of reporter.report.charts: its opening tag (class "chart", a viewBox) and its content
_CHART = re.compile(r'(<svg\b[^>]*\bclass="chart"[^>]*>)(.*?)</svg>', re.S)
_VIEWBOX = re.compile(r'\bviewBox="\s*([-\d.eE]+)[\s,]+([-\d.eE]+)[\s,]+([-\d.eE]+)[\s,]+([-\d.eE]+)\s*"')


class PdfError(RuntimeError):
    """The PDF could not be rendered (WeasyPrint failed, or wrote nothing); the message says why."""


@dataclass
class PdfResult:
    """A rendered PDF: ``seconds`` the wall time of WeasyPrint's work, ``peak_rss_bytes`` this process's peak
    resident memory after it, ``warnings`` WeasyPrint's and fontTools' warnings (e.g. missing glyphs)."""

    path: Path
    seconds: float
    peak_rss_bytes: int
    warnings: list[str] = field(default_factory=list)
    pages: int = 0


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(f"{record.name}: {record.getMessage()}")
        except Exception:  # a bad log call must not fail the render
            self.messages.append(f"{record.name}: {record.msg!r}")


def _allowed(url: str) -> bool:
    """``data:`` URLs, and ``file:`` URLs of installed fonts (WeasyPrint reads an ``@font-face``'s ``local()``
    font through the fetcher). Nothing else: the report is self-contained, no network and no other file."""
    if url.startswith("data:"):
        return True
    if not url.startswith("file:"):
        return False
    path = Path(unquote(urlsplit(url).path)).resolve()
    return any(path.is_relative_to(Path(folder).expanduser().resolve()) for folder in FONT_DIRS)


def _fetcher():
    """WeasyPrint's URL fetcher restricted by :func:`_allowed`."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint < 68: a plain function
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args, **kwargs):
            if not _allowed(url):
                raise ValueError(f"external resources are disabled in the report: {url}")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch

    class Fetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if not _allowed(url):
                raise ValueError(f"external resources are disabled in the report: {url}")
            return super().fetch(url, headers)

    return Fetcher(allow_redirects=False)


def charts_as_images(html: str) -> str:
    """``html`` with each inline chart's content (``<svg class="chart" viewBox=...>...</svg>``, as
    :mod:`reporter.report.charts` makes them) replaced by one ``<image>`` of the same SVG as a ``data:`` URL
    filling its viewBox: the same drawing in the PDF (same vector paths and text), but WeasyPrint's HTML
    parser (pure Python, a character at a time) and its CSS cascade never see the chart's ~250 elements each,
    about a quarter of its work on a day's report. The ``<svg>`` element stays, so the stylesheet's rules for
    ``svg.chart`` apply as before. A chart that is not well-formed XML (an override template's own SVG, say) is
    left as it is."""

    def image(match: re.Match) -> str:
        box = _VIEWBOX.search(match.group(1))
        svg = match.group(0)
        if box is None:
            return svg
        try:
            ElementTree.fromstring(svg)
        except ElementTree.ParseError:
            return svg
        x, y, width, height = box.groups()
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        return (f'{match.group(1)}<image x="{x}" y="{y}" width="{width}" height="{height}" '
                f'href="data:image/svg+xml;base64,{data}"/></svg>')

    return _CHART.sub(image, html)


def write_pdf(html: str, path: str | os.PathLike) -> PdfResult:
    """Render ``html`` (a self-contained document) to the PDF file ``path`` in this process (the render child),
    atomically, with the mode a plain ``open`` would give it. Raises :class:`PdfError` when WeasyPrint fails."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    os.chmod(temp, new_file_mode())  # mkstemp's 0600 would stay on the report after the rename: honour the umask
    collect = _Collect()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(collect)
        logger.setLevel(logging.WARNING)
        logger.propagate = False  # collected, not printed: stderr stays for crash messages
    try:
        started = time.perf_counter()
        from weasyprint import HTML

        try:
            document = HTML(string=charts_as_images(html), url_fetcher=_fetcher()).render()
            document.write_pdf(str(temp))
        except Exception as exc:
            raise PdfError(f"PDF rendering failed: {type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - started
        if temp.stat().st_size == 0:
            raise PdfError("PDF rendering wrote an empty file")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(collect)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return PdfResult(target, seconds, peak, collect.messages, len(document.pages))
