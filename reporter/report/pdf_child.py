"""The PDF rendering child: ``python -m reporter.report.pdf_child OUTPUT [--nice N]`` reads the HTML from stdin, writes the
PDF to OUTPUT with WeasyPrint and prints one JSON line on stdout:
``{"seconds": float, "peak_rss_bytes": int, "warnings": [str, ...], "pages": int}``.

Run by :func:`reporter.report.pdf.render_pdf`, never in the daemon's own process: WeasyPrint can take seconds and
hundreds of MB on a big document. ``warnings`` are the weasyprint/fontTools log records at WARNING and above
(e.g. ``.notdef glyph rendered for Unicode string unsupported by fonts``). No URL is fetched but
``data:`` and installed font files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOGGERS = ("weasyprint", "fontTools")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(f"{record.name}: {record.getMessage()}")
        except Exception:  # a bad log call must not fail the render
            self.messages.append(f"{record.name}: {record.msg!r}")


FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


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


def render(html: str, output: str) -> dict:
    collect = _Collect()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(collect)
        logger.setLevel(logging.WARNING)
        logger.propagate = False  # collected, not printed: stderr stays for crash messages
    started = time.perf_counter()
    from weasyprint import HTML

    document = HTML(string=html, url_fetcher=_fetcher()).render()
    document.write_pdf(output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_bytes": peak * (1 if sys.platform == "darwin" else 1024),
        "warnings": collect.messages,
        "pages": len(document.pages),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m reporter.report.pdf_child",
                                     description="Render the HTML on stdin to a PDF file.")
    parser.add_argument("output", help="the PDF file to write")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by N")
    args = parser.parse_args(argv)
    from reporter.report.lifeline import watch_parent

    watch_parent()  # the report process that started this one may be killed: end with it
    if args.nice:
        with contextlib.suppress(OSError):
            os.nice(args.nice)
    html = sys.stdin.buffer.read().decode("utf-8")
    result = render(html, args.output)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
