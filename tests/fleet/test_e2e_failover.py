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
from tests.fleet.helpers import TAKEOVER_BOUND, duplicates, events

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


def test_a_frozen_leader_keeps_the_lead_and_sends_nothing_twice_when_it_resumes(fleet, counter):
    """SIGSTOP is no failover: the frozen process's kernel still answers TCP keepalives, so its lock session
    lives and no node takes over (nothing is evaluated or sent meanwhile). Once resumed it goes on leading and
    sends what happened while it was frozen, once."""
    counter(150)
    fleet.start(*NAMES)
    first = firing_everywhere(fleet)
    old = fleet.leader()

    old.signal(signal.SIGSTOP)
    try:
        counter(50)
        time.sleep(TAKEOVER_BOUND + 2)
        assert fleet.leadership().epoch == first.epoch  # still its lock
        assert events(fleet.receiver, "demo_requests_high") == [("firing", None)]
    finally:
        old.signal(signal.SIGCONT)
    wait_for(lambda: ("resolved", None) in events(fleet.receiver, "demo_requests_high"), 15,
             "the resolution sent once the leader resumed")
    settle(fleet)
    assert fleet.leadership().epoch == first.epoch
    assert events(fleet.receiver, "demo_requests_high") == [("firing", None), ("resolved", None)]
