"""``reporter hosts forget`` on a running fleet: a host killed for good is forgotten, its ``host_down`` and its
per-host alert (``host_marker``) resolve once, it leaves ``/api/v1/hosts``; a running host is refused; the
forgotten host started again registers again and is monitored again. Counted at a real receiver."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for
from tests.fleet.helpers import INTERVAL, duplicates, events
from tests.test_cli_hosts import run

pytestmark = pytest.mark.slow


def test_a_forgotten_host_resolves_once_leaves_the_list_and_comes_back_as_a_new_host(fleet, tmp_path):
    fleet.start("alpha", "bravo")
    fleet.wait_leader()
    wait_for(lambda: {h for s, h in events(fleet.receiver, "host_marker") if s == "firing"} == {"alpha", "bravo"},
             20, "every host's marker notified firing")
    leader = fleet.leader()
    victim = next(n for n in fleet.nodes.values() if n is not leader)
    env = {"REPORTER_HISTORY_URL": fleet.history_url, "REPORTER_SAMPLE_INTERVAL": f"{INTERVAL:g}",
           "REPORTER_PROBE_TIMEOUT": "0.5"}

    def listed() -> set[str]:
        return {h["name"] for h in leader.get("/api/v1/hosts").json()["hosts"]}

    running = run("hosts", "forget", victim.name, "--yes", env=env, cwd=tmp_path)
    assert running.returncode == 1 and "is running" in running.stderr, running.stderr
    victim.kill()
    wait_for(lambda: ("firing", victim.name) in events(fleet.receiver, "host_down"), 20, "host_down notified")

    forgotten = run("hosts", "forget", victim.name, "--yes", env=env, cwd=tmp_path)
    assert forgotten.returncode == 0, forgotten.stderr
    done = time.monotonic()
    assert listed() == {leader.name}
    wait_for(lambda: ("resolved", victim.name) in events(fleet.receiver, "host_down")
             and ("resolved", victim.name) in events(fleet.receiver, "host_marker"), 20, "its alerts resolved")
    print(f"host_down and host_marker resolved {time.monotonic() - done:.2f} s after the host was forgotten")
    time.sleep(3 * INTERVAL)
    assert events(fleet.receiver, "host_down") == [("firing", victim.name), ("resolved", victim.name)]  # once
    assert events(fleet.receiver, "host_marker", victim.name) == [("firing", victim.name), ("resolved", victim.name)]
    hosts_cli = run("hosts", env=env, cwd=tmp_path)
    assert hosts_cli.returncode == 0 and victim.name not in hosts_cli.stdout  # no host down any more

    victim.start()  # the host comes back: it registers again and is monitored again
    wait_for(lambda: victim.name in listed(), 20, "listed again")
    wait_for(lambda: events(fleet.receiver, "host_marker", victim.name).count(("firing", victim.name)) == 2, 20,
             "its marker firing again")
    time.sleep(2 * INTERVAL)
    assert events(fleet.receiver, "host_down") == [("firing", victim.name), ("resolved", victim.name)]
    assert events(fleet.receiver, "host_marker", leader.name) == [("firing", leader.name)]
    assert not duplicates(fleet.receiver)
