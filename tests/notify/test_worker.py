"""The notifier thread delivers each receiver's queue on its own: a slow receiver delays only itself."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from reporter.alerting.config import Defaults, Receiver
from reporter.alerting.dispatch import Dispatcher
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.notify.outbox import Outbox
from reporter.notify.render import renderer
from reporter.notify.worker import NotifierThread
from reporter.store.alert_schema import delivery_attempts, outbox
from reporter.store.history import History
from tests.conftest import fill, wait_until
from tests.receiver import DrippingReceiver
from tests.receiver import Receiver as HTTPReceiver
from tests.snapshots import FEATURES, snapshot


@pytest.fixture
def healthy():
    r = HTTPReceiver()
    yield r
    r.stop()


@pytest.fixture
def slow():
    r = DrippingReceiver(interval=1.0)
    yield r
    r.stop()


def fire(history, service: str) -> None:
    """Store a firing ``service_down`` alert (as the evaluator would)."""
    labels = {"alertname": "service_down", "severity": "critical", "service": service}
    now = datetime.now(UTC)
    AlertStore(history.engine).save([(AlertRecord(fingerprint(labels), "service_down", labels,
                                                  {"summary": f"{service} is down"}, AlertState.FIRING,
                                                  now - timedelta(seconds=40), now - timedelta(seconds=10)),
                                      "firing")], now)


def services(receiver: HTTPReceiver) -> list[str]:
    return [a["labels"]["service"] for r in receiver.received for a in r.json()["alerts"]]


@pytest.mark.parametrize("slow_receivers", [1, 30])
def test_slow_receiver_does_not_delay_a_healthy_one(history, healthy, slow, slow_receivers):
    """One slow receiver (or 30, more than a shared connection pool would hold) and a healthy one; one alert
    per group, so that each alert is one notification."""
    defaults = Defaults(group_wait=0, group_interval=0, group_by=["..."])
    receivers = [Receiver(name="slow" if i == 0 else f"slow{i}", type="webhook", url=slow.url, timeout=60)
                 for i in range(slow_receivers)] + [Receiver(name="healthy", type="webhook", url=healthy.url)]
    dispatcher = Dispatcher(history.engine, receivers, defaults, renderer(ZoneInfo("UTC")), "http://r.example")
    notifier = NotifierThread(dispatcher, Outbox(history.engine, receivers, defaults))
    notifier.start()
    try:
        fire(history, "redis")
        notifier.wake()
        assert wait_until(lambda: services(healthy) == ["redis"] and slow.requests == slow_receivers, 5)

        # the slow receiver is now dripping its answer (up to its 60 s timeout); a new alert for both
        fire(history, "database")
        started = time.monotonic()
        notifier.wake()
        assert wait_until(lambda: services(healthy) == ["redis", "database"], 1.5), \
            "the healthy receiver waited for the slow one"
        assert time.monotonic() - started < 1.5
        with history.engine.connect() as conn:
            slow_rows = conn.execute(select(outbox.c.status, outbox.c.attempts)
                                     .where(outbox.c.receiver == "slow")).all()
        assert [tuple(r) for r in slow_rows] == [("pending", 0), ("pending", 0)]  # still hanging, in order
        assert slow.requests == slow_receivers  # each second waits behind its first: per-receiver order
    finally:
        notifier.stop()
    assert not notifier.is_alive()
    # the attempt cut short by the stop is given back: sent again at once on the next start (at least once)
    with history.engine.connect() as conn:
        leases = conn.execute(select(outbox.c.lease_until).where(outbox.c.receiver == "slow")).scalars().all()
        attempts = conn.execute(select(delivery_attempts.c.outcome)).scalars().all()
    assert leases == [None, None]
    assert attempts == ["delivered", "delivered"]  # the healthy receiver's two; the cut attempt is not one


TZ = ZoneInfo("Europe/Berlin")


def test_notifier_on_a_full_disk_logs_once_and_delivers_when_writable(tmpfs, caplog):
    caplog.set_level(logging.INFO, "reporter")
    history = History(f"sqlite:///{tmpfs / 'h.db'}", FEATURES)
    receiver = HTTPReceiver()
    defaults = Defaults(group_wait=0, group_interval=0)
    receivers = [Receiver(name="ops", type="webhook", url=receiver.url)]
    # rule times are the snapshots' (2026-11-02): the alert is firing and due, not yet notified
    evaluator = Evaluator(build_rules({}, FEATURES), defaults, AlertStore(history.engine), history, TZ, FEATURES)
    for t in range(0, 310, 10):
        evaluator.evaluate(snapshot(t, cpu=95))
    filler = fill(tmpfs)
    notifier = NotifierThread(Dispatcher(history.engine, receivers, defaults, renderer(TZ)),
                              Outbox(history.engine, receivers, defaults), tick_seconds=0.05,
                              health=history.health)
    notifier.start()
    try:
        time.sleep(1.0)  # about 20 failing passes
        assert receiver.received == []
        assert "cannot write (notifier)" in history.health.error
        filler.unlink()
        got = receiver.wait_for(1)
        assert [a["labels"]["alertname"] for a in got[0].json()["alerts"]] == ["cpu_high"]
    finally:
        notifier.stop()
        receiver.stop()
        history.close()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(" (")[0] for r in lines] == ["history: cannot write"], [r.getMessage() for r in lines]
    assert "free disk space at " + str(tmpfs) in lines[0].getMessage() and lines[0].exc_info is None


def test_receiver_slower_than_5s_within_its_timeout_gets_one_delivery(history):
    """httpx's default 5 s timeout must not cut an answer that the receiver's own timeout (10 s) allows."""
    slow = HTTPReceiver(delay=6.0)
    receivers = [Receiver(name="slow", type="webhook", url=slow.url, timeout="10s")]
    defaults = Defaults(group_wait=0, group_interval=0)
    dispatcher = Dispatcher(history.engine, receivers, defaults, renderer(ZoneInfo("UTC")), "http://r.example")
    notifier = NotifierThread(dispatcher, Outbox(history.engine, receivers, defaults))
    notifier.start()
    try:
        fire(history, "redis")
        notifier.wake()
        assert wait_until(lambda: slow.received, 9), "not delivered within the receiver's timeout"
        time.sleep(1.5)  # a second attempt would arrive after the backoff (about 1 s)
    finally:
        notifier.stop()
        slow.stop()
    assert services(slow) == ["redis"] and slow.attempts == 1
    with history.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.status, outbox.c.attempts)).all()
        attempts = conn.execute(select(delivery_attempts.c.outcome)).scalars().all()
    assert [tuple(r) for r in rows] == [("delivered", 1)]
    assert attempts == ["delivered"]
