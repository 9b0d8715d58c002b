"""Failover of the leader in a fleet of three nodes on the shared PostgreSQL (issue 10, item 3): killed
(SIGKILL) or its lock connection terminated (``pg_terminate_backend``). Another node leads within two sample
intervals plus the keepalive time, alert state continues from the store, nothing already sent is sent again under
a new id, a resolution that happened during the failover is sent exactly once. Notifications are counted at a
real webhook receiver by their ``webhook-id``."""

from __future__ import annotations

import re
import signal
import time

import pytest
import redis

from tests.conftest import wait_for
from tests.fleet.helpers import FROZEN_BOUND, STEPPED_DOWN, TAKEOVER_BOUND, duplicates, events

pytestmark = pytest.mark.slow

NAMES = ("alpha", "bravo", "charlie")


@pytest.fixture
def counter(redis_url, redis_prefix):
    """Set the Redis counter ``ai.total_requests`` reads (the app-wide rule ``demo_requests_high``: > 100)."""
    client = redis.Redis.from_url(redis_url)
    yield lambda value: client.set(redis_prefix + "total_requests", value)
    client.close()


def firing_everywhere(fleet):
    """Wait until the app-wide alert and every host's marker were notified firing; returns the leadership."""
    leader, _ = fleet.wait_leader()

    def done():
        markers = {host for status, host in events(fleet.receiver, "host_marker") if status == "firing"}
        return events(fleet.receiver, "demo_requests_high") == [("firing", None)] and markers == set(NAMES)

    wait_for(done, 20, "demo_requests_high and host_marker of every host notified firing")
    return leader


def settle(fleet, seconds: float = 3.0) -> None:
    """Give a duplicate time to arrive (several sample intervals and delivery backoffs)."""
    time.sleep(seconds)
    assert not duplicates(fleet.receiver), duplicates(fleet.receiver)


def test_leader_killed_another_leads_in_time_nothing_resent_and_the_resolution_sent_once(fleet, counter):
    counter(150)
    fleet.start(*NAMES)
    first = firing_everywhere(fleet)
    old = fleet.leader()

    old.kill()
    counter(50)  # the alert's condition ends while no node leads
    new, took = fleet.wait_leader(after=first)
    print(f"takeover after SIGKILL of the leader: {took:.2f} s (bound {TAKEOVER_BOUND:g} s)")
    assert new.host != old.name and new.epoch == first.epoch + 1
    assert took <= TAKEOVER_BOUND

    wait_for(lambda: ("resolved", None) in events(fleet.receiver, "demo_requests_high"), 15,
             "the resolution of demo_requests_high delivered by the new leader")
    settle(fleet)
    assert events(fleet.receiver, "demo_requests_high") == [("firing", None), ("resolved", None)]
    # the survivors' markers stay firing without being notified again; the dead host's is neither resolved
    # nor re-sent (its values are missing, and host_down says why)
    for name in NAMES:
        assert events(fleet.receiver, "host_marker", name) == [("firing", name)]


def test_a_notification_the_dead_leader_could_not_deliver_goes_out_once_under_its_id(fleet, counter):
    counter(150)
    fleet.start(*NAMES)
    first = firing_everywhere(fleet)
    old = fleet.leader()

    fleet.receiver.script = [(503, {})] * 1000  # the receiver refuses: the resolution waits in the outbox
    counter(50)
    queued = wait_for(lambda: re.findall(r"notification (\S+) to count queued: .*demo_requests_high resolved",
                                         old.output()), 15, "the resolution queued by the old leader")
    old.kill()
    fleet.receiver.script = []
    new, took = fleet.wait_leader(after=first)
    assert new.host != old.name and took <= TAKEOVER_BOUND
    wait_for(lambda: ("resolved", None) in events(fleet.receiver, "demo_requests_high"), 20,
             "the queued resolution delivered by the new leader")
    settle(fleet)
    assert events(fleet.receiver, "demo_requests_high") == [("firing", None), ("resolved", None)]
    resolved_ids = {r.headers["webhook-id"] for r in fleet.receiver.received
                    if any(a["status"] == "resolved" for a in r.json()["alerts"])}
    assert resolved_ids == {queued[0]}  # the old leader's notification, not a new one


def test_lock_connection_terminated_the_leader_steps_down_and_nothing_is_sent_twice(fleet, counter):
    counter(150)
    fleet.start(*NAMES)
    first = firing_everywhere(fleet)
    old = fleet.leader()

    ended = fleet.terminate_lock(old)
    new, took = fleet.wait_leader(after=first)
    print(f"takeover after pg_terminate_backend({ended}) of the leader's lock connection: {took:.2f} s; "
          f"new leader {new.host} (old {old.name})")
    assert took <= TAKEOVER_BOUND
    wait_for(lambda: "leadership lost" in old.output(), 10, "the old leader logging that it stepped down")
    assert old.output().count("leadership lost") == 1
    assert old.alive  # it goes on sampling as a follower

    counter(50)  # resolved under the new leader
    wait_for(lambda: ("resolved", None) in events(fleet.receiver, "demo_requests_high"), 15,
             "the resolution of demo_requests_high")
    settle(fleet)
    assert events(fleet.receiver, "demo_requests_high") == [("firing", None), ("resolved", None)]
    for name in NAMES:
        assert events(fleet.receiver, "host_marker", name) == [("firing", name)]


def test_a_frozen_leader_is_replaced_and_steps_down_once_when_it_resumes(fleet, counter):
    """SIGSTOP (a hung process or VM whose kernel still answers TCP keepalives): its lock session no longer runs a
    statement each sample, PostgreSQL's ``idle_session_timeout`` ends it, and another node leads within three
    intervals + the keepalive + one interval; that node sends the resolution that happened meanwhile, once. The
    frozen node, resumed, steps down at its first sample (one line) and sends nothing."""
    counter(150)
    fleet.start(*NAMES)
    first = firing_everywhere(fleet)
    old = fleet.leader()

    old.signal(signal.SIGSTOP)
    try:
        counter(50)
        new, took = fleet.wait_leader(after=first, timeout=FROZEN_BOUND + 10)
        print(f"takeover from a frozen leader: {took:.2f} s (bound {FROZEN_BOUND:g} s), new leader {new.host}")
        assert new.host != first.host
        assert took <= FROZEN_BOUND + 1.0  # the wait starts at SIGSTOP, so a sample late at most
        wait_for(lambda: ("resolved", None) in events(fleet.receiver, "demo_requests_high"), 15,
                 "the resolution sent by the new leader")
    finally:
        old.signal(signal.SIGCONT)
    wait_for(lambda: STEPPED_DOWN.search(old.output()), 15, "the resumed node stepping down")
    settle(fleet)
    assert len(STEPPED_DOWN.findall(old.output())) == 1, "it said it stepped down more than once"
    assert "idle-session timeout" in old.output()
    assert fleet.leadership().epoch == new.epoch
    assert events(fleet.receiver, "demo_requests_high") == [("firing", None), ("resolved", None)]
