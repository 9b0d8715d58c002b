"""The sampling cycle on a stepped wall clock: real Redis counters, a real history file, the real evaluator; a
failing step is logged once while it lasts, and the snapshot is served whatever fails."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import redis

from reporter.alerting.loading import load_alerting
from reporter.alerting.pipeline import Alerting
from reporter.api.latest import Latest
from reporter.base.ms import to_ms
from reporter.collect import system
from reporter.collect.sampler import Sampler
from reporter.daemon.jobs import PruneJob, SampleJob
from reporter.settings import load_settings
from reporter.store.history import History
from tests.clock import SteppedClock
from tests.snapshots import FEATURES

INTERVAL = 10.0
STEPS = [-600.0, -60.0, 600.0]
RULES = """
[rules.memory_in_use]      # holds on every sample: memory in use is never 0 %
metric = "system.memory_percent"
op = ">"
threshold = 0
for = "5m"
"""


@pytest.fixture
def cycle(tmp_path, redis_url, redis_prefix, refused_port, monkeypatch):
    """A SampleJob on a SteppedClock, its Latest and History."""
    # the CPU collector measures over at least 0.2 s of real time; virtual time runs faster than that here
    monkeypatch.setattr(system, "MIN_CPU_WINDOW_SECONDS", 0.0)
    (tmp_path / "alerting.toml").write_text(RULES)
    settings = load_settings(
        None, redis_url=redis_url, ai_key_prefix=redis_prefix, sample_interval=INTERVAL, probe_timeout=0.5,
        app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x",
        ollama_url=f"http://127.0.0.1:{refused_port}", history_url=f"sqlite:///{tmp_path / 'h.db'}",
        alerting_file=str(tmp_path / "alerting.toml"))
    history = History(settings.history_url, settings.ai_features)
    sampler = Sampler.from_settings(settings)
    latest = Latest()
    clock = SteppedClock(datetime.now(UTC).replace(microsecond=0))
    job = SampleJob(sampler, history, latest, Alerting(settings, load_alerting(settings), history), clock=clock)
    yield job, clock, latest, history
    sampler.close()
    history.close()


def memory_alert(latest):
    alerts = [a for a in latest.get().snapshot.alerts if a.alertname == "memory_in_use"]
    return alerts[0].state if alerts else None


@pytest.mark.parametrize("step", STEPS)
def test_rates_after_a_wall_clock_step_use_real_elapsed_time(cycle, redis_url, redis_prefix, step, caplog):
    job, clock, latest, history = cycle
    client = redis.Redis.from_url(redis_url)
    increments = []  # requests added before each sample (2 req/s, then 3 req/s after the step)
    for n in range(70):
        if n:
            clock.advance(INTERVAL)
            if n == 35:
                clock.step(step)
            increments.append(int((2 if n < 35 else 3) * INTERVAL))
            client.incrby(redis_prefix + "total_requests", increments[-1])
        with caplog.at_level(logging.WARNING):
            job()
        if n >= 35:
            windows = latest.get().snapshot.ai.windows
            assert windows["last_interval"].requests_per_second == pytest.approx(3.0), n
            assert windows["last_interval"].window_seconds == pytest.approx(INTERVAL), n
            real = sum(increments[-30:]) / 300.0  # the last 300 real seconds
            assert windows["5m"].requests_per_second == pytest.approx(real), n
            assert windows["5m"].window_seconds == pytest.approx(300.0), n
    assert latest.get().snapshot.timestamp == clock.wall()  # stamps stay on the wall clock
    assert history.count() == 70  # none lost, though some fall on the milliseconds of earlier ones
    stepped = [r.getMessage() for r in caplog.records if "wall clock stepped" in r.getMessage()]
    direction = "backwards" if step < 0 else "forward"
    assert len(stepped) == 1 and f"stepped {direction} by {int(abs(step) // 60)} min" in stepped[0], stepped


@pytest.mark.parametrize("step", STEPS)
def test_pending_for_counts_real_time_across_a_wall_clock_step(cycle, step):
    job, clock, latest, _ = cycle
    states = {}
    for t in range(0, 400, int(INTERVAL)):
        if t:
            clock.advance(INTERVAL)
        if t == 100:
            clock.step(step)
        job()
        states[t] = memory_alert(latest)
    assert {t for t, s in states.items() if s == "pending"} == set(range(0, 300, 10))
    assert {t for t, s in states.items() if s == "firing"} == set(range(300, 400, 10))


class BrokenAlerting:
    """Rules whose evaluation raises (a bug), to check the job survives it and says so once."""

    def evaluate(self, snapshot):
        raise ZeroDivisionError("division by zero")


def test_failing_evaluation_is_logged_once_with_its_traceback_and_samples_go_on(tmp_path, refused_port, caplog):
    caplog.set_level(logging.INFO, "reporter.daemon")
    settings = load_settings(None, redis_url=f"redis://127.0.0.1:{refused_port}/0", probe_timeout=0.2,
                             app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x",
                             ollama_url=f"http://127.0.0.1:{refused_port}")
    history = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES)
    sampler = Sampler.from_settings(settings)
    latest = Latest()
    job = SampleJob(sampler, history, latest, BrokenAlerting())
    try:
        for _ in range(4):
            job()
    finally:
        sampler.close()
        history.close()
    assert latest.get() is not None and history.health.error is None
    lines = [r for r in caplog.records if r.name == "reporter.daemon.jobs"]
    assert len(lines) == 1 and lines[0].exc_info is not None
    assert lines[0].getMessage() == ("alerting: evaluating the rules failed (ZeroDivisionError: division by zero); "
                                     "alert states are unchanged")


def test_daily_prune_deletes_samples_older_than_retention_and_keeps_newer_ones(tmp_path):
    history = History(f"sqlite:///{tmp_path / 'history.db'}", FEATURES)
    try:
        now = datetime.now(UTC)
        ages = {1.0: timedelta(days=31), 2.0: timedelta(days=30, minutes=10), 3.0: timedelta(days=29, hours=23),
                4.0: timedelta(hours=1)}
        with history.engine.begin() as conn:
            for cpu, age in ages.items():
                conn.execute(history._insert, {"ts": to_ms(now - age), "cpu_percent": cpu})
        PruneJob(history, retention_days=30, interval=1.0)()
        kept = [v for _, v in history.series("cpu_percent", now - timedelta(days=60), now)]
        assert kept == [3.0, 4.0]  # older than 30 days gone, a day younger kept
    finally:
        history.close()


def test_prune_keeps_the_month_a_monthly_report_still_needs_then_lets_it_go(tmp_path):
    """A 31-day month under a 30-day retention: its first day is kept until the month's report is rendered; once it
    is done, the retention applies again (the current month's start is still kept)."""
    from reporter.report.job import ReportJob
    from reporter.report.period import Period
    from reporter.settings import Settings

    history = History(f"sqlite:///{tmp_path / 'history.db'}", FEATURES)
    try:
        settings = Settings(history_url=f"sqlite:///{tmp_path / 'history.db'}", timezone="UTC", reports="monthly",
                            report_dir=str(tmp_path / "reports"))
        job = ReportJob(settings, history)
        now = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)  # October (31 days) is over; its report is not rendered yet
        october = Period.parse("2026-10", UTC)
        with history.engine.begin() as conn:
            for day in range(1, 32):
                conn.execute(history._insert, {"ts": to_ms(datetime(2026, 10, day, 12, tzinfo=UTC)), "cpu_percent": day})
        prune = PruneJob(history, retention_days=30, interval=1.0, hold=job.needed_since)
        assert prune.cutoff(now) == october.start
        history.prune(prune.cutoff(now))
        assert len(history.series("cpu_percent", october.start, october.end)) == 31  # 1 October kept
        schedule = job.schedule_of(october)
        assert schedule.claim(october, now, 60)
        schedule.done(october, [], now, email=False)
        assert prune.cutoff(now) == now - timedelta(days=30)
        history.prune(prune.cutoff(now))
        assert next(v for _, v in history.series("cpu_percent", october.start, october.end)) == 2.0
        # the current month's start is kept too: on 31 December, 1 December is 30 days and 1 hour back
        late = datetime(2026, 12, 31, 1, tzinfo=UTC)
        assert job.needed_since(late) == datetime(2026, 11, 1, tzinfo=UTC)  # November not rendered
        assert PruneJob(history, 30, hold=lambda now: None).cutoff(late) == late - timedelta(days=30)
    finally:
        history.close()


def test_prune_holds_nothing_for_a_period_that_ended_before_the_first_sample(tmp_path, caplog):
    """A history started on 5 December: November's monthly report is never rendered (no sample of it), so the
    prune neither keeps samples for it nor logs "keeping samples ... for a report not rendered yet" at every run."""
    from reporter.report.job import ReportJob
    from reporter.settings import Settings

    url = f"sqlite:///{tmp_path / 'history.db'}"
    history = History(url, FEATURES)
    try:
        settings = Settings(history_url=url, timezone="UTC", reports="daily,weekly,monthly",
                            report_dir=str(tmp_path / "reports"))
        job = ReportJob(settings, history)
        now = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
        with history.engine.begin() as conn:
            conn.execute(history._insert, {"ts": to_ms(datetime(2026, 12, 5, 2, 28, tzinfo=UTC)), "cpu_percent": 1})
        assert job.needed_since(now) == datetime(2026, 11, 30, tzinfo=UTC)  # the current week's Monday only
        prune = PruneJob(history, retention_days=30, interval=1.0, hold=job.needed_since)
        with caplog.at_level(logging.INFO, logger="reporter.daemon.jobs"):
            assert prune.cutoff(now) == now - timedelta(days=30)
        assert "keeping samples" not in caplog.text
    finally:
        history.close()
