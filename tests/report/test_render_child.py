"""One process level for rendering: the report of a period is rendered (model, HTML, PDF, CSV) in one child
process, which is bounded by a time limit, reported when it crashes or fails, and never leaves WeasyPrint in the
parent's memory."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

import psutil
import pytest

from reporter.report.build import day_bounds
from reporter.report.period import Period
from reporter.report.render import RenderError, render_in_child
from reporter.settings import load_settings
from reporter.store.history import History
from reporter.store.synthetic import generate

UTC_ZONE = ZoneInfo("UTC")
DAY = date(2026, 11, 24)
PERIOD = Period.day(DAY, UTC_ZONE)


@pytest.fixture
def settings(tmp_path):
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    start, end = day_bounds(DAY, UTC_ZONE)
    generate(history, start, end, interval=300)
    history.close()
    return load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", report_dir=str(tmp_path / "reports"),
                         timezone="UTC", ai_features="grammar,quiz")


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def depth(process: psutil.Process, root: int) -> int:
    """How many parent links separate ``process`` from the process ``root``."""
    levels = 0
    while process is not None and process.pid != root:
        process, levels = process.parent(), levels + 1
    return levels


def test_a_period_renders_in_exactly_one_child_process_level(settings, tmp_path):
    out = tmp_path / "reports"
    done: dict = {}

    def render():
        try:
            done["produced"] = render_in_child(settings, PERIOD, out, ("html", "pdf"), timeout=120)
        except BaseException as exc:
            done["error"] = exc

    thread = threading.Thread(target=render)
    thread.start()
    me, seen, polls = psutil.Process(), {}, Counter()
    while thread.is_alive():
        for child in me.children(recursive=True):
            try:
                command = " ".join(child.cmdline())
                if "reporter" in command:
                    seen[child.pid] = (depth(child, me.pid), command)
                    polls[child.pid] += 1
            except psutil.Error:
                continue
        time.sleep(0.01)
    thread.join()
    assert "error" not in done, done.get("error")
    # a process running reporter code for at least 5 polls (not a fork of the child about to exec the
    # ldconfig/gcc of ctypes' library lookup, which shows the child's command line for a few microseconds)
    renderers = {pid: seen[pid] for pid, count in polls.items() if count >= 5}
    assert [d for d, _ in renderers.values()] == [1], seen  # one render child, nothing rendering under it
    assert "reporter.report.render_child" in next(iter(renderers.values()))[1]
    produced = done["produced"]
    assert {f"{DAY}.html", f"{DAY}.pdf"} <= {p.name for p in produced.files}
    assert produced.period == PERIOD and not produced.empty and produced.pdf_seconds > 0
    assert (out / f"{DAY}.pdf").read_bytes().startswith(b"%PDF") and not list(out.glob(".*.tmp"))


def test_the_parent_never_loads_weasyprint_or_the_templates(settings, tmp_path):
    """What the daemon imports to render (the report job) and runs leaves no renderer in its memory."""
    code = f"""
import sys
from datetime import date
from reporter.report.job import ReportJob
from reporter.report.period import Period
from reporter.report.render import render_in_child
from reporter.settings import load_settings
settings = load_settings(None, **{settings.model_dump(mode="json")!r})
render_in_child(settings, Period.day(date(2026, 11, 24), "UTC"), {str(tmp_path / "out")!r}, ("html", "pdf"),
                timeout=120)
print(sorted(m for m in ("weasyprint", "jinja2", "matplotlib", "reporter.report.build") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "out" / f"{DAY}.pdf").is_file()


def test_a_render_over_its_time_limit_is_killed_and_reported(settings, tmp_path):
    out = tmp_path / "late"
    with pytest.raises(RenderError, match=r"time limit of 0\.5 s and was killed") as caught:
        render_in_child(settings, PERIOD, out, ("html", "pdf"), timeout=0.5)
    assert caught.value.kind == "timeout"
    assert not (out / f"{DAY}.pdf").exists() and not (out / f"{DAY}.html").exists()


def test_a_crashed_render_child_is_reported_with_its_stderr(settings, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Fatal Python error: Segmentation fault' >&2\nexit 139\n")
    fake.chmod(0o755)
    with pytest.raises(RenderError, match=r"exited with status 139; stderr: Fatal Python error: Segmentation fault"):
        render_in_child(settings, PERIOD, tmp_path / "out", ("pdf",), timeout=30, python=str(fake))


def test_a_broken_override_template_is_reported_as_such(settings, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "report.html.j2").write_text("{% if %}\n")
    broken = load_settings(None, **{**settings.model_dump(mode="json"), "report_templates": str(folder)})
    with pytest.raises(RenderError, match=r"report.html.j2, line 1") as caught:
        render_in_child(broken, PERIOD, tmp_path / "out", ("html",), timeout=60)
    assert caught.value.kind == "template"


def test_reasons_for_the_log_are_one_line():
    assert RenderError("rendering exceeded its time limit of 180 s and was killed; stderr: (no output on stderr)",
                       "timeout").reason == "rendering exceeded its time limit of 180 s and was killed"
    crash = RenderError("rendering failed: the child exited with status 1; stderr: Traceback (most recent call "
                        "last):\n  File x\nMemoryError\n", "crash")
    assert crash.reason == "rendering failed: the child exited with status 1: MemoryError"
    assert RenderError("template report.html.j2, line 1: boom", "template").reason == \
        "template report.html.j2, line 1: boom"


def test_the_render_child_dies_with_a_sigkilled_parent(settings, tmp_path):
    """A parent (the CLI here; the daemon in tests/daemon/test_reports_e2e.py) killed mid-render takes its render
    child along: no renderer runs on, and no PDF appears."""
    import os
    import signal

    out = tmp_path / "out"
    code = f"""
from datetime import date
from reporter.report.period import Period
from reporter.report.render import render_in_child
from reporter.settings import load_settings
settings = load_settings(None, **{settings.model_dump(mode="json")!r})
render_in_child(settings, Period.day(date(2026, 11, 24), "UTC"), {str(out)!r}, ("pdf",), timeout=120)
"""
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline, children = time.monotonic() + 60, []
        while time.monotonic() < deadline and not list(out.glob(f".{DAY}.pdf.*.tmp")):
            time.sleep(0.02)
        children = [p for p in psutil.Process(parent.pid).children() if "render_child" in " ".join(p.cmdline())]
        assert children, "no render child writing the PDF seen"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=2)
        assert [p for p in alive if running(p)] == []  # a zombie runs nothing (init reaps it)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    time.sleep(3)  # an orphaned renderer would finish its PDF meanwhile
    assert not (out / f"{DAY}.pdf").exists()


PRELOADED = r"""
import sys, threading, time
from reporter.report.render_child import _preload
_preload(["html", "pdf"], sys.argv[1])
for thread in threading.enumerate():
    if thread.name == "preload":
        thread.join(60)
print(sorted(name for name in ("weasyprint", "matplotlib") if name in sys.modules))
"""


@pytest.mark.parametrize(("kind", "loaded"), [("day", "['matplotlib', 'weasyprint']"),
                                              ("week", "['matplotlib', 'weasyprint']"), ("month", "[]")])
def test_weasyprint_and_matplotlib_load_during_the_build_of_a_day_or_week_not_a_month(kind, loaded):
    # a month's model holds ~100 MB of arrays: the ~55 MB of these imports come after it, not on top of it
    done = subprocess.run([sys.executable, "-P", "-c", PRELOADED, kind], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == loaded
