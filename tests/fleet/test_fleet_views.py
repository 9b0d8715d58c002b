"""What people see of a fleet, from real daemons (`reporter run`) sharing one PostgreSQL schema: every node lists
both hosts and the one leader at /api/v1/hosts, serves the other's snapshot at /snapshot?host=, and `reporter
hosts` exits 1 once a node is gone for 3 intervals."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import free_port, wait_for
from tests.daemon.helpers import start_daemon, stop_daemon
from tests.fleet.test_fleet_daemons import node_settings
from tests.test_cli import reporter


def get(port: int, path: str, **params) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", params=params, timeout=5)


def test_two_nodes_list_each_other_and_serve_each_others_snapshot(tmp_path, pg_schema_url, redis_url,
                                                                  redis_prefix):
    ports = {"node-a": free_port(), "node-b": free_port()}
    settings = {name: node_settings(tmp_path / name, redis_url, redis_prefix, pg_schema_url, name,
                                    {"REPORTER_PROBES": "redis"}) for name in ports}
    with ThreadPoolExecutor(2) as pool:  # both start at once (they migrate the new schema in turn)
        starts = {name: pool.submit(start_daemon, tmp_path / name, settings[name], port)
                  for name, port in ports.items()}
    nodes = {name: start.result() for name, start in starts.items()}
    try:
        def both_listed():
            hosts = get(ports["node-b"], "/api/v1/hosts").json()["hosts"]
            return len(hosts) == 2 and all(h["status"] != "down" for h in hosts) and hosts

        hosts = wait_for(both_listed, 15, "both hosts at /api/v1/hosts")
        assert [h["name"] for h in hosts] == ["node-a", "node-b"] and {h["role"] for h in hosts} == {"node"}
        [leader] = [h["name"] for h in hosts if h["leader"]]
        [follower] = [h["name"] for h in hosts if not h["leader"]]
        from_leader = get(ports[leader], "/api/v1/hosts").json()["hosts"]
        assert [(h["name"], h["leader"]) for h in from_leader] == [(h["name"], h["leader"]) for h in hosts]

        of_follower = get(ports[leader], "/snapshot", host=follower).json()
        assert of_follower["host"] == follower
        assert of_follower["services"]["database"]["error"] == "not probed on this host"
        assert of_follower["ai"]["error"] == "sampled by the leader" and of_follower["usage"] is None
        of_leader = get(ports[follower], "/snapshot", host=leader).json()
        assert of_leader["host"] == leader and of_leader["ai"]["error"] != "sampled by the leader"
        health = get(ports[leader], "/api/v1/analytics/health", host=follower).json()
        assert health["services"] == {"database": None, "redis": True, "ollama": None}
        assert health["status"] == "healthy"  # its one probed service is up
        assert get(ports[leader], "/snapshot", host="node-c").status_code == 404
        points = get(ports[leader], "/api/v1/history", metric="cpu_percent", host=follower).json()["points"]
        assert points, "the follower's samples, read through the leader"

        env = {**settings[leader]}  # the CLI with the fleet's settings
        stop_daemon(nodes[follower], signal.SIGKILL)

        def follower_down():
            result = reporter("hosts", "--json", env=env, cwd=tmp_path)
            return result.returncode == 1 and result

        result = wait_for(follower_down, 30, "reporter hosts exits 1 with the follower down")
        states = {h["name"]: h["status"] for h in json.loads(result.stdout)["hosts"]}
        assert states[follower] == "down" and states[leader] != "down"
    finally:
        for process in nodes.values():
            if process.poll() is None:
                stop_daemon(process)
