"""Fencing against the real PostgreSQL: a leader whose epoch was superseded can neither claim an outbox row, nor
record a delivery, nor claim a report period or a report email; the row stays, under its id, for the new leader."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, text

from reporter.alerting.config import Defaults
from reporter.notify.outbox import Outbox
from reporter.notify.receivers.base import Attempt
from reporter.notify.retry import DELIVERED
from reporter.report.period import Period
from reporter.report.schedule import ReportSchedule
from reporter.store.alert_schema import delivery_attempts
from reporter.store.fence import Fence, Fenced
from reporter.store.history import History
from reporter.store.leases import LeasedQueue
from reporter.store.report_schema import report_emails, reports


@pytest.fixture
def history(pg_schema_url):
    h = History(pg_schema_url, ["grammar"])  # at head: the leadership row at epoch 0
    take_over(h)  # this test's leader took over at epoch 1
    yield h
    h.close()


def take_over(history: History) -> int:
    """Another node takes over: the epoch is incremented (as its Leadership does); returns the new one."""
    with history.engine.begin() as conn:
        return conn.execute(text("UPDATE leadership SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")).scalar_one()


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Destination:
    """A receiver recording what it is sent; ``during_send`` runs while an attempt is in flight."""

    def __init__(self, during_send=None) -> None:
        self.name, self.timeout, self.backoff_max = "hook", 5.0, None
        self.sent: list[str] = []
        self.during_send = during_send

    async def send(self, client, notification_id: str, body: bytes) -> Attempt:
        self.sent.append(notification_id)
        if self.during_send is not None:
            self.during_send()
        return Attempt(DELIVERED, 200, None, "ok", None, 1.0)


def deliver(box: Outbox) -> str | None:
    async def go():
        async with httpx.AsyncClient() as client:
            return await box.deliver_next(client, "hook")

    return asyncio.run(go())


def attempts_recorded(history: History, notification_id: str) -> int:
    with history.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(delivery_attempts)
                            .where(delivery_attempts.c.notification_id == notification_id)).scalar_one()


def test_a_stale_leader_cannot_claim_an_outbox_row_the_new_leader_sends_it(history):
    clock = Clock(datetime.now(UTC))
    receiver = Destination()
    stale = Outbox(history.engine, [receiver], Defaults(), clock=clock, fence=Fence(1))
    stale.enqueue("n-1", "hook", b"{}", 1, clock.now)
    new = take_over(history)
    assert deliver(stale) is None and receiver.sent == []
    row = stale.status("n-1")
    assert row is not None and row["status"] == "pending" and row["attempts"] == 0 and row["lease_until"] is None
    leader = Outbox(history.engine, [receiver], Defaults(), clock=clock, fence=Fence(new))
    assert deliver(leader) == DELIVERED and receiver.sent == ["n-1"]
    assert leader.status("n-1")["status"] == "delivered"


def test_a_delivery_recorded_after_a_takeover_is_refused_and_the_row_is_retried_under_its_id(history, caplog):
    clock = Clock(datetime.now(UTC))
    receiver = Destination(during_send=lambda: take_over(history))  # another node takes over mid-send
    stale = Outbox(history.engine, [receiver], Defaults(), clock=clock, fence=Fence(1))
    stale.enqueue("n-2", "hook", b"{}", 1, clock.now)
    assert deliver(stale) is None and receiver.sent == ["n-2"]
    row = stale.status("n-2")
    assert row["status"] == "pending" and row["attempts"] == 0 and attempts_recorded(history, "n-2") == 0
    assert "not recorded: this node is no longer the leader" in caplog.text
    receiver.during_send = None
    clock.now += timedelta(seconds=receiver.timeout + 6)  # the stale claim's lease has run out
    leader = Outbox(history.engine, [receiver], Defaults(), clock=clock, fence=Fence(2))
    assert deliver(leader) == DELIVERED and receiver.sent == ["n-2", "n-2"]  # at least once, one id
    assert leader.status("n-2")["attempts"] == 1 and attempts_recorded(history, "n-2") == 1


def test_a_stale_leader_cannot_claim_or_finish_a_report(history):
    tz = ZoneInfo("UTC")
    now = datetime.now(UTC)
    day = Period.containing(now - timedelta(days=2), tz, "day")
    schedule = ReportSchedule(history.engine, tz)
    schedule.fence = Fence(1)
    assert schedule.claim(day, now, 60)
    take_over(history)
    with pytest.raises(Fenced):
        schedule.done(day, [], now, email=True)
    other = Period.containing(now - timedelta(days=3), tz, "day")
    assert not schedule.claim(other, now, 60)
    with history.engine.connect() as conn:
        rows = {r.day: r.status for r in conn.execute(select(reports.c.day, reports.c.status))}
        emails = conn.execute(select(func.count()).select_from(report_emails)).scalar_one()
    assert rows == {day.key: "claimed"} and emails == 0
    schedule.fence = Fence(2)
    assert schedule.claim(other, now, 60)


def test_a_stale_leader_cannot_claim_a_report_email(history):
    now = datetime.now(UTC)
    with history.engine.begin() as conn:
        conn.execute(report_emails.insert().values(day="2026-01-01", status="pending", attempts=0,
                                                   next_attempt_at=0, created_at=0))
    queue = LeasedQueue(history.engine, report_emails, "day", ("pending",))
    take_over(history)
    with pytest.raises(Fenced):
        queue.claim("2026-01-01", now, 30, fence=Fence(1))
    with history.engine.connect() as conn:
        row = conn.execute(select(report_emails)).mappings().one()
    assert row["lease_until"] is None and row["attempts"] == 0
    assert queue.claim("2026-01-01", now, 30, fence=Fence(2)) is not None
    assert queue.claim("2026-01-01", now, 30) is None  # leased now; CLI commands claim unfenced


def test_a_fenced_transaction_left_open_by_a_silent_leader_ends_within_its_hold_time(history):
    """A leader cut off or frozen between two statements of a fenced transaction holds the leadership row
    ``FOR SHARE``: PostgreSQL ends that session after the fence's hold time, so a takeover (an UPDATE of the
    row) waits at most that long instead of until the server's TCP timeout (hours)."""
    stale = history.engine.connect()
    try:
        stale.begin()
        Fence(1, hold_seconds=1.5).check(stale)  # then silence: the server sees it idle in its transaction
        started = time.monotonic()
        with history.engine.begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 8000"))  # without the hold time: canceled here
            epoch = conn.execute(text("UPDATE leadership SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch"))
            assert epoch.scalar_one() == 2
        waited = time.monotonic() - started
        assert 1.0 <= waited < 4.0, waited
        with pytest.raises(Exception, match="idle-in-transaction timeout"):
            stale.execute(text("SELECT 1"))
    finally:
        with contextlib.suppress(Exception):
            stale.close()


def test_a_fenced_transaction_in_use_is_not_cut(history):
    """The hold time bounds silence, not work: statements keep a fenced transaction alive past it."""
    with history.engine.begin() as conn:
        Fence(1, hold_seconds=1.0).check(conn)
        for _ in range(4):
            time.sleep(0.5)
            conn.execute(text("SELECT 1"))
        Fence(1, hold_seconds=1.0).check(conn)
