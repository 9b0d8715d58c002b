"""Make docs/weekly-report.png, the first page of a real weekly report, as README.md shows it.

    .venv/bin/python docs/example_report.py [--out docs/weekly-report.png]

Fills a scratch SQLite history with three weeks of synthetic samples at 10 s (reporter.store.synthetic) and
alert episodes (reporter.store.synthetic_alerts), renders the weekly report of the last full ISO week in a render
child, as the daemon does, and turns its first PDF page into a PNG with poppler's pdftoppm (Debian package
poppler-utils). Needs nothing else: no Redis, no application database (the usage lists say so).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from reporter.report.period import Period
from reporter.report.render import render_in_child
from reporter.settings import Settings
from reporter.store.history import History
from reporter.store.synthetic import generate
from reporter.store.synthetic_alerts import generate_alerts
from reporter.usage_queries import REFERENCE_SCHEMA

FEATURES = ["grammar", "quiz", "voice", "scenario"]
TZ = "Europe/Berlin"


SCENARIOS = ["Restaurant Reservation", "Hotel Check-in", "Airport small talk", "Job interview", "Doctor's visit"]


def app_database(url: str, start: datetime, end: datetime, seed: int = 7) -> None:
    """A made-up application database in the reference schema (README.md): 60 users (example.com addresses)
    joining over the weeks, with conversations, quiz attempts and grammar checks between ``start`` and ``end``."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()

    def at(offset: float) -> datetime:
        return (start + timedelta(seconds=offset)).replace(tzinfo=None, microsecond=0)

    users = [(f"user_{i:03d}", f"learner{i:03d}@example.com", at(rng.uniform(0, span * 0.8))) for i in range(60)]
    engine = create_engine(url)
    with engine.begin() as conn:
        for ddl in REFERENCE_SCHEMA:
            conn.execute(text(ddl))
        conn.execute(text("INSERT INTO scenarios VALUES (:id, :name)"),
                     [{"id": f"scn_{i}", "name": name} for i, name in enumerate(SCENARIOS)])
        rows: dict[str, list[dict]] = {"conversations": [], "quiz_attempts": [], "grammar_checks": []}
        last: dict[str, datetime] = {}
        for uid, _, joined in users:
            weight = rng.paretovariate(1.5)  # a few learners do most of the activity
            for _ in range(int(6 * weight)):
                when = joined + timedelta(seconds=rng.uniform(0, (end.replace(tzinfo=None) - joined).total_seconds()))
                last[uid] = max(last.get(uid, when), when)
                kind = rng.choice(list(rows))
                row = {"user_id": uid, "created_at": when}
                if kind == "conversations":
                    row = {"user_id": uid, "scenario_id": f"scn_{min(4, int(rng.expovariate(0.8)))}",
                           "started_at": when, "ended_at": when + timedelta(minutes=9), "completed": rng.random() < 0.7}
                elif kind == "quiz_attempts":
                    row["score"] = round(rng.uniform(0.4, 1.0), 2)
                rows[kind].append(row)
        conn.execute(text("INSERT INTO users VALUES (:id, :email, :created, :last)"),
                     [{"id": u, "email": e, "created": j, "last": last.get(u, j)} for u, e, j in users])
        for table, items in rows.items():
            if items:
                columns = list(items[0])
                conn.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                  f"({', '.join(':' + c for c in columns)})"), items)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "weekly-report.png")
    parser.add_argument("--dpi", type=int, default=70, help="resolution of the PNG (default 70)")
    args = parser.parse_args()
    if shutil.which("pdftoppm") is None:
        print("pdftoppm is missing: apt-get install poppler-utils", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        week = Period.containing(datetime.now(UTC), TZ, "week").previous()
        url = f"sqlite:///{work / 'history.db'}"
        history = History(url, FEATURES)
        start = week.previous().start - timedelta(days=1)
        print(f"generating samples from {start:%Y-%m-%d} to {week.end:%Y-%m-%d} ...", file=sys.stderr)
        generate(history, start, week.end, interval=10.0, outages=0.00003)
        generate_alerts(history, start, week.end)
        history.close()
        app_url = f"sqlite:///{work / 'app.db'}"
        app_database(app_url, start, week.end)
        for name in [n for n in os.environ if n.startswith("REPORTER_")]:
            os.environ.pop(name)
        settings = Settings(history_url=url, timezone=TZ, host_name="app-1", report_dir=str(work),
                            app_database_url=app_url)
        produced = render_in_child(settings, week, work, ("pdf",), timeout=300)
        pdf = next(p for p in produced.files if p.suffix == ".pdf")
        subprocess.run(["pdftoppm", "-png", "-r", str(args.dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(work / "page")], check=True)
        shutil.copyfile(work / "page.png", args.out)
    print(f"{args.out}: page 1 of the weekly report {week.key}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
