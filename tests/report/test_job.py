"""The daemon's report job: temporary files of a killed rendering do not pile up in the report folder."""

import os
import time

from reporter.report.job import ReportJob
from reporter.settings import load_settings
from reporter.store.history import History


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
