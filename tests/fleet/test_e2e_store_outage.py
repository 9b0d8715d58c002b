"""The store goes away (issue 10, item 4): a private PostgreSQL cluster stopped for a few seconds under three
nodes. Every node keeps its samples in its spool and writes them when the store is back (no gap in any host's
series); the leader gives up leadership and says so once; a leader is elected again; no notification is sent
twice under different ids."""

from __future__ import annotations

import time

import pytest

from tests.conftest import free_port, unavailable, wait_for, wait_until
from tests.fleet.helpers import INTERVAL, STEPPED_DOWN, TAKEOVER_BOUND, Fleet, duplicates, events, gaps

pytestmark = pytest.mark.slow

NAMES = ("alpha", "bravo", "charlie")
OUTAGE = 6.0  # seconds the store is down


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def cluster():
    from tests.pgcluster import ClusterUnavailable, PgCluster

    try:
        with PgCluster.running() as running:
            yield running
    except ClusterUnavailable as exc:
        unavailable(str(exc))


def test_store_down_and_back_no_gap_in_any_series_leadership_given_up_once(tmp_path, cluster, redis_url,
                                                                            redis_prefix, receiver):
    fleet = Fleet(tmp_path, cluster.url, redis_url, redis_prefix, receiver, free_port)
    try:
        fleet.start(*NAMES)
        first, _ = fleet.wait_leader()
        wait_for(lambda: {h for s, h in events(receiver, "host_marker") if s == "firing"} == set(NAMES), 20,
                 "every host's marker notified firing")
        old = fleet.leader()

        down_ms = now_ms()
        cluster.stop()
        time.sleep(OUTAGE / 2)
        spooling = {n.name: n.get("/healthz").text for n in fleet.nodes.values()}
        time.sleep(OUTAGE / 2)
        cluster.start()
        up_ms = now_ms()
        back = time.monotonic()
        new, took = fleet.wait_leader(after=first, timeout=30)
        print(f"store down {OUTAGE:g} s; a leader again {took:.2f} s after the restart ({new.host}, "
              f"epoch {new.epoch}; before {first.host}, epoch {first.epoch})")
        assert took <= TAKEOVER_BOUND + 2 * INTERVAL  # + the cycle that finds the store back, reconnecting
        for name, body in spooling.items():
            assert "spool" in body, (name, body)

        wait_for(lambda: all(fleet.sample_times(n) and fleet.sample_times(n)[-1] > up_ms + 2000 for n in NAMES),
                 20, "every node writing again")
        def holes():
            return {name: found for name in NAMES
                    if (found := gaps(fleet.sample_times(name), down_ms - 3000, up_ms + 2000, 2.5 * INTERVAL))}

        wait_until(lambda: not holes(), 20)
        print(f"spools drained {time.monotonic() - back:.2f} s after the restart")
        assert not holes(), holes()
        assert len(STEPPED_DOWN.findall(old.output())) == 1, old.output()[-3000:]

        time.sleep(3)
        assert not duplicates(receiver), duplicates(receiver)
        for name in NAMES:
            assert events(receiver, "host_marker", name) == [("firing", name)]
        assert events(receiver, "host_down") == []  # the store was down, not the hosts
    finally:
        print(fleet.tails(40))
        fleet.close()
