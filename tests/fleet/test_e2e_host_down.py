"""``host_down`` (issue 10, item 5): a node killed for longer than 3 sample intervals fires ``host_down{host}``
once; it resolves once when the node writes again. Counted at a real receiver."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for
from tests.fleet.helpers import INTERVAL, duplicates, events

pytestmark = pytest.mark.slow


def test_host_down_fires_once_when_a_node_is_killed_and_resolves_once_when_it_is_back(fleet):
    fleet.start("alpha", "bravo", "charlie")
    fleet.wait_leader()
    wait_for(lambda: {h for s, h in events(fleet.receiver, "host_marker") if s == "firing"} == {
        "alpha", "bravo", "charlie"}, 20, "every host's marker notified firing")
    victim = next(n for n in fleet.nodes.values() if n.name != fleet.leader().name)

    victim.kill()
    killed = time.monotonic()
    wait_for(lambda: events(fleet.receiver, "host_down"), 20, "host_down notified")
    fired_after = time.monotonic() - killed
    print(f"host_down notified {fired_after:.2f} s after SIGKILL (3 intervals = {3 * INTERVAL:g} s)")
    assert events(fleet.receiver, "host_down") == [("firing", victim.name)]
    assert fired_after < 3 * INTERVAL + 4  # + the cycle that notices it, and delivery
    time.sleep(3)
    assert events(fleet.receiver, "host_down") == [("firing", victim.name)]  # once

    victim.start()
    back = time.monotonic()
    wait_for(lambda: ("resolved", victim.name) in events(fleet.receiver, "host_down"), 20,
             "host_down resolved")
    print(f"host_down resolved {time.monotonic() - back:.2f} s after the node answered again")
    time.sleep(3)
    assert events(fleet.receiver, "host_down") == [("firing", victim.name), ("resolved", victim.name)]
    # the victim's marker was neither resolved nor sent again while it was away and after it came back
    assert events(fleet.receiver, "host_marker", victim.name) == [("firing", victim.name)]
    assert not duplicates(fleet.receiver)
