"""The leader election against the real PostgreSQL, each test in its own schema (the lock keys derive from it)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from reporter.fleet.leader import HostNameTaken, Leadership, SoloLeadership
from reporter.fleet.lock_session import Keepalive
from reporter.store import fleet_schema
from tests.conftest import PG_URL, wait_for


def prepare(url: str) -> None:
    """The fleet tables with the leadership row at epoch 0 (what migration 0007 makes)."""
    engine = create_engine(url)
    try:
        fleet_schema.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO leadership (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"))
    finally:
        engine.dispose()


@pytest.fixture
def fleet_url(pg_schema_url) -> str:
    prepare(pg_schema_url)
    return pg_schema_url


class Events:
    """Records on_elected / on_deposed calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def elected(self, epoch: int) -> None:
        self.calls.append(("elected", epoch))

    def deposed(self, reason: str) -> None:
        self.calls.append(("deposed", reason))


def node(url: str, host: str, events: Events | None = None, **kwargs) -> Leadership:
    events = events or Events()
    return Leadership(url, host, uuid.uuid4().hex, 10.0, on_elected=events.elected, on_deposed=events.deposed,
                      reconnect_seconds=0.0, **kwargs)


def admin(sql: str, **params):
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def stored_epoch(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT epoch FROM leadership WHERE id = 1")).scalar_one()
    finally:
        engine.dispose()


def test_of_two_nodes_one_leads_with_the_next_epoch(fleet_url):
    ea, eb = Events(), Events()
    a, b = node(fleet_url, "a", ea), node(fleet_url, "b", eb)
    try:
        a.start()
        b.start()
        assert a.leader and not b.leader
        assert a.epoch == 1 and stored_epoch(fleet_url) == 1 and a.fence is not None and a.fence.epoch == 1
        assert ea.calls == [("elected", 1)] and eb.calls == []
        for _ in range(3):
            assert a.tick() and not b.tick()
        assert ea.calls == [("elected", 1)]
    finally:
        a.close()
        b.close()


def test_terminated_leader_session_steps_down_at_its_next_tick_and_the_other_takes_over(fleet_url, caplog):
    ea, eb = Events(), Events()
    a, b = node(fleet_url, "a", ea), node(fleet_url, "b", eb)
    try:
        a.start()
        b.start()
        assert admin("SELECT pg_terminate_backend(:pid)", pid=a.backend_pid) == [(True,)]
        assert not a.tick()
        assert ea.calls[-1][0] == "deposed" and "gone" in ea.calls[-1][1]
        assert "leadership lost" in caplog.text
        wait_for(b.tick, 5, "the follower takes over")
        assert b.epoch == 2 and stored_epoch(fleet_url) == 2 and eb.calls == [("elected", 2)]
        # the old leader reconnects as a follower: its host name is its own again, the leader stays
        assert not a.tick() and a.backend_pid is not None and b.tick()
    finally:
        a.close()
        b.close()


def test_another_epoch_recorded_deposes_the_leader_at_its_next_tick(fleet_url):
    a = node(fleet_url, "a")
    try:
        a.start()
        admin(f"UPDATE {schema_of(fleet_url)}.leadership SET epoch = epoch + 1")
        assert not a.tick() and a.fence is None
    finally:
        a.close()


def schema_of(url: str) -> str:
    return url.rpartition("%3D")[2]


LEAD_IN_CHILD = r"""
import sys, time
from reporter.fleet.leader import Leadership
node = Leadership(sys.argv[1], "child", "c1", 10.0)
node.start()
print("leader" if node.leader else "follower", flush=True)
time.sleep(60)
"""


def test_a_killed_or_closed_leader_frees_the_lock_at_once(fleet_url):
    child = subprocess.Popen([sys.executable, "-c", LEAD_IN_CHILD, fleet_url], stdout=subprocess.PIPE, text=True)
    b = node(fleet_url, "b")
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "leader"
        b.start()
        assert not b.leader
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        started = time.monotonic()
        wait_for(b.tick, 5, "the follower takes over from the killed leader")
        assert time.monotonic() - started < 2 and b.epoch == 2
        c = node(fleet_url, "c")
        c.start()
        b.close()  # a clean stop: its backend ends within milliseconds
        wait_for(c.tick, 5, "c takes over from the stopped leader")
        assert c.epoch == 3
        c.close()
    finally:
        child.kill()
        child.wait()
        b.close()


def started(leadership: Leadership) -> bool:
    """Start ``leadership``; False while its host name is still held."""
    try:
        leadership.start()
    except HostNameTaken:
        return False
    return True


def test_a_second_node_with_the_same_host_name_is_refused_until_the_first_is_gone(fleet_url):
    a, again = node(fleet_url, "web-1"), node(fleet_url, "web-1")
    try:
        a.start()
        with pytest.raises(HostNameTaken, match=r"'web-1' is held by another running node .*REPORTER_HOST_NAME"):
            again.start()
        a.close()
        wait_for(lambda: started(again), 5, "the host name is free once its holder closed")
        assert again.leader
    finally:
        a.close()
        again.close()


def test_fleets_in_two_schemas_each_have_a_leader(fleet_url):
    other = f"t_{uuid.uuid4().hex[:12]}"
    admin(f"CREATE SCHEMA {other}")
    other_url = f"{PG_URL}?options=-csearch_path%3D{other}"
    try:
        prepare(other_url)
        a, b = node(fleet_url, "a"), node(other_url, "a")  # the same host name in another fleet too
        a.start()
        b.start()
        assert a.leader and b.leader and a.k1 != b.k1
        a.close()
        b.close()
    finally:
        admin(f"DROP SCHEMA {other} CASCADE")


def test_an_agent_holds_its_name_and_never_leads(fleet_url):
    agent, b = node(fleet_url, "agent", may_lead=False), node(fleet_url, "b")
    try:
        agent.start()
        assert not agent.leader and not agent.tick()
        b.start()
        assert b.leader
        b.close()
        assert not agent.tick()
        with pytest.raises(HostNameTaken):
            node(fleet_url, "agent").start()
    finally:
        agent.close()
        b.close()


def test_step_down_frees_the_lock_and_a_node_that_may_not_lead_does_not_take_it_back(fleet_url, caplog):
    ea = Events()
    a, b = node(fleet_url, "a", ea), node(fleet_url, "b")
    try:
        a.start()
        b.start()
        a.step_down("the history cannot be written")
        assert ea.calls[-1] == ("deposed", "the history cannot be written")
        assert caplog.text.count("leadership given up: the history cannot be written") == 1
        assert not a.tick(may_lead=False)
        assert b.tick() and b.epoch == 2
    finally:
        a.close()
        b.close()


def test_the_lock_session_has_keepalives_on_both_sides(fleet_url):
    assert Keepalive.within(10) == Keepalive(idle=4, interval=2, count=3, user_timeout_ms=10000)
    a = Leadership(fleet_url, "a", "n", 10.0)
    try:
        a.start()
        conn = a._conn
        shown = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                 for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
                              "tcp_user_timeout")}
        assert shown == {"tcp_keepalives_idle": "4", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3",
                         "tcp_user_timeout": "10000"}
        params = conn.info.get_parameters()
        assert params["keepalives"] == "1" and params["keepalives_idle"] == "4"
        assert params["tcp_user_timeout"] == "10000"
    finally:
        a.close()


def test_solo_leadership_leads_from_start_without_fence():
    events = Events()
    solo = SoloLeadership(events.elected, events.deposed)
    solo.start()
    solo.step_down("anything")
    assert solo.tick() and solo.leader and solo.fence is None and events.calls == [("elected", 0)]


def test_duties_that_fail_to_start_give_leadership_up_and_the_node_waits_before_leading_again(fleet_url, caplog):
    now = [0.0]

    def broken(epoch: int) -> None:
        raise RuntimeError("the alerting file vanished")

    a = Leadership(fleet_url, "a", "n", 10.0, on_elected=broken, reconnect_seconds=0.0, clock=lambda: now[0])
    b = node(fleet_url, "b")
    try:
        a.start()
        assert not a.leader and stored_epoch(fleet_url) == 1
        assert "starting them failed (RuntimeError: the alerting file vanished)" in caplog.text
        assert not a.tick()  # holds off: another node may lead meanwhile
        b.start()
        assert b.leader and b.epoch == 2
        b.close()
        now[0] += 31
        # tried again once b's session is gone (and failed again)
        wait_for(lambda: not a.tick() and stored_epoch(fleet_url) == 3, 5, "a leads again")
    finally:
        a.close()
        b.close()


class FreezableProxy:
    """A loopback TCP proxy to PostgreSQL that can stop forwarding while keeping its sockets open (a peer gone
    silent: the client's kernel sees its data acknowledged, nothing answers) and cut every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target, self.frozen, self.sockets = target, threading.Event(), []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst) -> None:
        try:
            while data := src.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.01)
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        import socket

        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.frozen.clear()

    def close(self) -> None:
        self.server.close()
        self.cut()


def test_a_lock_check_stuck_on_a_silent_peer_never_holds_up_the_caller(fleet_url):
    proxy = FreezableProxy(("127.0.0.1", 5432))
    url = fleet_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    events = Events()
    a = Leadership(url, "a", "n", 10.0, on_elected=events.elected, on_deposed=events.deposed, wait_seconds=0.2)
    try:
        a.start()
        assert a.leader and a.tick() and a.answering
        proxy.frozen.set()  # the check's query gets no answer
        for _ in range(3):
            started = time.monotonic()
            assert a.tick()  # still the leader: the check is waiting, nothing decided
            assert time.monotonic() - started < 0.5 and not a.answering  # the daemon pauses its evaluation
        proxy.cut()  # the connection fails: the next tick steps down
        wait_for(lambda: not a.tick(), 5, "the leader steps down once its check failed")
        assert events.calls[-1][0] == "deposed" and "gone" in events.calls[-1][1]
        started = time.monotonic()
        a.step_down("noop")  # a follower: nothing
        a.tick()
        assert time.monotonic() - started < 0.5
    finally:
        a.close(wait=0.5)
        proxy.close()


def test_a_takeover_waits_for_a_fenced_transaction_of_the_old_leader_to_end(fleet_url, caplog):
    """The old leader's session is gone but one of its fenced transactions (another connection, left idle) still
    holds the leadership row: PostgreSQL ends it after its hold time (6 s here, longer than the 5 s a lock check
    may take), and the follower's takeover waits for that instead of being canceled and starting over."""
    from reporter.store.fence import Fence

    ea, eb = Events(), Events()
    a = node(fleet_url, "a", ea)
    b = Leadership(fleet_url, "b", uuid.uuid4().hex, 4.0, on_elected=eb.elected, on_deposed=eb.deposed,
                   reconnect_seconds=0.0)
    engine = create_engine(fleet_url)
    stale = engine.connect()
    try:
        a.start()
        b.start()
        stale.begin()
        Fence(1, hold_seconds=6.0).check(stale)  # then silence
        assert admin("SELECT pg_terminate_backend(:pid)", pid=a.backend_pid) == [(True,)]
        session = b.backend_pid
        started = time.monotonic()
        wait_for(b.tick, 15, "the follower takes over")
        assert 5.0 < time.monotonic() - started < 10.0
        assert b.backend_pid == session and "lock connection failed" not in caplog.text  # one wait, no retry
        assert eb.calls == [("elected", 2)] and stored_epoch(fleet_url) == 2
    finally:
        with contextlib.suppress(Exception):
            stale.close()
        engine.dispose()
        a.close()
        b.close()


def test_a_node_that_stops_ticking_loses_its_lock_session_after_idle_seconds(fleet_url, caplog):
    """A frozen node (no tick: no statement on its lock connection) is ended by the server after ``idle_seconds``,
    which frees its locks; a node that ticks keeps its session. The frozen one steps down when it ticks again."""
    ea, eb = Events(), Events()
    a = node(fleet_url, "a", ea, idle_seconds=2.0)
    b = node(fleet_url, "b", eb, idle_seconds=2.0)
    try:
        a.start()
        b.start()
        assert a.leader
        for _ in range(6):  # b ticks, a is "frozen"
            time.sleep(0.5)
            b.tick()
        wait_for(b.tick, 5, "the ticking node takes over")
        assert not a.tick()
        assert ea.calls[-1][0] == "deposed" and "idle-session timeout" in ea.calls[-1][1]
        for _ in range(6):  # a ticking leader outlives idle_seconds
            time.sleep(0.5)
            assert b.tick()
        assert b.epoch == 2
    finally:
        a.close()
        b.close()
