"""Report benchmark: the daily, weekly and monthly reports from 30 days of 10 s history, each to a finished PDF
in the render child, with the child's peak RSS; the model build and HTML render in this process; the CSV export
rate.

    python bench/report.py [--days 30] [--runs 3] [--kinds day,week,month] [--profile week]

Targets (issue 12): a finished PDF in the render child (its start-up, the model with the previous period's, the
HTML and its charts, WeasyPrint) in < 3 s for a day (8,640 samples), < 5 s for a week (60,480), < 10 s for a
month (the 30 days: 259,200), the render child's peak RSS < 300 MB; median of ``--runs``. The periods: the day
and the ISO week before the end of the history (so each has its previous period in it), and its last month.
``--profile KIND`` prints a cProfile of that kind's build and HTML render in this process (the top 40 by
cumulative time) instead. The synthetic history (reporter.store.synthetic) is cached in bench/out/ and reused.
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
END = datetime(2026, 11, 1, tzinfo=UTC)  # the history runs from END - days to END
TARGETS = {"day": 3.0, "week": 5.0, "month": 10.0}  # seconds to a finished PDF in the render child
RSS_TARGET = 300  # MiB, the render child's peak


def history_file(days: int) -> Path:
    """The cached synthetic history of ``days`` days, keyed by the generator's source (a change to it makes a new
    one: a month of an older generator's disk went past 100 %)."""
    import hashlib

    from reporter.store import synthetic

    version = hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:8]
    path = Path(__file__).resolve().parent / "out" / f"report-history-{days}d-{version}.db"
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


def periods() -> dict[str, Period]:
    """The day and the ISO week before the last one of the history (both with their previous period in it), and
    the month of its last day."""
    last = (END - timedelta(days=1)).date()
    return {"day": Period.day(last - timedelta(days=1), UTC),
            "week": Period.of("week", last - timedelta(days=last.weekday() + 1), UTC),
            "month": Period.of("month", last, UTC)}


def profile(history: History, period: Period) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    render_html(build_report(history, period, sample_interval=10.0, host="bench.example.com"))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--kinds", default="day,week,month", help="report kinds measured (default all three)")
    parser.add_argument("--profile", choices=sorted(TARGETS), help="profile this kind's build and HTML instead")
    args = parser.parse_args()
    url = f"sqlite:///{history_file(args.days)}"
    history = History(url, FEATURES)
    chosen = {k: p for k, p in periods().items() if k in args.kinds.split(",")}
    if args.profile:
        profile(history, periods()[args.profile])
        return 0
    settings = load_settings(None, history_url=url, timezone="UTC", sample_interval=10.0,
                             ai_features=",".join(FEATURES))
    rows, ok = [], True
    for kind, period in chosen.items():
        builds, htmls, walls, pdfs, peaks, pages = [], [], [], [], [], 0
        for _ in range(args.runs):
            started = time.perf_counter()
            report = build_report(history, period, sample_interval=10.0, host="bench.example.com")
            builds.append(time.perf_counter() - started)
            started = time.perf_counter()
            html = render_html(report)
            htmls.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                started = time.perf_counter()
                result = render_in_child(settings, period, Path(tmp), ("html", "pdf"), timeout=300,
                                         host="bench.example.com")
                walls.append(time.perf_counter() - started)
                pdfs.append(result.pdf_seconds or 0.0)
                peaks.append((result.pdf_peak_rss_bytes or 0) / 2**20)
            from pypdf import PdfReader

            pages = len(PdfReader(Path(tmp) / f"{period.key}.pdf").pages)
        wall, peak = statistics.median(walls), max(peaks)
        ok = ok and wall < TARGETS[kind] and peak < RSS_TARGET
        print(f"{kind} {period.key}: {report.samples:,} samples (previous period: "
              f"{'yes' if report.previous is not None else 'none in the history'}); HTML {len(html):,} characters; "
              f"PDF {pages} pages")
        rows += [
            (f"{kind}: to a finished PDF in the render child, s", f"{wall:.2f}", f"< {TARGETS[kind]:g}",
             verdict(wall < TARGETS[kind])),
            (f"{kind}:   of which WeasyPrint, s", f"{statistics.median(pdfs):.2f}", "", ""),
            (f"{kind}:   model build in this process, s", f"{statistics.median(builds):.2f}", "", ""),
            (f"{kind}:   HTML render (Jinja2 + SVG charts), s", f"{statistics.median(htmls):.2f}", "", ""),
            (f"{kind}: render child peak RSS, MiB", f"{peak:.0f}", f"< {RSS_TARGET}", verdict(peak < RSS_TARGET)),
        ]
    out = io.StringIO()
    started = time.perf_counter()
    exported = export_csv(history, out, END - timedelta(days=7), END)
    rate = exported / (time.perf_counter() - started)
    history.close()
    rows.append(("CSV export, rows/s (7 days, all columns)", f"{rate:,.0f}", "", ""))
    print(table(rows, ("measurement", "value", "target", "")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
