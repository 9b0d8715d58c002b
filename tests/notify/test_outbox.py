"""The outbox against real loopback receivers: independent queues per receiver, capped retry backoff."""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from reporter.alerting.config import Defaults, Receiver
from reporter.notify.outbox import Outbox
from reporter.store.alert_schema import delivery_attempts
from tests.receiver import DrippingReceiver
from tests.receiver import Receiver as HTTPReceiver


class Clock:
    """An injected wall clock that moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_deliver_due_drains_each_receiver_on_its_own(history):
    """A receiver dripping its answer (timeout 60 s) does not hold back another receiver's queue."""
    healthy, slow = HTTPReceiver(), DrippingReceiver(interval=1.0)
    try:
        receivers = [Receiver(name="slow", type="webhook", url=slow.url, timeout=60),
                     Receiver(name="healthy", type="webhook", url=healthy.url)]
        box = Outbox(history.engine, receivers, Defaults())
        now = datetime.now(UTC)
        box.enqueue("msg_slow", "slow", b"{}", 1, now)
        for i in range(3):
            box.enqueue(f"msg_healthy_{i}", "healthy", b'{"n": %d}' % i, 1, now + timedelta(milliseconds=i))

        async def go() -> float:
            async with httpx.AsyncClient() as client:
                task = asyncio.create_task(box.deliver_due(client))
                started = time.monotonic()
                while len(healthy.received) < 3 and time.monotonic() - started < 5:
                    await asyncio.sleep(0.02)
                took = time.monotonic() - started
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return took

        took = asyncio.run(go())
        assert [r.json()["n"] for r in healthy.received] == [0, 1, 2]  # in order
        assert took < 1.0 and slow.requests == 1
        assert box.status("msg_slow")["status"] == "pending" and box.status("msg_slow")["lease_until"] is None
    finally:
        healthy.stop()
        slow.stop()


def attempt_times(history, notification_id: str) -> list[datetime]:
    with history.engine.connect() as conn:
        values = conn.execute(select(delivery_attempts.c.at).where(
            delivery_attempts.c.notification_id == notification_id).order_by(delivery_attempts.c.id)).scalars()
        return [datetime.fromtimestamp(v / 1000, UTC) for v in values]


def test_backoff_is_capped_per_receiver_and_default_60s(history, refused_port):
    """Refused for 14 attempts each, then back: every wait between attempts stays within the receiver's cap
    (60 s by default, 5 s where the receiver says so), so a recovered receiver hears within the cap."""
    clock = Clock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    url = f"http://127.0.0.1:{refused_port}/hook"
    receivers = [Receiver(name="default", type="webhook", url=url),
                 Receiver(name="capped", type="webhook", url=url, backoff_max="5s")]
    box = Outbox(history.engine, receivers, Defaults(), clock=clock)
    assert Defaults().backoff_max == 60
    for r in receivers:
        box.enqueue(f"msg_{r.name}", r.name, b"{}", 1, clock())

    def run_until(t: datetime) -> None:
        """Advance the clock to ``t``, attempting whatever falls due on the way."""
        async def go():
            async with httpx.AsyncClient() as client:
                while True:
                    await box.deliver_due(client)
                    due = [d for d in (box.next_due(r.name) for r in receivers) if d is not None and d <= t]
                    if not due:
                        break
                    clock.now = max(clock.now, min(due))
            clock.now = t
        asyncio.run(go())

    run_until(clock.now + timedelta(minutes=10))  # 10 minutes of refusals: 1 s doubling would reach 512 s
    outage_end = clock.now
    receiver = HTTPReceiver(refused_port)
    try:
        run_until(outage_end + timedelta(seconds=61))
        assert len(receiver.received) == 2
    finally:
        receiver.stop()
    for name, cap in (("default", 60), ("capped", 5)):
        times = attempt_times(history, f"msg_{name}")
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert box.status(f"msg_{name}")["status"] == "delivered"
        assert len(gaps) >= 8, gaps
        assert max(gaps) <= cap, (name, gaps)
        assert max(gaps) >= cap / 2  # the cap was reached (jitter takes between half and all of it)
        assert times[-1] - outage_end <= timedelta(seconds=cap)  # heard within the cap after recovering


@pytest.mark.parametrize(("toml", "message"), [
    ('[defaults]\nbackoff_max = "0s"\n', "defaults.backoff_max"),
    ('[defaults]\nmax_age = "1h"\nbackoff_max = "2h"\n', "must not exceed max_age"),
    ('[[receivers]]\nname = "x"\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\nbackoff_max = "0s"\n',
     "receivers[0] (x).backoff_max"),
    ('[defaults]\nmax_age = "1h"\n[[receivers]]\nname = "x"\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\n'
     'backoff_max = "2h"\n', "receivers[0] (x).backoff_max"),
    ('[[receivers]]\nname = "x"\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\nbackoff_max = "soon"\n',
     "not a duration"),
])
def test_bad_backoff_max_exits_2_with_one_line(tmp_path, toml, message):
    (tmp_path / "a.toml").write_text(toml)
    result = subprocess.run([sys.executable, "-m", "reporter", "check-config"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                         "REPORTER_ALERTING_FILE": str(tmp_path / "a.toml")})
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_backoff_max_from_the_file(tmp_path):
    from reporter.alerting.loading import load_alerting
    from reporter.settings import Settings

    (tmp_path / "a.toml").write_text('[defaults]\nbackoff_max = "2m"\n[[receivers]]\nname = "x"\ntype = "webhook"\n'
                                     'url = "http://127.0.0.1:9/h"\nbackoff_max = "30s"\n')
    config = load_alerting(Settings(alerting_file=str(tmp_path / "a.toml")))
    assert config.defaults.backoff_max == 120 and config.receivers[0].backoff_max == 30


@pytest.mark.parametrize(("backoff_max", "cap"), [(None, 60), ("5s", 5)])
def test_retry_after_is_capped_at_backoff_max_and_logged_once(history, caplog, backoff_max, cap):
    """``429`` with ``Retry-After: 999999`` (11 days) twice: each wait is at most the receiver's backoff_max (60 s
    by default), not max_age, so the queue behind it (a resolution) goes out minutes later; said once."""
    caplog.set_level(logging.INFO, "reporter")
    clock = Clock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    receiver = HTTPReceiver()
    receiver.script = [(429, {"Retry-After": "999999"}), (429, {"Retry-After": "999999"})]
    try:
        box = Outbox(history.engine, [Receiver(name="ops", type="webhook", url=receiver.url,
                                               backoff_max=backoff_max)], Defaults(), clock=clock)
        start = clock.now
        box.enqueue("msg_firing", "ops", b'{"status": "firing"}', 1, start)
        box.enqueue("msg_resolved", "ops", b'{"status": "resolved"}', 1, start + timedelta(milliseconds=1))

        async def go():
            async with httpx.AsyncClient() as client:
                for _ in range(10):
                    await box.deliver_due(client)
                    due = box.next_due("ops")
                    if due is None:
                        return
                    assert due - clock.now <= timedelta(seconds=cap)
                    clock.now = max(clock.now, due)
        asyncio.run(go())
        assert [r.json()["status"] for r in receiver.received] == ["firing", "resolved"]
    finally:
        receiver.stop()
    times = attempt_times(history, "msg_firing")
    assert len(times) == 3 and times[-1] - start <= timedelta(seconds=2 * cap)
    assert box.status("msg_resolved")["status"] == "delivered"
    lines = [r.getMessage() for r in caplog.records if "Retry-After" in r.getMessage()]
    assert lines == [f"receiver ops asked to wait 11 d 14 h (Retry-After); waiting at most its backoff_max, {cap} s"]


def test_failing_receiver_logs_start_reminders_every_5_min_and_end_not_each_retry(history, refused_port, caplog):
    """30 minutes of refused connections (about 40 retries of two notifications): one line when it starts, a
    reminder at most (and about) every 5 minutes, one when the receiver is back; never a line per retry."""
    caplog.set_level(logging.INFO, "reporter")
    clock = Clock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    box = Outbox(history.engine, [Receiver(name="ops", type="webhook", url=f"http://127.0.0.1:{refused_port}/h")],
                 Defaults(), clock=clock)
    start = clock.now
    box.enqueue("msg_1", "ops", b"{}", 1, start)
    box.enqueue("msg_2", "ops", b"{}", 1, start + timedelta(milliseconds=1))
    logged_at = []  # the injected clock's time of each line about the receiver

    class Stamp(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("receiver ops:"):
                logged_at.append((clock.now, record.levelname, record.getMessage()))

    handler = Stamp()
    logging.getLogger("reporter").addHandler(handler)
    receiver = None
    try:
        async def until(t: datetime) -> None:
            async with httpx.AsyncClient() as client:
                while clock.now < t:
                    await box.drain(client, "ops")
                    due = box.next_due("ops")
                    if due is None:
                        return
                    clock.now = max(clock.now, due)

        asyncio.run(until(start + timedelta(minutes=30)))
        retries = len(attempt_times(history, "msg_1"))
        receiver = HTTPReceiver(refused_port)
        asyncio.run(until(clock.now + timedelta(minutes=2)))
    finally:
        logging.getLogger("reporter").removeHandler(handler)
        if receiver is not None:
            receiver.stop()
    assert retries >= 30 and len(receiver.received) == 2
    levels = [level for _, level, _ in logged_at]
    assert levels[0] == "WARNING" and "not delivered" in logged_at[0][2]
    assert levels[-1] == "INFO" and "recovered after 3" in logged_at[-1][2]  # 30-odd minutes
    reminders = logged_at[1:-1]
    assert 5 <= len(reminders) <= 6 and all("still failing" in text for _, _, text in reminders), logged_at
    times = [t for t, _, _ in logged_at[:-1]]
    assert all(timedelta(minutes=5) <= b - a <= timedelta(minutes=6) for a, b in itertools.pairwise(times))


class FillingAfterSend:
    """A real webhook receiver (config :class:`Receiver`) whose send fills ``folder``'s filesystem once the
    receiver has answered: the attempt is made, its record cannot be written."""

    def __init__(self, receiver: Receiver, folder) -> None:
        self.receiver, self.folder, self.filler = receiver, folder, None
        self.name, self.timeout, self.backoff_max = receiver.name, receiver.timeout, receiver.backoff_max

    async def send(self, client, notification_id: str, body: bytes):
        attempt = await self.receiver.send(client, notification_id, body)
        if self.filler is None:
            from tests.conftest import fill

            self.filler = fill(self.folder)
        return attempt


def test_a_delivery_whose_record_fails_on_a_full_disk_is_recorded_later_not_sent_again(tmpfs, caplog):
    """The receiver took the notification, then the disk filled before the delivery was recorded: the row stays
    pending in the history, and without memory of the attempt it would be sent again when its lease ran out.
    The outbox keeps the outcome and records it first once the history can be written: one send."""
    from reporter.store.history import History

    caplog.set_level(logging.INFO, logger="reporter.notify.outbox")
    history = History(f"sqlite:///{tmpfs / 'h.db'}", ["grammar"])
    receiver = HTTPReceiver()
    try:
        clock = Clock(datetime.now(UTC))
        hook = FillingAfterSend(Receiver(name="hook", type="webhook", url=receiver.url, timeout=2), tmpfs)
        box = Outbox(history.engine, [hook], Defaults(), clock=clock)
        box.enqueue("msg_once", "hook", b'{"n": 1}', 1, clock.now)

        async def once():
            async with httpx.AsyncClient() as client:
                return await box.deliver_next(client, "hook")

        with pytest.raises(Exception, match="full"):
            asyncio.run(once())
        assert len(receiver.received) == 1 and box.status("msg_once")["status"] == "pending"
        clock.now += timedelta(seconds=60)  # the lease (timeout + 5 s) has run out
        with pytest.raises(Exception, match="full"):  # still full: nothing is sent, the record is tried again
            asyncio.run(once())
        hook.filler.unlink()
        assert asyncio.run(once()) == "delivered"
        assert asyncio.run(once()) is None
        assert len(receiver.received) == 1, "sent again"
        assert box.status("msg_once")["status"] == "delivered" and box.status("msg_once")["attempts"] == 1
        assert "is recorded now that the history can be written" in caplog.text
    finally:
        receiver.stop()
        history.close()
