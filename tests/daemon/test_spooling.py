"""The sample job's spooler (reporter/daemon/spooling.py) on a real history: bounded drains, and its log lines
(once when spooling starts, rarely reminded, once when drained)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from reporter.daemon.spooling import REMIND_SECONDS, Spooler
from reporter.store.spool import Spool
from tests.snapshots import snapshot

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_long_spool_drains_within_the_budget_of_each_cycle_oldest_first(tmp_path, history):
    spool = Spool(tmp_path / "spool", 64 << 20, 86400.0)
    spooler = Spooler(spool, history, interval=0.2)  # budget 0.1 s per cycle
    for i in range(1500):
        spooler.keep(snapshot(when=START + timedelta(seconds=i), cpu=float(i % 100)))
    cycles = 0
    while len(spooler):
        started = time.monotonic()
        spooler.drain()
        assert time.monotonic() - started < 0.3  # the budget plus one write
        cycles += 1
    assert cycles > 1
    series = history.series("cpu_percent", START, START + timedelta(hours=1))
    assert [ts for ts, _ in series] == sorted(ts for ts, _ in series)
    assert [v for _, v in series] == [float(i % 100) for i in range(1500)]


def test_spooling_is_logged_once_reminded_rarely_and_its_end_once(tmp_path, history, caplog):
    clock = Clock()
    spooler = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="reporter.daemon.spooling"):
        for i in range(100):  # 100 samples 10 s apart: ~16 min
            clock.now = i * 10.0
            spooler.keep(snapshot(when=START + timedelta(seconds=10 * i)))
        assert spooler.describe() == f"spooling 100 samples to {(tmp_path / 'spool').resolve()}"
        spooler.drain()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"history unreachable; spooling samples to {(tmp_path / 'spool').resolve()}")
    assert lines[1].startswith("history still unreachable after") and clock.now >= REMIND_SECONDS
    assert lines[2].startswith("spool: wrote 100 spooled samples to the history in order")
    assert spooler.describe() is None and len(spooler) == 0


def test_a_spool_left_by_the_previous_run_is_announced_and_drained(tmp_path, history, caplog):
    first = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=10)
    for i in range(3):
        first.keep(snapshot(when=START + timedelta(seconds=10 * i)))
    first.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="reporter.daemon.spooling"):
        again = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=10)
        again.drain()
    lines = [r.getMessage() for r in caplog.records]
    assert "3 samples spooled before this start" in lines[0]
    assert lines[-1].startswith("spool: wrote 3 spooled samples")
    assert len(history.series("cpu_percent", START, START + timedelta(hours=1))) == 3
