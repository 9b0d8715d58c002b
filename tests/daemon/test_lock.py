"""One daemon per SQLite history, whatever path leads to the file (symlink, ``./``, ``..``, hard link), and two
daemons starting at the same moment on a new file: one runs, the other exits 1 naming the first."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reporter.daemon.lock import HistoryLock
from reporter.daemon.run import StartupError
from tests.conftest import REDIS_URL, free_port
from tests.daemon.helpers import daemon_env, start_daemon


def lock_env(url: str, redis_url: str) -> dict[str, str]:
    """A test daemon's environment on the history at ``url``."""
    return daemon_env({"REPORTER_HISTORY_URL": url, "REPORTER_REDIS_URL": redis_url, "REPORTER_SAMPLE_INTERVAL": "1",
                       "REPORTER_PROBE_TIMEOUT": "0.5"}, free_port())


def test_lock_is_on_the_real_file_through_symlink_dot_and_hard_link(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "other").mkdir()
    first = HistoryLock(data / "history.db")
    first.acquire()  # creates the file: a hard link needs one
    try:
        (tmp_path / "link.db").symlink_to(data / "history.db")
        os.link(data / "history.db", tmp_path / "other" / "hard.db")
        for path in (tmp_path / "link.db", tmp_path / "other" / ".." / "data" / "." / "history.db",
                     tmp_path / "other" / "hard.db", tmp_path / "data" / "history.db"):
            second = HistoryLock(path)
            with pytest.raises(StartupError) as raised:
                second.acquire()
            message = str(raised.value)
            assert message.startswith(f"another reporter (pid {os.getpid()}) is already using "), message
            second.release()
    finally:
        first.release()
    again = HistoryLock(tmp_path / "other" / "hard.db")  # released: anyone may take it now
    again.acquire()
    again.release()


def test_relative_dot_path_meets_the_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = HistoryLock(tmp_path / "history.db")
    first.acquire()
    try:
        with pytest.raises(StartupError, match=r"another reporter \(pid \d+\) is already using"):
            HistoryLock(Path("./history.db")).acquire()
    finally:
        first.release()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One daemon on ``data/history.db`` in a module folder, shared by the cases of
    :func:`test_second_daemon_through_another_path_exits_1` (each only tries a second daemon, refused, beside
    it); stopped with SIGTERM after them, which must exit 0."""
    folder = tmp_path_factory.mktemp("locked")
    data = folder / "data"
    proc = start_daemon(folder, {"REPORTER_HISTORY_URL": f"sqlite:///{data / 'history.db'}",
                                 "REPORTER_REDIS_URL": REDIS_URL, "REPORTER_SAMPLE_INTERVAL": "1",
                                 "REPORTER_PROBE_TIMEOUT": "0.5"}, free_port(), log_file=folder / "daemon.log")
    yield folder, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)
    assert proc.returncode == 0, (folder / "daemon.log").read_text()[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["symlink", "dot", "hardlink", "uri", "uri-relative", "uri-encoded"])
def test_second_daemon_through_another_path_exits_1(running, redis_url, how):
    folder, proc = running  # the running daemon's folder (its history: data/history.db) and process
    data = folder / "data"
    if how == "symlink":
        (folder / "alias.db").symlink_to(data / "history.db")
        url = f"sqlite:///{folder / 'alias.db'}"
    elif how == "dot":
        url = "sqlite:///./data/../data/./history.db"
    elif how == "uri":  # an SQLite URI filename: SQLite opens /…/data/history.db, the lock must too
        url = f"sqlite:///file:{data / 'history.db'}?uri=true&mode=rwc&cache=private"
    elif how == "uri-relative":
        url = "sqlite:///file:./data/history.db?uri=true"
    elif how == "uri-encoded":  # %68 is "h"; "file://localhost/" is an absolute path too
        url = f"sqlite:///file://localhost{data}/%2568istory.db?uri=true"
    else:
        (folder / "elsewhere").mkdir()
        os.link(data / "history.db", folder / "elsewhere" / "copy.db")
        url = f"sqlite:///{folder / 'elsewhere' / 'copy.db'}"
    second = subprocess.run([sys.executable, "-m", "reporter", "run"], cwd=folder,
                            env=lock_env(url, redis_url), capture_output=True, text=True, timeout=30)
    assert second.returncode == 1, second.stderr
    assert f"another reporter (pid {proc.pid}) is already using" in second.stderr
    assert "Traceback" not in second.stderr
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("file:")) == []  # no junk folder
    assert proc.poll() is None  # the first daemon runs on


# Each daemon process imports everything first, then waits for the "go" file, so that both reach the
# history in the same millisecond (a plain start lets import-time jitter hide the race).
AT_ONCE = """
import os, sys, time
import alembic.command, reporter.cli, reporter.daemon.run, reporter.store.history  # warm: the race is what follows
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.0005)
sys.argv = ["reporter", "run"]
reporter.cli.main()
"""


@pytest.mark.slow
def test_two_daemons_starting_at_once_on_a_new_file(tmp_path, redis_url):
    for attempt in range(2):  # twice: the race window differs from run to run
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'new' / 'history.db'}"
        go = folder / "go"
        procs = [subprocess.Popen([sys.executable, "-c", AT_ONCE, str(go)], cwd=folder,
                                  env=lock_env(url, redis_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        try:
            time.sleep(2.5)  # both have imported and wait for the file
            go.touch()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and all(p.poll() is None for p in procs):
                time.sleep(0.05)
            losers = [p for p in procs if p.poll() is not None]
            assert len(losers) == 1, "one daemon must stop at the lock"
            loser = losers[0]
            winner = next(p for p in procs if p is not loser)
            err = loser.communicate(timeout=10)[1]
            assert "already exists" not in err and "Traceback" not in err, err
            assert loser.returncode == 1, err
            assert f"another reporter (pid {winner.pid}) is already using" in err
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            outs = [p.communicate(timeout=15) for p in procs]
        assert winner.returncode == 0, outs
