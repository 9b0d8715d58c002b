"""The collector protocol: the sampler runs exactly the collectors it is given, bounds each by the probe timeout,
records what fails, and the default list fills every place of the snapshot."""

import threading
import time
from datetime import UTC, datetime

import pytest

from reporter.collect.collector import Collector, Section
from reporter.collect.defaults import default_collectors
from reporter.collect.redis_ping import RedisPing
from reporter.collect.sampler import Sampler
from reporter.collect.system import SystemCollector
from reporter.settings import load_settings
from reporter.snapshot import AISection, OllamaHealth, ServiceHealth, SystemSection, UsageSection, collector_places


class Fixed(Collector):
    """Answers the same value every time and counts its collections."""

    def __init__(self, name, value, interval=0.0):
        self.name, self.value, self.interval = name, value, interval
        self.calls = 0

    def collect(self, now):
        self.calls += 1
        value = self.value(now) if callable(self.value) else self.value
        return Section.of(value)

    def missing(self, error):
        return ServiceHealth(up=False, error=error)


class Raising(Fixed):
    def collect(self, now):
        self.calls += 1
        raise RuntimeError("boom from postgresql://app:s3cr3t-pw@db/app\nsecond line")


class Hung(Fixed):
    def __init__(self, name, release):
        super().__init__(name, None)
        self.release = release

    def collect(self, now):
        self.calls += 1
        self.release.wait(30)
        return Section(ServiceHealth(up=True))


class BrokenSystem(Collector):
    name, inline = "system", True

    def collect(self, now):
        raise OSError("no /proc")

    def missing(self, error):
        return SystemSection(error=error)


def ollama_up():
    return Fixed("ollama", OllamaHealth(model="m", up=True, is_available=True))


def settings(**overrides):
    return load_settings(None, probe_timeout=0.5, **overrides)


def test_the_sampler_runs_exactly_the_collectors_it_is_given(refused_port):
    """Redis, the database and Ollama point at a refused port: only the given collectors are read."""
    given = [SystemCollector("/"), Fixed("database", ServiceHealth(up=True, latency_ms=1.5)),
             Fixed("redis", ServiceHealth(up=True, latency_ms=2.5)), ollama_up(),
             Fixed("ai", AISection(model="m", total_requests=7)),
             Fixed("usage", lambda now: UsageSection(collected_at=now, total_users=3), interval=3600)]
    sampler = Sampler(settings(redis_url=f"redis://127.0.0.1:{refused_port}/0",
                               app_database_url=f"postgresql+psycopg://u@127.0.0.1:{refused_port}/x",
                               ollama_url=f"http://127.0.0.1:{refused_port}"), given)
    try:
        first = sampler.sample()
        second = sampler.sample()
    finally:
        sampler.close()
    assert second.errors == {} and second.status == "healthy"
    assert (second.services.database.latency_ms, second.services.redis.latency_ms) == (1.5, 2.5)
    assert second.ai.total_requests == 7 and second.ai.is_available is True  # availability from the Ollama probe
    assert second.system.memory_percent is not None
    assert [c.calls for c in given[1:]] == [2, 2, 2, 2, 1]  # usage is due once an hour
    assert second.usage.total_users == 3 and second.usage.collected_at == first.timestamp


def test_a_raising_or_hung_collector_is_an_error_and_does_not_stall_the_others():
    release = threading.Event()
    given = [BrokenSystem(), Raising("database", None), Hung("redis", release), ollama_up(),
             Fixed("ai", AISection(model="m"))]
    sampler = Sampler(settings(), given)
    try:
        for _ in range(2):  # the second sample finds the hung collector still running
            started = time.monotonic()
            snap = sampler.sample()
            assert time.monotonic() - started < 0.5 + 0.5
            assert snap.errors["database"] == "RuntimeError: boom from postgresql://app:***@db/app"
            assert snap.services.database.up is False and snap.services.database.error == snap.errors["database"]
            assert snap.services.redis.up is False and snap.services.ollama.up is True
            assert snap.errors["system"] == "OSError: no /proc" and snap.system.error == "OSError: no /proc"
            assert snap.status == "degraded" and snap.usage is None and "usage" not in snap.errors
        assert "timed out after 0.5 s" not in snap.errors["redis"]
        assert "still running from an earlier sample" in snap.errors["redis"]
        assert given[2].calls == 1  # not started again while stuck
    finally:
        release.set()
        sampler.close()


def test_the_snapshot_places_are_checked_when_the_sampler_is_built():
    base = [SystemCollector("/"), Fixed("database", ServiceHealth()), Fixed("redis", ServiceHealth()),
            ollama_up(), Fixed("ai", AISection(model="m"))]
    Sampler(settings(), base).close()
    with pytest.raises(ValueError, match="no collector for the snapshot's 'redis'"):
        Sampler(settings(), [c for c in base if c.name != "redis"])
    with pytest.raises(ValueError, match="collector 'gpu' has no place in the snapshot"):
        Sampler(settings(), [*base, Fixed("gpu", ServiceHealth())])
    with pytest.raises(ValueError, match="two collectors named 'redis'"):
        Sampler(settings(), [*base, Fixed("redis", ServiceHealth())])

    class NoMissing(Collector):  # the snapshot could not be built when it fails
        name = "redis"

        def collect(self, now):
            return Section(ServiceHealth(up=True))

    with pytest.raises(ValueError, match="'redis' fills a required place: its missing"):
        Sampler(settings(), [*(c for c in base if c.name != "redis"), NoMissing()])


def test_default_collectors_fill_every_place_and_connect_nothing_until_the_first_sample(redis_url, redis_prefix):
    config = settings(redis_url=redis_url, ai_key_prefix=redis_prefix, usage_interval=120)
    collectors = default_collectors(config)
    assert [c.name for c in collectors] == ["system", "database", "redis", "ollama", "ai", "usage"]
    assert list(collector_places()) == [c.name for c in collectors]
    by_name = {c.name: c for c in collectors}
    assert by_name["usage"].interval == 120 and by_name["system"].inline
    # the Redis probe PINGs without redis-py (an agent never loads it); the AI counters have the redis-py client
    assert isinstance(by_name["redis"].client.get(), RedisPing)
    # the probe's engine connects anew at each probe (a hung postmaster still answers on pooled sessions); the usage
    # queries pool theirs
    assert by_name["database"].engine is not by_name["usage"].engine
    assert not by_name["ai"].client.made and not by_name["database"].engine.made
    sampler = Sampler(config, collectors)
    try:
        snap = sampler.sample(datetime.now(UTC))
        assert snap.services.redis.up is True and by_name["ai"].client.made
    finally:
        sampler.close()
    assert not by_name["redis"].client.made and not by_name["database"].engine.made  # closed


def test_an_ai_reading_later_than_the_deadline_leaves_the_counter_window_alone(redis_url, redis_prefix):
    """The sampler has given up on a late reading (a probe left behind): its counters must not enter the window
    under the old sample's time."""
    import redis

    from reporter.collect.ai import AICollector
    from reporter.collect.sources import LazyClient

    def slow_client():
        time.sleep(0.3)  # as a connection that took its time
        return redis.Redis.from_url(redis_url)

    collector = AICollector(LazyClient(slow_client, lambda c: c.close()), redis_prefix, ["quiz"], model="m",
                            deadline=0.2)
    try:
        late = collector.collect(datetime.now(UTC))
        assert late.value is None and late.error == "timed out after 0.2 s" and len(collector.window) == 0
        on_time = collector.collect(datetime.now(UTC))  # connected now: well within the deadline
        assert on_time.error is None and on_time.value.total_requests == 0 and len(collector.window) == 1
    finally:
        collector.close()


def test_every_service_of_the_snapshot_counts_in_the_status():
    """A new probe's field in Services counts without touching the status computation."""
    from reporter.snapshot import Services, overall_status

    class MoreServices(Services):
        queue: ServiceHealth

    up, down = ServiceHealth(up=True), ServiceHealth(up=False)
    ollama = OllamaHealth(model="m", up=True, is_available=True)
    assert overall_status(MoreServices(database=up, redis=up, ollama=ollama, queue=up)) == "healthy"
    assert overall_status(MoreServices(database=up, redis=up, ollama=ollama, queue=down)) == "degraded"
    assert overall_status(MoreServices(database=down, redis=down, ollama=ollama.model_copy(update={"up": False}),
                                       queue=up)) == "degraded"
    assert overall_status(Services(database=down, redis=down, ollama=ollama.model_copy(update={"up": False}))) \
        == "unhealthy"
