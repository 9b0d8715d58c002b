"""A leader cut off from the network (issue 10, item 3): the node runs in its own network namespace and reaches
the store (a private cluster listening on the namespace link) over a veth pair; the link goes down silently (no
RST, no FIN). PostgreSQL's keepalives on the lock session (set by the leader) end it and free the lock; another
node leads within two sample intervals plus the keepalive time. The cut-off node spools, steps down, and when
the link is back its spooled samples fill its series; ``host_down`` fires and resolves once."""

from __future__ import annotations

import time

import pytest

from tests.conftest import free_port, wait_for, wait_until
from tests.fleet.helpers import INTERVAL, STEPPED_DOWN, TAKEOVER_BOUND, Fleet, duplicates, events, gaps
from tests.receiver import Receiver

pytestmark = pytest.mark.slow


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_cut_off_leader_is_replaced_in_time_and_its_spool_fills_the_gap(tmp_path, netns, redis_url,
                                                                          redis_prefix):
    from tests.fleet.cluster import ListeningCluster

    receiver = Receiver(host=netns.host_ip)  # reachable from both sides
    cluster = ListeningCluster(f"127.0.0.1,{netns.host_ip}")
    fleet = None
    try:
        cluster.init().start()
        fleet = Fleet(tmp_path, cluster.url, redis_url, redis_prefix, receiver, free_port)
        alpha = fleet.add("alpha", address=netns.node_ip, command=netns.exec,
                          extra={"REPORTER_HISTORY_URL": cluster.url_at(netns.host_ip),
                                 "REPORTER_REDIS_URL": f"redis://{netns.host_ip}:6379/0"}).start()
        first, _ = fleet.wait_leader()
        assert first.host == "alpha"
        fleet.start("bravo", "charlie")
        wait_for(lambda: {h for s, h in events(receiver, "host_marker") if s == "firing"} == {
            "alpha", "bravo", "charlie"}, 20, "every host's marker notified firing")

        cut_ms = now_ms()
        netns.cut()
        new, took = fleet.wait_leader(after=first, timeout=60)
        print(f"takeover after the leader's link was cut: {took:.2f} s (bound {TAKEOVER_BOUND:g} s), "
              f"new leader {new.host}")
        assert new.host != "alpha"
        wait_for(lambda: ("firing", "alpha") in events(receiver, "host_down"), 20, "host_down{alpha} notified")
        wait_for(lambda: STEPPED_DOWN.search(alpha.output()), 20, "alpha stepping down")
        assert len(STEPPED_DOWN.findall(alpha.output())) == 1, "alpha said it stepped down more than once"
        time.sleep(4)  # alpha keeps sampling, cut off

        netns.restore()
        restored_ms = now_ms()
        back = time.monotonic()
        wait_for(lambda: ("resolved", "alpha") in events(receiver, "host_down"), 30, "host_down{alpha} resolved")
        print(f"host_down resolved {time.monotonic() - back:.2f} s after the link came back")
        wait_for(lambda: fleet.sample_times("alpha")[-1] > restored_ms + 2000, 20, "alpha writing again")
        # its spool fills the time it was cut off
        wait_until(lambda: not gaps(fleet.sample_times("alpha"), cut_ms - 3000, restored_ms + 2000,
                                    longest=2.5 * INTERVAL), 20)
        holes = gaps(fleet.sample_times("alpha"), cut_ms - 3000, restored_ms + 2000, longest=2.5 * INTERVAL)
        print(f"alpha's series after the link came back: holes {[(b - a) / 1000 for a, b in holes]} s")

        time.sleep(3)
        assert not duplicates(receiver), duplicates(receiver)
        assert events(receiver, "host_down") == [("firing", "alpha"), ("resolved", "alpha")]
        for name in ("alpha", "bravo", "charlie"):
            assert events(receiver, "host_marker", name) == [("firing", name)]
        assert took <= TAKEOVER_BOUND
        # the lock check runs on the lock connection's own thread: the cut-off leader's series has no hole
        assert not holes, holes
    finally:
        if fleet is not None:
            print(fleet.tails(40))
            fleet.close()
        cluster.close()
        receiver.stop()
