"""The sampling cycle of a fleet node (in process, real PostgreSQL and Redis): it ticks its leadership every cycle,
samples the app-wide collectors only while it leads, and gives leadership up, once, when its history write fails."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from reporter.api.latest import Latest
from reporter.collect.sampler import Sampler
from reporter.daemon.jobs import SampleJob
from reporter.fleet.leader import Leadership
from reporter.settings import load_settings
from reporter.snapshot import SAMPLED_BY_LEADER as BY_THE_LEADER
from reporter.store.history import History
from tests.conftest import PG_URL
from tests.fleet.test_leader import Events, schema_of


@pytest.fixture
def node(pg_schema_url, redis_url, redis_prefix, refused_port):
    """A fleet node "a" (a SampleJob with its Leadership) whose history waits at most 300 ms for a table lock."""
    url = pg_schema_url + "%20-clock_timeout%3D300"
    settings = load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix, sample_interval=1,
                             probe_timeout=0.5, history_url=url, host_name="a",
                             app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x",
                             ollama_url=f"http://127.0.0.1:{refused_port}")
    history = History(url, settings.ai_features, host="a")  # at head: hosts and leadership (epoch 0) too
    events = Events()
    leadership = Leadership(url, "a", "node-a", 10.0, on_elected=events.elected, on_deposed=events.deposed,
                            reconnect_seconds=0.0)
    sampler = Sampler.from_settings(settings, app_wide=lambda: leadership.leader)
    latest = Latest()
    job = SampleJob(sampler, history, latest, leadership=leadership)
    yield job, leadership, events, latest, url, schema_of(pg_schema_url)
    leadership.close()
    sampler.close()
    history.close()


def ai_error(latest: Latest) -> str | None:
    return latest.get().snapshot.ai.error


def test_a_leader_that_cannot_write_the_history_gives_up_leadership_once(node, caplog):
    job, leadership, events, latest, url, schema = node
    leadership.start()
    job()
    assert leadership.leader and ai_error(latest) != BY_THE_LEADER
    admin = create_engine(PG_URL)
    other = Leadership(url, "b", "node-b", 10.0, reconnect_seconds=0.0)
    try:
        with admin.begin() as conn:  # the samples table cannot be written while this transaction lasts
            conn.execute(text(f"LOCK TABLE {schema}.samples IN ACCESS EXCLUSIVE MODE"))
            job()
            assert not leadership.leader and events.calls[-1][0] == "deposed"
            assert "cannot write to the history" in events.calls[-1][1]
            job()  # still failing: no second line, no retake
            assert not leadership.leader and ai_error(latest) == BY_THE_LEADER
            other.start()
            assert other.leader and other.epoch == 2
        job()  # writes work again; the other node leads now
        assert not leadership.leader and latest.get().snapshot.errors.get("history") is None
        assert other.tick()
    finally:
        other.close()
        admin.dispose()
    given_up = [r.getMessage() for r in caplog.records if "leadership given up" in r.getMessage()]
    assert len(given_up) == 1 and "cannot write to the history" in given_up[0], given_up


def test_a_follower_takes_over_in_its_next_cycle_and_samples_the_app_wide_collectors(node):
    job, leadership, events, latest, url, _ = node
    first = Leadership(url, "b", "node-b", 10.0)
    try:
        first.start()
        leadership.start()
        job()
        assert not leadership.leader and ai_error(latest) == BY_THE_LEADER
        snapshot = latest.get().snapshot
        assert snapshot.usage is None and "ai" not in snapshot.errors
        first.close()
        job()  # its session ends within milliseconds: the next cycle takes over at the latest
        if not leadership.leader:
            job()
        assert leadership.leader and leadership.epoch == 2 and events.calls == [("elected", 2)]
        assert ai_error(latest) != BY_THE_LEADER
    finally:
        first.close()
