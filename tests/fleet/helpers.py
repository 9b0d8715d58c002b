"""A fleet on this machine: N ``reporter run`` nodes (distinct host names, ports and folders) sharing one
PostgreSQL history, a real webhook receiver counting notifications by id, and the ways the tests hurt a node
(SIGKILL, SIGSTOP, ``pg_terminate_backend`` of its lock connection, a cut network link).

Rules of the alerting file (:func:`fleet_rules`): ``demo_requests_high`` is app-wide (``ai.total_requests``, a
Redis counter the test sets; the leader samples it), ``host_marker`` is per host and always true (one firing
alert per host, labelled ``host``), and the built-in ``host_down``. The one receiver, ``count``, hears only these.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

from tests.daemon.helpers import RUN, START_TIMEOUT, daemon_env, demo_rules, start_daemon
from tests.receiver import Receiver

INTERVAL = 1.0  # REPORTER_SAMPLE_INTERVAL of every node (s)
KEEPALIVE = 4.0  # REPORTER_LEADER_KEEPALIVE of every node (s): the smallest that 1 s keepalive probes split exactly
TAKEOVER_BOUND = 2 * INTERVAL + KEEPALIVE  # issue 10: another node leads within two intervals + the keepalive
# a frozen leader's lock session ends after 3 intervals + the keepalive without a statement; a follower's next tick
FROZEN_BOUND = 4 * INTERVAL + KEEPALIVE
# the one line a node logs when it stops leading: its lock session ended ("lost") or it cannot write ("given up")
STEPPED_DOWN = re.compile(r"leadership (lost|given up)")
WATCHED = ("demo_requests_high", "host_marker", "host_down")


def fleet_rules(receiver_url: str) -> str:
    """The alerting file of every node: fast delivery, the app-wide ``demo_requests_high`` (> 100 for 1 s), the
    per-host ``host_marker`` (cpu >= 0, always true) and one webhook receiver at ``receiver_url`` hearing only
    the :data:`WATCHED` alerts, one alert per group (``group_by = ["..."]``), so that an alert heard in two
    notifications was sent twice (with grouping by alertname, a group's later notification repeats the alerts
    still firing)."""
    watched = "|".join(WATCHED)
    return demo_rules() + f"""
[rules.host_marker]
metric = "system.cpu_percent"
op = ">="
threshold = 0
for = "1s"
severity = "warning"
summary = "host marker (always true)"

[[receivers]]
name = "count"
type = "webhook"
url = "{receiver_url}"
matchers = ['alertname=~"{watched}"']
group_by = ["..."]
"""


@dataclass
class Node:
    """One ``reporter run`` process of the fleet, in its own folder (``log`` holds its stdout and stderr)."""

    name: str
    port: int
    folder: Path
    settings: dict[str, str]
    address: str = "127.0.0.1"  # where its HTTP endpoint answers
    command: list[str] = field(default_factory=list)  # prefix, e.g. ip netns exec NS
    proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.folder / "node.log"

    def start(self, timeout: float = START_TIMEOUT) -> Node:
        self.proc = start_daemon(self.folder, self.settings, self.port, timeout=timeout, log_file=self.log,
                                 command=self.command, address=self.address)
        return self

    def get(self, path: str, timeout: float = 2.0) -> httpx.Response:
        return httpx.get(f"http://{self.address}:{self.port}{path}", timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, waited for."""
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def ask_to_stop(self) -> None:
        """SIGTERM (SIGCONT first, in case it was stopped), not waited for (see :meth:`stop`)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()

    def stop(self, timeout: float = 10.0, asked: bool = False) -> int | None:
        """SIGTERM (SIGCONT first, in case it was stopped), waited for; SIGKILL after ``timeout``. ``asked``:
        :meth:`ask_to_stop` sent them already."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if not asked:
                self.ask_to_stop()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Leader:
    """The ``leadership`` row: who took over last, with which fencing epoch."""

    host: str | None
    node_id: str | None
    epoch: int


class Fleet:
    """Nodes sharing ``history_url`` (a PostgreSQL URL; a private schema), each with the alerting file of
    :func:`fleet_rules` pointing at ``receiver``. ``add(name)`` makes a node, ``start()`` it."""

    def __init__(self, root: Path, history_url: str, redis_url: str, prefix: str, receiver: Receiver,
                 ports, extra: dict[str, str] | None = None) -> None:
        self.root, self.history_url, self.redis_url, self.prefix = root, history_url, redis_url, prefix
        self.receiver, self.ports, self.extra = receiver, ports, extra or {}
        self.nodes: dict[str, Node] = {}
        self.alerting_file = root / "alerting.toml"
        self.alerting_file.write_text(fleet_rules(receiver.url))
        self.engine = create_engine(history_url, connect_args={"connect_timeout": 3}, pool_pre_ping=True)

    def settings(self, name: str, folder: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The REPORTER_* settings of node ``name`` (its folder holds its spool and reports)."""
        return {"REPORTER_HOST_NAME": name, "REPORTER_HISTORY_URL": self.history_url,
                "REPORTER_SAMPLE_INTERVAL": f"{INTERVAL:g}", "REPORTER_PROBE_TIMEOUT": "0.5",
                "REPORTER_LEADER_KEEPALIVE": f"{KEEPALIVE:g}", "REPORTER_PROBES": "",
                "REPORTER_REDIS_URL": self.redis_url, "REPORTER_AI_KEY_PREFIX": self.prefix,
                "REPORTER_ALERTING_FILE": str(self.alerting_file), "REPORTER_SPOOL_PATH": str(folder / "spool"),
                "REPORTER_REPORT_DIR": str(folder / "reports"), **self.extra, **(extra or {})}

    def add(self, name: str, extra: dict[str, str] | None = None, address: str = "127.0.0.1",
            command: list[str] | None = None, folder_name: str | None = None) -> Node:
        folder = self.root / (folder_name or name)
        folder.mkdir(exist_ok=True)
        port = self.ports()
        settings = self.settings(name, folder, extra)
        if address != "127.0.0.1":
            settings["REPORTER_HTTP_HOST"] = address
        node = Node(name, port, folder, settings, address, list(command or []))
        self.nodes[folder.name] = node
        return node

    def start(self, *names: str, **kwargs) -> list[Node]:
        """Add and start nodes, all at once (any of them may lead: see :meth:`leader`)."""
        from concurrent.futures import ThreadPoolExecutor

        nodes = [self.add(name, **kwargs) for name in names]
        with ThreadPoolExecutor(len(nodes)) as pool:
            return list(pool.map(Node.start, nodes))

    def run_once(self, name: str, timeout: float = 20.0, extra: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess:
        """``reporter run`` of a node named ``name`` in a fresh folder, expected to exit by itself."""
        folder = self.root / f"{name}-again-{time.monotonic_ns()}"
        folder.mkdir()
        return subprocess.run(RUN, cwd=folder, env=daemon_env(self.settings(name, folder, extra), self.ports()),
                              capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        """Stop every node: all asked at once, then each waited for."""
        for node in self.nodes.values():
            node.ask_to_stop()
        for node in self.nodes.values():
            node.stop(asked=True)
        self.engine.dispose()

    # --- leadership ---------------------------------------------------------------------------------------

    def leadership(self) -> Leader | None:
        """The ``leadership`` row, or None while the table is missing or no node ever led."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(text("SELECT host, node_id, epoch FROM leadership WHERE id = 1")).first()
        except Exception:
            return None
        if row is None or row.epoch == 0:
            return None
        return Leader(row.host, row.node_id, int(row.epoch))

    def leader(self) -> Node:
        """The node that the leadership row names (fails when none)."""
        current = self.leadership()
        assert current is not None, "no node ever took the leadership"
        [node] = [n for n in self.nodes.values() if n.name == current.host and n.alive]
        return node

    def wait_leader(self, timeout: float = 30.0, after: Leader | None = None) -> tuple[Leader, float]:
        """Wait until some node leads (with an epoch above ``after``'s when given); returns the row and the
        seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            current = self.leadership()
            if current is not None and (after is None or current.epoch > after.epoch):
                return current, time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"no new leader within {timeout:g} s (was {after}); logs:\n{self.tails()}")

    def api_leaders(self) -> dict[str, set[str]]:
        """What each live node's ``GET /api/v1/hosts`` says: node name -> names marked leader."""
        said = {}
        for node in self.nodes.values():
            if node.alive:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    hosts = node.get("/api/v1/hosts").json()["hosts"]
                    said[node.name] = {h["name"] for h in hosts if h.get("leader")}
        return said

    def lock_backends(self, node: Node) -> list[int]:
        """The PostgreSQL backend pids of ``node``'s connections that hold an advisory lock (its dedicated
        lock connection): its sockets' local ports matched against ``pg_stat_activity.client_port``."""
        import psutil

        assert node.proc is not None
        db_port = make_url(self.history_url).port or 5432
        ports = {c.laddr.port for c in psutil.Process(node.proc.pid).net_connections(kind="tcp")
                 if c.raddr and c.raddr.port == db_port}
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT DISTINCT a.pid, a.client_port FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
                "WHERE l.locktype = 'advisory' AND l.granted")).all()
        return [row.pid for row in rows if row.client_port in ports]

    def terminate_lock(self, node: Node) -> list[int]:
        """``pg_terminate_backend`` of ``node``'s lock connection(s); returns the backend pids ended."""
        pids = self.lock_backends(node)
        assert pids, f"{node.name} holds no advisory lock"
        with self.engine.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return pids

    # --- what the stores hold -------------------------------------------------------------------------------

    def sample_times(self, host: str) -> list[int]:
        """Unix ms of every stored sample of ``host``, oldest first."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT ts FROM samples WHERE host = :h ORDER BY ts"),
                                               {"h": host})]

    def tails(self, lines: int = 15) -> str:
        return "\n".join(f"--- {n.name} (alive={n.alive})\n" + "\n".join(n.output().splitlines()[-lines:])
                         for n in self.nodes.values())


def gaps(times_ms: list[int], since_ms: int, until_ms: int, longest: float) -> list[tuple[int, int]]:
    """The holes longer than ``longest`` seconds between consecutive times within [since, until]."""
    inside = [t for t in times_ms if since_ms <= t <= until_ms]
    return [(a, b) for a, b in itertools.pairwise(inside) if (b - a) / 1000 > longest]


# --- notifications at the receiver -------------------------------------------------------------------------

def notices(receiver: Receiver) -> list[dict]:
    """One entry per alert in every delivered notification: ``id`` (webhook-id), ``alertname``, ``host``,
    ``status``, ``startsAt``, ``fingerprint``, ``at`` (monotonic time received)."""
    found = []
    for got in list(receiver.received):
        payload = got.json()
        for alert in payload["alerts"]:
            labels = alert["labels"]
            found.append({"id": got.headers.get("webhook-id"), "alertname": labels.get("alertname"),
                          "host": labels.get("host"), "status": alert["status"], "startsAt": alert["startsAt"],
                          "fingerprint": alert.get("fingerprint"), "at": got.at})
    return found


def duplicates(receiver: Receiver) -> dict[tuple, set[str]]:
    """Alert events (fingerprint, episode start, status) that arrived under more than one notification id:
    each is something sent twice (a retry of the same notification keeps its id and is not counted)."""
    ids: dict[tuple, set[str]] = defaultdict(set)
    for notice in notices(receiver):
        key = (notice["alertname"], notice["host"], notice["fingerprint"], notice["startsAt"], notice["status"])
        ids[key].add(notice["id"])
    return {key: found for key, found in ids.items() if len(found) > 1}


def events(receiver: Receiver, alertname: str, host: str | None = "any") -> list[tuple[str, str | None]]:
    """(status, host) of every delivered alert named ``alertname`` (of ``host`` unless "any"), in order; the
    same notification id counted once."""
    seen, found = set(), []
    for notice in notices(receiver):
        key = (notice["id"], notice["fingerprint"], notice["status"])
        if notice["alertname"] != alertname or key in seen or (host != "any" and notice["host"] != host):
            continue
        seen.add(key)
        found.append((notice["status"], notice["host"]))
    return found
