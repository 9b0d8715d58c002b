"""The daemon's report job: temporary files of a killed rendering do not pile up in the report folder; with
its history on a real filesystem that is full, one log line, not a traceback every minute."""

import logging
import os
import time
from datetime import UTC, datetime, timedelta

from reporter.report.job import ReportJob
from reporter.settings import load_settings
from reporter.store.history import History
from tests.conftest import fill
from tests.snapshots import FEATURES, T0, snapshot


def test_stale_temporary_files_of_a_killed_rendering_are_removed(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", report_dir=str(reports))
    history = History(settings.history_url, settings.ai_features)
    try:
        job = ReportJob(settings, history)
        stale = reports / ".2026-11-24.pdf.abc123.tmp"
        fresh = reports / ".2026-11-25.pdf.def456.tmp"  # a rendering may be writing it right now
        report = reports / "2026-11-24.pdf"
        for path in (stale, fresh, report):
            path.write_bytes(b"x")
        old = time.time() - job.limit - 60
        os.utime(stale, (old, old))
        os.utime(report, (old, old))
        assert job.remove_stale_temps(time.time()) == [stale]
        assert sorted(p.name for p in reports.iterdir()) == [fresh.name, report.name]
    finally:
        history.close()


def test_report_job_on_a_full_disk_logs_once(tmp_path, tmpfs, caplog):
    caplog.set_level(logging.INFO, "reporter")
    history = History(f"sqlite:///{tmpfs / 'h.db'}", FEATURES)
    try:
        three_days_ago = datetime.now(UTC) - timedelta(days=3)
        history.write(snapshot((three_days_ago - T0).total_seconds()))  # yesterday's report is due
        job = ReportJob(load_settings(None, report_dir=str(tmp_path / "reports")), history)
        filler = fill(tmpfs)
        for _ in range(5):  # five minutes of runs
            job()
        assert "cannot write (report job)" in history.health.error
        filler.unlink()
    finally:
        history.close()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
    assert "history: cannot write (report job): OperationalError: database or disk is full" in lines[0].getMessage()
