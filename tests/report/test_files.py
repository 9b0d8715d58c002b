"""Report files honour the umask, as any program's files do (no fixed 0644, no mkstemp 0600)."""

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reporter.report.files import new_file_mode, remove_stale_temps, write_atomic
from reporter.store.history import History
from reporter.store.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), [(0o077, 0o600), (0o022, 0o644), (0o027, 0o640)])
def test_write_atomic_honours_the_umask(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        assert new_file_mode() == expected
        path = write_atomic(tmp_path / "out" / "2026-03-10.top_users.csv", "a,b\n")
        overwritten = write_atomic(tmp_path / "out" / "2026-03-10.html", b"<html>")
        write_atomic(overwritten, b"<html>again")  # a rewrite gets the same mode
    finally:
        os.umask(previous)
    assert mode(path) == expected
    assert mode(overwritten) == expected


@pytest.fixture(scope="module")
def day_history(tmp_path_factory):
    folder = tmp_path_factory.mktemp("umask")
    day = datetime.now(UTC).date() - timedelta(days=1)
    history = History(f"sqlite:///{folder / 'history.db'}", ["grammar", "quiz"])
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    generate(history, start, start + timedelta(hours=6), interval=60)
    history.close()
    return folder, day


@pytest.mark.parametrize(("umask", "expected"), [(0o077, 0o600), (0o022, 0o644)])
def test_report_command_files_follow_the_umask(day_history, tmp_path, umask, expected):
    folder, day = day_history
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env.update({"REPORTER_HISTORY_URL": f"sqlite:///{folder / 'history.db'}", "REPORTER_TIMEZONE": "UTC",
                "REPORTER_AI_FEATURES": "grammar,quiz", "REPORTER_REPORT_TOP_N": "1"})
    out = tmp_path / "reports"
    result = subprocess.run(
        ["/bin/sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", sys.executable, "-m", "reporter", "report",
         "--date", day.isoformat(), "--format", "html,pdf", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    files = sorted(out.iterdir())
    names = {p.name for p in files}
    assert {f"{day}.html", f"{day}.pdf"} <= names and any(n.endswith(".csv") for n in names), names
    assert {p.name: oct(mode(p)) for p in files} == {p.name: oct(expected) for p in files}


def test_dockerfile_runs_the_daemon_under_umask_027(tmp_path):
    """The image's ENTRYPOINT, run with a stand-in ``reporter`` that prints its umask and arguments."""
    import json
    import re

    text = (ROOT / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    fake = tmp_path / "reporter"
    fake.write_text('#!/bin/sh\nprintf "%s %s\\n" "$(umask)" "$*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run([*entrypoint, *cmd], env=env, capture_output=True, text=True, timeout=10)
    assert result.stdout.split() == ["0027", "run"], result
    result = subprocess.run([*entrypoint, "check-config", "--x"], env=env, capture_output=True, text=True, timeout=10)
    assert result.stdout.split() == ["0027", "check-config", "--x"], result


def test_remove_stale_temps_removes_only_old_temporary_report_files(tmp_path):
    now = 1_800_000_000.0
    names = {".2026-11-24.pdf.k3j_9x2a.tmp": 400, ".2026-11-24.html.abc.tmp": 400, ".2026-11-24.top_users.csv.x.tmp": 400,
             ".2026-11-25.pdf.fresh.tmp": 100,  # a rendering may be writing it now
             "2026-11-24.pdf": 400, ".notes.tmp": 400, ".2026-11-24.pdf": 400, "x.2026-11-24.pdf.a.tmp": 400}
    for name, age in names.items():
        (tmp_path / name).write_bytes(b"")  # a kill before the first write leaves 0 bytes
        os.utime(tmp_path / name, (now - age, now - age))
    (tmp_path / ".2026-11-24.pdf.dir.tmp").mkdir()
    os.utime(tmp_path / ".2026-11-24.pdf.dir.tmp", (now - 400, now - 400))
    removed = remove_stale_temps(tmp_path, 300, now)
    assert sorted(p.name for p in removed) == [".2026-11-24.html.abc.tmp", ".2026-11-24.pdf.k3j_9x2a.tmp",
                                               ".2026-11-24.top_users.csv.x.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".2026-11-25.pdf.fresh.tmp", "2026-11-24.pdf", ".notes.tmp", ".2026-11-24.pdf", "x.2026-11-24.pdf.a.tmp",
         ".2026-11-24.pdf.dir.tmp"])
    assert remove_stale_temps(tmp_path / "missing", 300, now) == []
