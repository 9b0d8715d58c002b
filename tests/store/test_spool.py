"""The sample spool (reporter/store/spool.py): order, bounds, torn lines, restarts."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from reporter.store.history import SampleRow
from reporter.store.spool import ROW_FIELDS, Spool

NOW = 1_800_000_000.0  # the tests' clock (Unix seconds)


def row(i: int, ts: int | None = None) -> SampleRow:
    """Sample number ``i`` (one per second before NOW), with a usage list every 5th."""
    extra = {"host": "node-a"} if "host" in ROW_FIELDS else {}
    return SampleRow(ts=ts if ts is not None else int(NOW * 1000) - 100_000 + i * 1000,
                     values={"cpu_percent": float(i), "memory_percent": None},
                     lists={"top_users": f'[{{"n":{i}}}]'} if i % 5 == 0 else {}, **extra)


def spool(path, max_bytes=1 << 20, max_age=86400.0, segment_bytes=None) -> Spool:
    return Spool(path, max_bytes, max_age, segment_bytes=segment_bytes, clock=lambda: NOW)


def drain_all(s: Spool) -> list[SampleRow]:
    out: list[SampleRow] = []
    s.drain(out.append)
    return out


def segments(path) -> list[str]:
    return sorted(p.name for p in path.glob("segment-*.jsonl"))


def test_rows_drain_oldest_first_across_segments_and_are_kept_intact(tmp_path):
    s = spool(tmp_path / "spool", segment_bytes=300)
    rows = [row(i) for i in range(30)]
    for r in rows:
        s.append(r)
    assert len(s) == 30 and len(segments(tmp_path / "spool")) > 3
    assert drain_all(s) == rows
    assert len(s) == 0 and segments(tmp_path / "spool") == []
    s.append(row(99))  # appending after a full drain starts a fresh segment
    assert drain_all(s) == [row(99)]


def test_a_bounded_drain_resumes_where_it_stopped_also_after_a_restart(tmp_path):
    s = spool(tmp_path, segment_bytes=300)
    rows = [row(i) for i in range(12)]
    for r in rows:
        s.append(r)
    first: list[SampleRow] = []
    done = s.drain(first.append, max_rows=5)
    assert (done.written, done.remaining) == (5, 7) and first == rows[:5]

    def refuse(_row):
        raise ConnectionError("store down")

    with pytest.raises(ConnectionError):
        s.drain(refuse)
    assert len(s) == 7  # the refused row stays first
    s.close()
    again = spool(tmp_path, segment_bytes=300)  # the node restarts
    assert len(again) == 7
    again.append(row(50))
    assert drain_all(again) == [*rows[5:], row(50)]


def test_a_restart_keeps_every_spooled_row(tmp_path):
    s = spool(tmp_path)
    for i in range(5):
        s.append(row(i))
    s.close()
    again = spool(tmp_path)
    assert len(again) == 5
    for i in range(5, 8):
        again.append(row(i))
    assert len(segments(tmp_path)) == 2  # never appended after a line of the previous process
    assert drain_all(again) == [row(i) for i in range(8)]


def test_over_its_size_the_oldest_segment_is_dropped_with_one_warning(tmp_path, caplog):
    s = spool(tmp_path, max_bytes=2000, segment_bytes=500)
    rows = [row(i) for i in range(60)]
    with caplog.at_level(logging.WARNING, logger="reporter.store.spool"):
        for r in rows:
            s.append(r)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "REPORTER_SPOOL_MAX_BYTES" in warnings[0].getMessage()
    assert s.bytes <= 2000 and s.dropped > 0
    kept = drain_all(s)
    assert kept == rows[-len(kept):] and len(kept) + s.dropped == 60  # the newest, contiguous, in order


def test_rows_older_than_the_max_age_are_dropped_with_one_warning(tmp_path, caplog):
    s = spool(tmp_path, max_age=300.0)
    old = [row(i, ts=int((NOW - 3600) * 1000) + i) for i in range(4)]
    recent = [row(i) for i in range(10, 13)]
    for r in [*old, *recent]:
        s.append(r)
    with caplog.at_level(logging.WARNING, logger="reporter.store.spool"):
        done = s.drain(lambda r: None)
        assert done.written == 3 and done.dropped == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "REPORTER_SPOOL_MAX_AGE" in warnings[0] and "300 s" in warnings[0]


def test_whole_segments_past_the_max_age_are_dropped_when_appending(tmp_path):
    s = spool(tmp_path, max_age=300.0, segment_bytes=300)
    for i in range(10):
        s.append(row(i, ts=int((NOW - 3600) * 1000) + i))
    for i in range(10):
        s.append(row(i))
    assert 10 <= len(s) < 20
    kept = drain_all(s)
    assert kept[-10:] == [row(i) for i in range(10)] and all(r.ts > (NOW - 300) * 1000 for r in kept)


WRITER = textwrap.dedent("""
    import os, sys, time
    import reporter.store.spool as spool_module
    from tests.store.test_spool import row, spool

    s = spool(sys.argv[1])
    for i in range(5):
        s.append(row(i))
    real_write = os.write

    def torn_write(fd, data):  # the sixth row: half of it reaches the file, then the writer is killed
        real_write(fd, bytes(data[: len(data) // 2]))
        print("torn", flush=True)
        time.sleep(60)

    spool_module.os.write = torn_write
    s.append(row(5))
""")


def test_a_torn_last_line_of_a_killed_writer_is_skipped_with_one_warning(tmp_path, caplog):
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "torn"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    (name,) = segments(tmp_path)
    assert not (tmp_path / name).read_bytes().endswith(b"\n")  # really torn
    s = spool(tmp_path)
    s.append(row(6))  # the restarted node spools on
    with caplog.at_level(logging.WARNING, logger="reporter.store.spool"):
        assert drain_all(s) == [row(i) for i in (0, 1, 2, 3, 4, 6)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreadable line" in warnings[0] and name in warnings[0]
    assert len(s) == 0 and segments(tmp_path) == []


def test_rows_survive_a_writer_killed_while_appending(tmp_path):
    script = textwrap.dedent("""
        import sys
        from tests.store.test_spool import row, spool
        s = spool(sys.argv[1], max_bytes=1 << 30)  # never the size bound: every row appended is kept
        i = 0
        while True:
            s.append(row(i % 90, ts=1_700_000_000_000 + i))
            if i == 50:
                print("going", flush=True)
            i += 1
    """)
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "going"
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    s = Spool(tmp_path, 1 << 30, 86400.0, clock=lambda: 1_700_000_100.0)
    rows = drain_all(s)
    assert len(rows) > 50
    assert [r.ts for r in rows] == list(range(1_700_000_000_000, 1_700_000_000_000 + len(rows)))


def test_a_full_disk_refuses_the_row_whole_and_the_spool_goes_on_after(tmpfs, caplog):
    from tests.conftest import fill

    s = spool(tmpfs / "spool")
    s.append(row(0))
    filler = fill(tmpfs)
    with pytest.raises(OSError):
        for i in range(1, 200):  # the page of the open segment may still take a few rows
            s.append(row(i))
    held = len(s)
    filler.unlink()
    s.append(row(500))
    with caplog.at_level(logging.WARNING, logger="reporter.store.spool"):
        rows = drain_all(s)
    assert [r.ts for r in rows] == [row(i).ts for i in range(held)] + [row(500).ts]
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]  # no torn line left behind
