"""The leased queue helper on SQLite and PostgreSQL: atomic claims, lease takeover, attempts, the one backoff."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from reporter.base.ms import to_ms
from reporter.store.history import History
from reporter.store.leases import Backoff, LeasedQueue
from reporter.store.report_schema import report_emails, reports

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """The URL of an empty history: a SQLite file, or a private schema of the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'h.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def two(url):
    """Two histories (two engines, as two processes would have) on one database."""
    first = History(url, ["quiz"])
    second = History(url, ["quiz"])
    yield first, second
    second.close()
    first.close()


def emails(history: History) -> LeasedQueue:
    return LeasedQueue(history.engine, report_emails, "day", ("pending",))


def claims(history: History) -> LeasedQueue:
    return LeasedQueue(history.engine, reports, "day", ("claimed", "failed"), claimed_status="claimed",
                       holder="claimed_by")


def pending(history: History, *days: str) -> None:
    with history.engine.begin() as conn:
        conn.execute(insert(report_emails), [{"day": d, "status": "pending", "attempts": 0,
                                              "next_attempt_at": to_ms(NOW), "created_at": to_ms(NOW)} for d in days])


def race(first, second) -> list:
    """Run ``first()`` and ``second()`` at the same moment on two threads; their results."""
    barrier, results = threading.Barrier(2), [None, None]

    def run(i, claim):
        barrier.wait()
        results[i] = claim()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_claimers_race_for_a_row_and_exactly_one_wins(two):
    a, b = two
    days = [f"2026-11-{d:02d}" for d in range(1, 21)]
    pending(a, *days)
    qa, qb = emails(a), emails(b)
    for day in days:
        won = race(lambda d=day: qa.claim(d, NOW, 60), lambda d=day: qb.claim(d, NOW, 60))
        assert sum(w is not None for w in won) == 1, (day, won)


def test_two_claimers_race_to_create_a_claim_and_exactly_one_wins(two):
    a, b = two
    qa, qb = claims(a), claims(b)
    for d in range(1, 21):
        day = f"2026-11-{d:02d}"
        won = race(lambda d=day: qa.claim(d, NOW, 60, holder="a", values={"updated_at": 0}, create={"attempts": 0}),
                   lambda d=day: qb.claim(d, NOW, 60, holder="b", values={"updated_at": 0}, create={"attempts": 0}))
        assert sum(w is not None for w in won) == 1, (day, won)
        with a.engine.connect() as conn:
            holder = conn.execute(select(reports.c.claimed_by).where(reports.c.day == day)).scalar()
        assert holder == ("a" if won[0] is not None else "b")  # the winner is recorded as the holder


def test_an_expired_lease_is_taken_over_and_the_holder_recorded(two):
    a, b = two
    qa, qb = claims(a), claims(b)
    day = "2026-11-24"
    first = qa.claim(day, NOW, 60, holder="host-a:1:1.00", values={"updated_at": 0}, create={"attempts": 0})
    assert first is not None and first.lease_until == to_ms(NOW) + 60_000
    assert qb.claim(day, NOW + timedelta(seconds=59), 60, holder="host-b:2:2.00", create={"attempts": 0}) is None
    second = qb.claim(day, NOW + timedelta(seconds=60), 60, holder="host-b:2:2.00", values={"updated_at": 0},
                      create={"attempts": 0})
    assert second is not None and second.took_over is None
    with a.engine.connect() as conn:
        row = conn.execute(select(reports).where(reports.c.day == day)).mappings().one()
    assert row["claimed_by"] == "host-b:2:2.00" and row["lease_until"] == to_ms(NOW) + 120_000
    # the first holder comes back late: its lease ended, it cannot claim while the second holds it
    assert qa.claim(day, NOW + timedelta(seconds=61), 60, holder="host-a:1:1.00", create={"attempts": 0}) is None


def test_a_dead_holders_claim_is_taken_over_before_its_lease_ends(two):
    import subprocess
    import sys

    from reporter.report.holder import Holder, is_dead, this_process

    a, b = two
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        dead = str(Holder(this_process().host, child.pid, round(psutil.Process(child.pid).create_time(), 2)))
    finally:
        child.kill()
        child.wait()
    qa = LeasedQueue(a.engine, reports, "day", ("claimed", "failed"), claimed_status="claimed", holder="claimed_by",
                     is_dead=is_dead)
    qb = LeasedQueue(b.engine, reports, "day", ("claimed", "failed"), claimed_status="claimed", holder="claimed_by",
                     is_dead=is_dead)
    me = str(this_process())
    assert qa.claim("2026-11-24", NOW, 300, holder=dead, values={"updated_at": 0}, create={"attempts": 0})
    taken = qb.claim("2026-11-24", NOW + timedelta(seconds=1), 300, holder=me, values={"updated_at": 0},
                     create={"attempts": 0})
    assert taken is not None and taken.took_over == dead  # at once, well inside the dead holder's 300 s lease
    # a live holder (this process) keeps it until its lease ends
    assert qa.claim("2026-11-24", NOW + timedelta(seconds=2), 300, holder="other", create={"attempts": 0}) is None
    with a.engine.connect() as conn:
        assert conn.execute(select(reports.c.claimed_by)).scalar() == me


def test_attempts_are_counted_and_a_retry_waits_within_the_policy(two):
    a, _ = two
    queue = emails(a)
    pending(a, "2026-11-24")
    policy = Backoff(10.0, 60.0)
    at = NOW
    for failures in range(1, 6):
        assert queue.claim("2026-11-24", at, 30) is not None
        attempt = queue.attempted("2026-11-24", at, retry=policy, values={"last_error": f"boom {failures}"})
        low, high = policy.bounds(failures)
        assert attempt.attempts == failures and low <= attempt.delay <= high
        with a.engine.connect() as conn:
            row = conn.execute(select(report_emails)).mappings().one()
        assert row["lease_until"] is None and row["last_error"] == f"boom {failures}"
        assert row["next_attempt_at"] == to_ms(at) + int(attempt.delay * 1000)
        assert not queue.is_claimable(row, at + timedelta(seconds=low - 0.01))
        assert queue.claim("2026-11-24", at + timedelta(seconds=low - 0.01), 30) is None  # not due yet
        at = datetime.fromtimestamp(row["next_attempt_at"] / 1000, UTC)
        assert queue.is_claimable(row, at)
    assert queue.claim("2026-11-24", at, 30) is not None
    assert queue.attempted("2026-11-24", at, status="sent").attempts == 6
    assert queue.claim("2026-11-24", at + timedelta(days=1), 30) is None  # closed: never claimed again


def test_release_gives_the_row_back_and_close_ends_it_without_an_attempt(two):
    a, b = two
    pending(a, "2026-11-24")
    qa, qb = emails(a), emails(b)
    assert qa.claim("2026-11-24", NOW, 60) is not None
    assert qb.claim("2026-11-24", NOW, 60) is None
    qa.release("2026-11-24")
    assert qb.claim("2026-11-24", NOW, 60) is not None
    assert qb.close("2026-11-24", "expired") is True
    assert qb.close("2026-11-24", "expired") is False
    with a.engine.connect() as conn:
        row = conn.execute(select(report_emails)).mappings().one()
    assert row["status"] == "expired" and row["attempts"] == 0 and row["lease_until"] is None


def test_backoff_is_exponential_jittered_within_bounds_and_capped():
    policy = Backoff(1.0, 60.0, rng=random.Random(9))
    assert [policy.bounds(n) for n in (1, 2, 3, 7, 8, 50)] == [(0.5, 1), (1, 2), (2, 4), (30, 60), (30, 60),
                                                              (30, 60)]
    for failures in (1, 2, 3, 6, 7, 20, 1000):
        low, high = policy.bounds(failures)
        draws = [policy.delay(failures) for _ in range(500)]
        assert all(low <= d <= high for d in draws)
        assert max(draws) - min(draws) > (high - low) * 0.8  # spread over the range: jittered
        assert max(draws) > low + (high - low) * 0.9 and min(draws) < low + (high - low) * 0.1
    assert max(policy.delay(1000) for _ in range(100)) <= 60
    # a requested pause (Retry-After) is honoured, up to the cap
    assert policy.delay(1, asked=20) == 20
    assert policy.delay(1, asked=999_999) == 60
    assert 0.5 <= policy.delay(1, asked=0.1) <= 1
    # reproducible with a seeded source
    assert [Backoff(5, 80, rng=random.Random(3)).delay(n) for n in range(1, 6)] == \
           [Backoff(5, 80, rng=random.Random(3)).delay(n) for n in range(1, 6)]
    assert Backoff(10, 4).bounds(1) == (2, 4)  # a cap below the first step caps it too
    with pytest.raises(ValueError, match="> 0"):
        Backoff(0, 5)


# ---- the three users share the one policy ------------------------------------------------------------------------


def delays_after(history: History, table, now: datetime) -> dict[str, float]:
    with history.engine.connect() as conn:
        rows = conn.execute(select(table.c.day, table.c.next_attempt_at)).all()
    return {day: (at - to_ms(now)) / 1000 for day, at in rows}


def jittered_within(delays, policy: Backoff, failures: int) -> None:
    low, high = policy.bounds(failures)
    assert all(low <= d <= high for d in delays), (low, high, delays)
    assert len(set(delays)) == len(delays)  # jittered: no two rows wait alike


def seeded(policy: Backoff, seed: int) -> Backoff:
    return Backoff(policy.initial, policy.maximum, rng=random.Random(seed))


def test_report_email_retries_follow_the_one_policy(tmp_path):
    from reporter.report.mail import BACKOFF, ReportMailer
    from reporter.settings import load_settings

    h = History(f"sqlite:///{tmp_path / 'h.db'}", ["quiz"])
    try:
        days = [f"2026-11-{d:02d}" for d in range(20, 26)]
        pending(h, *days)  # never rendered: each send fails (the HTML is missing) and is retried
        settings = load_settings(None, smtp_host="127.0.0.1", smtp_port=9, email_to="team@example.com",
                                 report_dir=str(tmp_path / "reports"))
        assert ReportMailer(h.engine, settings, "h").backoff is BACKOFF and Backoff(60, 3600) == BACKOFF
        mailer = ReportMailer(h.engine, settings, "h", backoff=seeded(BACKOFF, 4))
        same = seeded(BACKOFF, 4)
        assert mailer.deliver_due(NOW) == 0
        delays = delays_after(h, report_emails, NOW)
        assert [delays[d] for d in days] == pytest.approx([same.delay(1) for _ in days], abs=0.001)
        jittered_within(delays.values(), BACKOFF, 1)
        later = NOW + timedelta(seconds=60)
        assert mailer.deliver_due(later) == 0
        delays = delays_after(h, report_emails, later)
        assert [delays[d] for d in days] == pytest.approx([same.delay(2) for _ in days], abs=0.001)
        jittered_within(delays.values(), BACKOFF, 2)
    finally:
        h.close()


def test_report_rendering_retries_follow_the_one_policy(tmp_path):
    from zoneinfo import ZoneInfo

    from reporter.report.period import Period
    from reporter.report.schedule import BACKOFF, ReportSchedule

    h = History(f"sqlite:///{tmp_path / 'h.db'}", ["quiz"])
    try:
        assert ReportSchedule(h.engine, ZoneInfo("UTC")).backoff is BACKOFF and Backoff(300, 6 * 3600) == BACKOFF
        schedule = ReportSchedule(h.engine, ZoneInfo("UTC"), backoff=seeded(BACKOFF, 5))
        same = seeded(BACKOFF, 5)
        days = [Period.day(datetime(2026, 11, d, tzinfo=UTC).date(), "UTC") for d in range(20, 26)]
        returned = []
        for day in days:
            assert schedule.claim(day, NOW, 60)
            returned.append(schedule.failed(day, "boom", NOW))
        assert returned == [same.delay(1) for _ in days]
        stored = delays_after(h, reports, NOW)
        assert [stored[d.key] for d in days] == pytest.approx(returned, abs=0.001)
        jittered_within(returned, BACKOFF, 1)
    finally:
        h.close()


def test_outbox_retries_follow_the_one_policy(history, refused_port):
    import asyncio

    import httpx

    from reporter.alerting.config import Defaults, Receiver
    from reporter.notify.outbox import Outbox
    from reporter.store.alert_schema import outbox

    url = f"http://127.0.0.1:{refused_port}/hook"
    receivers = [Receiver(name=f"r{i}", type="webhook", url=url) for i in range(6)]
    receivers.append(Receiver(name="capped", type="webhook", url=url, backoff_max="5s"))
    defaults = Defaults()
    box = Outbox(history.engine, receivers, defaults, clock=lambda: NOW, rng=random.Random(6))
    assert Outbox(history.engine, receivers, defaults).backoff(receivers[0]) == Backoff(defaults.backoff_initial,
                                                                                        defaults.backoff_max)
    assert box.backoff(receivers[-1]) == Backoff(defaults.backoff_initial, 5)
    for r in receivers:
        box.enqueue(f"msg_{r.name}", r.name, b"{}", 1, NOW)

    async def attempt_each() -> None:
        async with httpx.AsyncClient() as client:
            for r in receivers:  # one at a time: the draws follow the receivers' order
                assert await box.deliver_next(client, r.name) == "retry"

    asyncio.run(attempt_each())
    same = random.Random(6)
    expected = [Backoff(defaults.backoff_initial, box.backoff_max(r), rng=same).delay(1) for r in receivers]
    with history.engine.connect() as conn:
        stored = dict(conn.execute(select(outbox.c.receiver, outbox.c.next_attempt_at)).all())
    delays = [(stored[r.name] - to_ms(NOW)) / 1000 for r in receivers]
    assert delays == pytest.approx(expected, abs=0.001)
    jittered_within(delays, box.backoff(receivers[0]), 1)
