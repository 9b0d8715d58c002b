"""The sample job's store writer (reporter/daemon/spooling.py) on a real history: the sampling thread never
waits long, a long spool drains oldest first, and the log lines (once when spooling starts, rarely reminded,
once when drained)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from reporter.daemon.spooling import REMIND_SECONDS, Spooler
from reporter.store.spool import Spool
from tests.conftest import wait_for
from tests.snapshots import snapshot

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_long_spool_drains_oldest_first_while_sampling_goes_on(tmp_path, history, caplog):
    caplog.set_level(logging.INFO, logger="reporter.daemon.spooling")
    spool = Spool(tmp_path / "spool", 64 << 20, 86400.0)
    for i in range(500):  # what a previous run spooled
        spool.append(history.prepare(snapshot(when=START + timedelta(seconds=i), cpu=float(i % 100))))
    spooler = Spooler(spool, history, interval=0.2)
    spooler.start()
    try:
        for i in range(500, 520):  # new samples meanwhile: spooled behind the old ones, never waited on
            started = time.monotonic()
            spooler.store(snapshot(when=START + timedelta(seconds=i), cpu=float(i % 100)))
            assert time.monotonic() - started < 0.15
            time.sleep(0.01)
        wait_for(lambda: len(spooler) == 0, 30, "the spool drained")
        spooler.store(snapshot(when=START + timedelta(seconds=520), cpu=20.0))  # written directly again
    finally:
        spooler.close()
    series = history.series("cpu_percent", START, START + timedelta(hours=1))
    assert [v for _, v in series] == [float(i % 100) for i in range(521)]
    lines = [r.getMessage() for r in caplog.records]
    wrote = [line for line in lines if "spooled samples to the history" in line]
    assert len(wrote) == 1 and not [line for line in lines if "history unreachable" in line], lines


def test_spooling_is_logged_once_reminded_rarely_and_its_end_once(tmp_path, history, caplog):
    clock = Clock()
    spooler = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="reporter.daemon.spooling"):
        for i in range(100):  # 100 samples 10 s apart: ~16 min
            clock.now = i * 10.0
            spooler.keep_row(history.prepare(snapshot(when=START + timedelta(seconds=10 * i))))
        assert spooler.describe() == f"spooling 100 samples to {(tmp_path / 'spool').resolve()}"
        assert spooler.drain()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"history unreachable; spooling samples to {(tmp_path / 'spool').resolve()}")
    assert lines[1].startswith("history still unreachable after") and clock.now >= REMIND_SECONDS
    assert lines[2].startswith("spool: wrote 100 spooled samples to the history in order")
    assert spooler.describe() is None and len(spooler) == 0


def test_a_spool_left_by_the_previous_run_is_announced_and_drained(tmp_path, history, caplog):
    first = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=10)
    for i in range(3):
        first.keep_row(history.prepare(snapshot(when=START + timedelta(seconds=10 * i))))
    first.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="reporter.daemon.spooling"):
        again = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=10)
        again.start()
        wait_for(lambda: len(again) == 0, 10, "the spool drained")
        again.close()
    lines = [r.getMessage() for r in caplog.records]
    assert "3 samples spooled before this start" in lines[0]
    assert lines[-1].startswith("spool: wrote 3 spooled samples")
    assert len(history.series("cpu_percent", START, START + timedelta(hours=1))) == 3


def test_a_hung_store_never_holds_the_sampling_thread_and_loses_nothing(tmp_path, pg_cluster):
    from reporter.store.history import History

    history = History(pg_cluster.url, ["grammar"])
    spooler = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=0.4)  # waits <= 0.2 s
    spooler.start()
    try:
        spooler.store(snapshot(when=START, cpu=0.0))
        pg_cluster.freeze()  # connections accepted, nothing answers: a write would wait until the thaw
        try:
            for i in range(1, 6):
                started = time.monotonic()
                spooler.store(snapshot(when=START + timedelta(seconds=i), cpu=float(i)))
                assert time.monotonic() - started < 0.4
            assert len(spooler) >= 4 and spooler.spooling  # the first one is in flight
        finally:
            pg_cluster.thaw()
        wait_for(lambda: len(spooler) == 0, 20, "the spool drained")
        assert not spooler.spooling
        spooler.store(snapshot(when=START + timedelta(seconds=6), cpu=6.0))
    finally:
        spooler.close()
    series = history.series("cpu_percent", START, START + timedelta(hours=1))
    history.close()
    assert [v for _, v in series] == [float(i) for i in range(7)]


def test_a_spooled_sample_the_history_already_has_is_not_written_twice(tmp_path, history):
    spool = Spool(tmp_path / "spool", 64 << 20, 86400.0)
    rows = [history.prepare(snapshot(when=START + timedelta(seconds=i), cpu=float(i))) for i in range(3)]
    history.write_row(rows[0])  # committed, then the node was killed before the spool moved on
    for row in rows:
        spool.append(row)
    spooler = Spooler(spool, history, interval=1)
    assert spooler.drain()
    series = history.series("cpu_percent", START, START + timedelta(hours=1))
    assert series == [(r.ts, float(i)) for i, r in enumerate(rows)]


def test_a_leader_whose_samples_go_to_the_spool_gives_leadership_up_and_loses_no_sample(
        tmp_path, pg_schema_url, redis_url, redis_prefix, refused_port, caplog):
    from sqlalchemy import create_engine, text

    from reporter.api.latest import Latest
    from reporter.collect.sampler import Sampler
    from reporter.daemon.jobs import SampleJob
    from reporter.fleet.leader import Leadership
    from reporter.settings import load_settings
    from reporter.store.history import History
    from tests.conftest import PG_URL

    url = pg_schema_url + "%20-clock_timeout%3D300"  # a locked table fails a write within 300 ms
    schema = pg_schema_url.rpartition("%3D")[2]
    settings = load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix, sample_interval=1,
                             probe_timeout=0.5, history_url=url, host_name="a",
                             app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x",
                             ollama_url=f"http://127.0.0.1:{refused_port}")
    history = History(url, settings.ai_features, host="a")
    leadership = Leadership(url, "a", "node-a", 10.0, reconnect_seconds=0.0)
    sampler = Sampler.from_settings(settings, app_wide=lambda: leadership.leader)
    spooler = Spooler(Spool(tmp_path / "spool", 64 << 20, 86400.0), history, interval=1)
    latest = Latest()
    job = SampleJob(sampler, history, latest, leadership=leadership, spooler=spooler)
    admin = create_engine(PG_URL)
    spooler.start()
    leadership.start()
    try:
        job()
        assert leadership.leader
        with admin.begin() as conn:  # the samples table cannot be written while this transaction lasts
            conn.execute(text(f"LOCK TABLE {schema}.samples IN ACCESS EXCLUSIVE MODE"))
            job()
            assert spooler.spooling and not leadership.leader
            job()
            assert len(spooler) == 2 and not leadership.leader
            assert latest.get().snapshot.spooled == 2
        wait_for(lambda: len(spooler) == 0, 10, "the spool drained")
        job()
        job()
        assert leadership.leader  # led again once the samples are written
    finally:
        leadership.close()
        spooler.close()
        sampler.close()
        admin.dispose()
    with history.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM samples WHERE host = 'a'")).scalar_one()
    history.close()
    assert count == 5
    given_up = [r.getMessage() for r in caplog.records if "leadership given up" in r.getMessage()]
    assert len(given_up) == 1 and "cannot write to the history" in given_up[0], given_up


def test_a_batch_of_spooled_rows_is_written_in_one_go_and_refused_whole_on_a_taken_time(pg_schema_url):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from reporter.base.ms import from_ms
    from reporter.store.history import History
    from reporter.store.hosts import HostRegistry

    history = History(pg_schema_url, ["grammar"], host="a")
    try:
        rows = [history.prepare(snapshot(when=START + timedelta(seconds=i), cpu=float(i))) for i in range(3)]
        history.write_rows(rows)
        assert history.series("cpu_percent", START, START + timedelta(hours=1)) == [(r.ts, float(i))
                                                                                  for i, r in enumerate(rows)]
        host = HostRegistry(history.engine).get("a")
        assert host is not None and host.last_sample == from_ms(rows[-1].ts)
        more = [history.prepare(snapshot(when=START + timedelta(seconds=i), cpu=float(i))) for i in (3, 2)]
        with pytest.raises(IntegrityError):
            history.write_rows(more)  # 2 is taken: nothing of the batch is stored
        assert len(history.series("cpu_percent", START, START + timedelta(hours=1))) == 3
    finally:
        history.close()
