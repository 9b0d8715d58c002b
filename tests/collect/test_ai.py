import logging

import pytest
import redis

from reporter.collect.ai import AICollector, ai_section
from reporter.counters import CounterWindow

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
    counters = AICollector(client, redis_prefix, FEATURES).read()
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
    ai_section(collector.read(), window, 0.0, FEATURES, "m", None)
    write(client, redis_prefix, total_requests=110, total_time=320.0, cache_hits=12,
          quiz__requests=110, quiz__success=108, quiz__time=320.0)
    section = ai_section(collector.read(), window, 10.0, FEATURES, "m", None)
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
    section = ai_section(collector.read(), window, 20.0, FEATURES, "m", None)
    last, five = section.windows["last_interval"], section.windows["5m"]
    assert last.requests == 4 and last.avg_response_time == pytest.approx(2.0)
    assert five.requests == 14 and five.window_seconds == 20.0
    assert five.avg_response_time == pytest.approx((120.0 + 8.0) / 14)
    assert five.success_rate == round((8 + 4) / 14 * 100, 2)  # percentages: 2 decimals (reporter.rounding)


def test_garbage_value_is_missing_with_one_warning(client, redis_prefix, caplog):
    write(client, redis_prefix, total_requests="lots", total_time=10.0, grammar__requests=-3)
    collector = AICollector(client, redis_prefix, FEATURES)
    with caplog.at_level(logging.WARNING):
        counters = collector.read()
        collector.read()
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
        AICollector(client, "ai:", FEATURES).read()


def test_wrong_redis_type_is_missing_with_a_warning(client, redis_prefix, caplog):
    client.rpush(redis_prefix + "total_requests", 5, 6)
    client.set(redis_prefix + "total_time", 3.0)
    with caplog.at_level(logging.WARNING):
        counters = AICollector(client, redis_prefix, FEATURES).read()
    assert counters["total_requests"] is None and counters["total_time"] == 3.0
    assert counters["quiz:requests"] == 0.0  # absent is 0, not an error
    assert "not a string key" in caplog.text


def _sampler(redis_url, prefix, refused_port):
    from reporter.collect.sampler import Sampler
    from reporter.settings import load_settings

    return Sampler.from_settings(load_settings(
        None, redis_url=redis_url, ai_key_prefix=prefix, probe_timeout=0.5,
        app_database_url=f"postgresql+psycopg://u@127.0.0.1:{refused_port}/x",
        ollama_url=f"http://127.0.0.1:{refused_port}"))


def _at(seconds: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(1_800_000_000 + seconds, UTC)


def _ai_warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def test_success_above_requests_is_a_missing_rate_with_one_warning(client, redis_url, redis_prefix, refused_port,
                                                                   caplog):
    """issue 8 item 18: success > requests gave success_rate 250."""
    write(client, redis_prefix, total_requests=10, cache_hits=30, grammar__requests=2, grammar__success=5,
          quiz__requests=10, quiz__success=9)
    sampler = _sampler(redis_url, redis_prefix, refused_port)
    try:
        with caplog.at_level(logging.WARNING):
            snaps = [sampler.sample(_at(10 * i)) for i in range(3)]
    finally:
        sampler.close()
    for snap in snaps:
        ai = snap.ai
        assert ai.features["grammar"].success_rate is None and ai.features["grammar"].success == 5
        assert ai.cache_hit_rate is None
        assert ai.features["quiz"].success_rate == 90.0  # the consistent feature keeps its rate
        error = snap.errors["ai"]
        assert f"{redis_prefix}grammar:success > {redis_prefix}grammar:requests" in error
        assert f"{redis_prefix}cache_hits > {redis_prefix}total_requests" in error and "quiz" not in error
        assert ai.error == error
    assert len(_ai_warnings(caplog, f"{redis_prefix}grammar:success")) == 1  # once, not every sample
    rates = []

    def collect_rates(node):
        if isinstance(node, dict):
            rates.extend(v for k, v in node.items() if k.endswith("_rate") and v is not None)
            for value in node.values():
                collect_rates(value)

    collect_rates(snaps[-1].model_dump(mode="json")["ai"])
    assert rates and all(0 <= rate <= 100 for rate in rates)  # never 250 %


def test_success_growing_faster_than_requests_nulls_the_window_rates(client, redis_url, redis_prefix, refused_port, caplog):
    sampler = _sampler(redis_url, redis_prefix, refused_port)
    try:
        write(client, redis_prefix, total_requests=200, quiz__requests=100, quiz__success=50, voice__requests=100,
              voice__success=90)
        sampler.sample(_at(0))
        write(client, redis_prefix, total_requests=210, quiz__requests=101, quiz__success=60, voice__requests=109,
              voice__success=98)
        with caplog.at_level(logging.WARNING):
            snap = sampler.sample(_at(10))
    finally:
        sampler.close()
    last = snap.ai.windows["last_interval"]
    assert last.features["quiz"].success_rate is None  # +10 successes for +1 request
    assert last.features["voice"].success_rate == pytest.approx(8 / 9 * 100, abs=0.01)
    assert last.success_rate is None and last.error_rate is None  # the overall rate would count the quiz
    assert snap.ai.features["quiz"].success_rate == pytest.approx(60 / 101 * 100, abs=0.01)  # lifetime is fine
    assert f"{redis_prefix}quiz:success > {redis_prefix}quiz:requests" in snap.errors["ai"]
    assert len(_ai_warnings(caplog, f"{redis_prefix}quiz:success")) == 1


@pytest.mark.parametrize("value", [str(10**17), "1e17", str(2**70), str(2**53)])
def test_huge_counter_is_too_large_not_a_non_number(client, redis_url, redis_prefix, refused_port, caplog, value):
    """issue 8 item 24: a valid but huge count was called 'not a non-negative number'."""
    write(client, redis_prefix, total_requests=value, grammar__requests="lots", voice__requests=-4,
          quiz__requests=2**53 - 1)
    sampler = _sampler(redis_url, redis_prefix, refused_port)
    try:
        with caplog.at_level(logging.WARNING):
            snap = sampler.sample(_at(0))
    finally:
        sampler.close()
    assert snap.ai.total_requests is None and snap.ai.features["quiz"].requests == 2**53 - 1
    error = snap.errors["ai"]
    assert f"{redis_prefix}total_requests: too large (the limit is 2^53 = 9007199254740992" in error
    assert f"{redis_prefix}grammar:requests: not a number" in error
    assert f"{redis_prefix}voice:requests: negative" in error
    assert "non-negative" not in error
    (warning,) = _ai_warnings(caplog, f"{redis_prefix}total_requests holds")
    assert "too large" in warning and "not a number" not in warning


def test_fractional_request_count_is_missing_not_truncated(client, redis_url, redis_prefix, refused_port, caplog):
    """A count of requests is written with INCR: 1.5 requests is garbage (it was shown as 1 for the lifetime and
    1.5 in the windows); the seconds counters stay floats."""
    write(client, redis_prefix, total_requests="1.5", cache_hits=1, voice__requests=4, voice__success="2.25",
          voice__time="3.75", quiz__requests="1e3")
    sampler = _sampler(redis_url, redis_prefix, refused_port)
    try:
        with caplog.at_level(logging.WARNING):
            snap = sampler.sample(_at(0))
    finally:
        sampler.close()
    assert snap.ai.total_requests is None and snap.ai.cache_hit_rate is None
    voice = snap.ai.features["voice"]
    assert voice.requests == 4 and voice.success is None and voice.total_time_seconds == 3.75
    assert snap.ai.features["quiz"].requests == 1000  # a whole number in float notation is fine
    error = snap.errors["ai"]
    assert f"{redis_prefix}total_requests, {redis_prefix}voice:success: not a whole number" in error
    (warning,) = _ai_warnings(caplog, f"{redis_prefix}total_requests holds")
    assert "holds '1.5'" in warning  # the value as text, not a Python bytes literal
