import logging

import pytest
import redis

from reporter.collect.ai import AICollector, ai_section
from reporter.collect.counters import CounterWindow

FEATURES = ["grammar", "quiz", "voice", "scenario"]


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def write(client, prefix, **values):
    for key, value in values.items():
        client.set(prefix + key.replace("__", ":"), value)


def test_lifetime_figures_from_real_counters(client, redis_prefix):
    write(client, redis_prefix, total_requests=150, total_time=345.0, cache_hits=15,
          grammar__requests=40, grammar__success=38, grammar__time=80.0)
    counters = AICollector(client, redis_prefix, FEATURES).collect()
    section = ai_section(counters, CounterWindow(330), 1000.0, FEATURES, "mistral:7b", None)
    assert section.total_requests == 150
    assert section.avg_response_time == pytest.approx(2.3)
    assert section.cache_hit_rate == pytest.approx(10.0)
    grammar = section.features["grammar"]
    assert (grammar.requests, grammar.success, grammar.success_rate, grammar.avg_time) == (40, 38, 95.0, 2.0)
    assert section.features["quiz"].requests == 0 and section.features["quiz"].success_rate is None
    assert section.windows == {"last_interval": None, "5m": None}  # one sample: no window yet


def test_windowed_values_and_counter_reset(client, redis_prefix):
    collector = AICollector(client, redis_prefix, FEATURES)
    window = CounterWindow(330)
    write(client, redis_prefix, total_requests=100, total_time=200.0, cache_hits=10,
          quiz__requests=100, quiz__success=100, quiz__time=200.0)
    ai_section(collector.collect(), window, 0.0, FEATURES, "m", None)
    write(client, redis_prefix, total_requests=110, total_time=320.0, cache_hits=12,
          quiz__requests=110, quiz__success=108, quiz__time=320.0)
    section = ai_section(collector.collect(), window, 10.0, FEATURES, "m", None)
    last = section.windows["last_interval"]
    assert last.window_seconds == 10.0
    assert last.requests == 10 and last.requests_per_second == 1.0
    assert last.avg_response_time == pytest.approx(12.0)
    assert last.cache_hit_rate == pytest.approx(20.0)
    assert last.success_rate == pytest.approx(80.0) and last.error_rate == pytest.approx(20.0)
    assert last.features["quiz"].success_rate == pytest.approx(80.0)
    # Redis flushed and the app counted 4 more requests: a reset, not a negative rate
    client.delete(*[redis_prefix + k for k in ("total_requests", "total_time", "cache_hits", "quiz:requests",
                                              "quiz:success", "quiz:time")])
    write(client, redis_prefix, total_requests=4, total_time=8.0, quiz__requests=4, quiz__success=4, quiz__time=8.0)
    section = ai_section(collector.collect(), window, 20.0, FEATURES, "m", None)
    last, five = section.windows["last_interval"], section.windows["5m"]
    assert last.requests == 4 and last.avg_response_time == pytest.approx(2.0)
    assert five.requests == 14 and five.window_seconds == 20.0
    assert five.avg_response_time == pytest.approx((120.0 + 8.0) / 14)
    assert five.success_rate == round((8 + 4) / 14 * 100, 2)  # percentages: 2 decimals (reporter.rounding)


def test_garbage_value_is_missing_with_one_warning(client, redis_prefix, caplog):
    write(client, redis_prefix, total_requests="lots", total_time=10.0, grammar__requests=-3)
    collector = AICollector(client, redis_prefix, FEATURES)
    with caplog.at_level(logging.WARNING):
        counters = collector.collect()
        collector.collect()
    assert counters["total_requests"] is None and counters["grammar:requests"] is None
    assert counters["total_time"] == 10.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once per bad key, not once per sample
    assert any(f"{redis_prefix}total_requests" in w and "lots" in w for w in warnings)
    section = ai_section(counters, CounterWindow(330), 0.0, FEATURES, "m", None)
    assert section.total_requests is None and section.avg_response_time is None


def test_redis_refusing_connections_raises_within_timeout(refused_port):
    from reporter.collect.sources import redis_client

    client = redis_client(f"redis://127.0.0.1:{refused_port}/0", 1.0)
    with pytest.raises(redis.ConnectionError):
        AICollector(client, "ai:", FEATURES).collect()


def test_wrong_redis_type_is_missing_with_a_warning(client, redis_prefix, caplog):
    client.rpush(redis_prefix + "total_requests", 5, 6)
    client.set(redis_prefix + "total_time", 3.0)
    with caplog.at_level(logging.WARNING):
        counters = AICollector(client, redis_prefix, FEATURES).collect()
    assert counters["total_requests"] is None and counters["total_time"] == 3.0
    assert counters["quiz:requests"] == 0.0  # absent is 0, not an error
    assert "not a string key" in caplog.text
