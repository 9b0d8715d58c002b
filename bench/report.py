"""Daily report benchmark: model build time from a 30-day history at 10 s samples, HTML render time, the render
child's PDF time, wall time and peak RSS for a normal day, and the CSV export rate.

    python bench/report.py [--days 30] [--runs 5]

Targets (issue 4): build < 1 s; PDF < 3 s and child peak RSS < 250 MB for a normal day (8,640 samples). The
render child (issue 9) does the model, the HTML and the PDF in one process: its peak RSS covers all three.
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
from reporter.report.period import Period
from reporter.report.render import render_in_child
from reporter.settings import load_settings
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
        report = build_report(history, Period.day(day, UTC), sample_interval=10.0, host="bench.example.com")
        builds.append(time.perf_counter() - started)
        started = time.perf_counter()
        html = render_html(report)
        htmls.append(time.perf_counter() - started)
    walls = []
    settings = load_settings(None, history_url=f"sqlite:///{history_file(args.days)}", timezone="UTC",
                             sample_interval=10.0, ai_features=",".join(FEATURES))
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(1, args.runs // 2)):
            started = time.perf_counter()
            result = render_in_child(settings, Period.day(day, UTC), Path(tmp), ("html", "pdf"), timeout=300,
                                     host="bench.example.com")
            walls.append(time.perf_counter() - started)
            pdfs.append(result.pdf_seconds)
            peaks.append(result.pdf_peak_rss_bytes / 2**20)
    out = io.StringIO()
    started = time.perf_counter()
    rows = export_csv(history, out, END - timedelta(days=7), END)
    rate = rows / (time.perf_counter() - started)
    history.close()
    b, p, r = statistics.median(builds), statistics.median(pdfs), max(peaks)
    print(f"day {day}: {report.samples:,} samples; HTML {len(html):,} characters")
    print(table([
        ("model build from 30-day history, s", f"{b:.3f}", "< 1", verdict(b < 1)),
        ("HTML render (Jinja2 + SVG charts), s", f"{statistics.median(htmls):.3f}", "", ""),
        ("PDF render (WeasyPrint, in the render child), s", f"{p:.2f}", "< 3", verdict(p < 3)),
        ("render child wall (start-up, model, HTML, PDF), s", f"{statistics.median(walls):.2f}", "", ""),
        ("render child peak RSS, MiB", f"{r:.0f}", "< 250", verdict(r < 250)),
        ("CSV export, rows/s (7 days, all columns)", f"{rate:,.0f}", "", ""),
    ], ("measurement", "value", "target", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
