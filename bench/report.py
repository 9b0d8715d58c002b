"""Daily report benchmark: model build time from a 30-day history at 10 s samples, HTML render time, PDF render
time and the PDF child's peak RSS for a normal day, and the CSV export rate.

    python bench/report.py [--days 30] [--runs 5]

Targets (issue 4): build < 1 s; PDF < 3 s and child peak RSS < 250 MB for a normal day (8,640 samples).
The synthetic history (reporter.store.synthetic) is cached in bench/out/ and reused.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import table, verdict

from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.pdf import render_pdf
from reporter.store.export import export_csv
from reporter.store.history import History
from reporter.store.synthetic import generate

FEATURES = ["grammar", "quiz", "voice", "scenario"]
END = datetime(2026, 11, 1, tzinfo=UTC)


def history_file(days: int) -> Path:
    path = Path(__file__).resolve().parent / "out" / f"report-history-{days}d.db"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        history = History(f"sqlite:///{tmp}", FEATURES)
        started = time.perf_counter()
        rows = generate(history, END - timedelta(days=days), END, interval=10.0)
        history.close()
        tmp.rename(path)
        print(f"generated {rows:,} samples ({days} days at 10 s) in {time.perf_counter() - started:.1f} s")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported)")
    args = parser.parse_args()
    history = History(f"sqlite:///{history_file(args.days)}", FEATURES)
    day = (END - timedelta(days=2)).date()
    builds, htmls, pdfs, peaks = [], [], [], []
    report = html = None
    for _ in range(args.runs):
        started = time.perf_counter()
        report = build_report(history, day, UTC, sample_interval=10.0, host="bench.example.com")
        builds.append(time.perf_counter() - started)
        started = time.perf_counter()
        html = render_html(report)
        htmls.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(1, args.runs // 2)):
            result = render_pdf(html, Path(tmp) / "report.pdf", timeout=120)
            pdfs.append(result.seconds)
            peaks.append(result.peak_rss_bytes / 2**20)
        pages = result.pages
    out = io.StringIO()
    started = time.perf_counter()
    rows = export_csv(history, out, END - timedelta(days=7), END)
    rate = rows / (time.perf_counter() - started)
    history.close()
    b, p, r = statistics.median(builds), statistics.median(pdfs), max(peaks)
    print(f"day {day}: {report.samples:,} samples; PDF {pages} pages")
    print(table([
        ("model build from 30-day history, s", f"{b:.3f}", "< 1", verdict(b < 1)),
        ("HTML render (Jinja2 + SVG charts), s", f"{statistics.median(htmls):.3f}", "", ""),
        ("PDF render in child (wall), s", f"{p:.2f}", "< 3", verdict(p < 3)),
        ("PDF child peak RSS, MiB", f"{r:.0f}", "< 250", verdict(r < 250)),
        ("CSV export, rows/s (7 days, all columns)", f"{rate:,.0f}", "", ""),
    ], ("measurement", "value", "target", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
