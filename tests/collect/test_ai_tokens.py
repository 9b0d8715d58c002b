"""The optional token counters (issue 13, item 2) read from the real Redis: absent = null, exact integers,
windowed tokens per second across resets and after a restart seeded from the real history, /metrics."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from reporter.collect.ai import AICollector
from reporter.collect.ai_tokens import ns_to_seconds
from tests.api.helpers import serve
from tests.snapshots import snapshot

FEATURES = ["grammar", "quiz", "voice", "scenario"]
TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "generation_ns", "cold_loads")


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def write(client, prefix, **values):
    for key, value in values.items():
        client.set(prefix + key.replace("__", ":"), value)


def collect(collector: AICollector, seconds: float):
    """The AI section as the sampler collects it at Unix time ``seconds``."""
    section = collector.collect(datetime.fromtimestamp(seconds, UTC))
    assert section.value is not None, section.error
    return section.value


def test_absent_token_keys_are_null_never_zero(client, redis_prefix):
    collector = AICollector(client, redis_prefix, FEATURES)
    write(client, redis_prefix, total_requests=5, grammar__requests=5, grammar__success=5, grammar__time=5.0)
    collect(collector, 1000.0)
    write(client, redis_prefix, total_requests=9, grammar__requests=9, grammar__success=9, grammar__time=9.0)
    section = collect(collector, 1010.0)
    payload = json.loads(section.model_dump_json())
    for feature in FEATURES:
        stats = payload["features"][feature]
        for name in ("prompt_tokens", "completion_tokens", "generation_seconds", "cold_loads", "tokens_per_second"):
            assert stats[name] is None, (feature, name)
        for window in ("last_interval", "5m"):
            figures = payload["windows"][window]["features"][feature]
            assert figures["tokens_per_second"] is None and figures["cold_loads"] is None
            assert figures["prompt_tokens_per_request"] is None and figures["completion_tokens_per_request"] is None
    for window in ("last_interval", "5m"):
        overall = payload["windows"][window]
        assert overall["requests"] == 4  # the request counters still work
        assert [overall[k] for k in ("tokens_per_second", "completion_tokens", "prompt_tokens", "cold_loads")] == \
            [None] * 4
    assert section.error is None
    # once written (even 0), a key is shown
    write(client, redis_prefix, grammar__cold_loads=0)
    assert collect(collector, 1020.0).features["grammar"].cold_loads == 0


def test_exact_integers_beyond_2_53_and_seconds_to_the_microsecond(client, redis_prefix):
    ns = 2**53 + 1_234_567  # about 104 days of generation: a float would not hold it exactly
    write(client, redis_prefix, grammar__generation_ns=ns, grammar__completion_tokens=2**53 + 3,
          grammar__prompt_tokens=7, grammar__cold_loads=2)
    collector = AICollector(client, redis_prefix, FEATURES)
    grammar = collect(collector, 1000.0).features["grammar"]
    assert grammar.completion_tokens == 2**53 + 3 and grammar.prompt_tokens == 7 and grammar.cold_loads == 2
    assert grammar.generation_seconds == ((ns + 500) // 1000) / 1e6 == ns_to_seconds(ns)
    assert grammar.tokens_per_second == round((2**53 + 3) / grammar.generation_seconds, 6)


def independent_tps(readings: list[tuple[int | None, int | None]]) -> float:
    """Completion tokens / generation seconds from raw (tokens, ns) readings, by hand: an increase is the
    difference, or the new value itself after a reset (lower value, or the key absent in between)."""
    def increase(values):
        total, previous = 0, None
        for value in values:
            if value is None:
                previous = 0  # deleted: counting starts again from 0
                continue
            if previous is not None:
                total += value - previous if value >= previous else value
            previous = value
        return total
    tokens = increase([t for t, _ in readings])
    nanoseconds = increase([n for _, n in readings])
    return tokens / (nanoseconds / 1e9)


def approx(value: float):
    """Equal to within the rounding of each reading to the microsecond and of the figure to 6 decimals."""
    return pytest.approx(value, rel=1e-7)


def test_tokens_per_second_across_counter_resets(client, redis_prefix):
    collector = AICollector(client, redis_prefix, FEATURES)
    keys = [redis_prefix + "quiz:completion_tokens", redis_prefix + "quiz:generation_ns"]
    # (tokens, ns) written before each sample; None: the keys deleted (Redis flushed) at that sample
    readings: list[tuple[int | None, int | None]] = [
        (1000, 20_000_000_000), (1400, 28_000_000_333), (None, None), (900, 31_000_000_000),  # regrown past old
        (1500, 43_500_000_000), (300, 5_000_000_000),  # lowered between samples: a reset
        (700, 13_000_000_000)]
    sections = []
    for i, (tokens, ns) in enumerate(readings):
        if tokens is None:
            client.delete(*keys)
        else:
            client.mset({keys[0]: tokens, keys[1]: ns})
        write(client, redis_prefix, total_requests=i + 1, quiz__requests=i + 1, quiz__success=i + 1, quiz__time=i)
        sections.append(collect(collector, 2000.0 + 10 * i))
    five = sections[-1].windows["5m"]
    assert five.window_seconds == 60.0
    assert five.features["quiz"].tokens_per_second == approx(independent_tps(readings))
    assert five.tokens_per_second == five.features["quiz"].tokens_per_second  # the only feature writing tokens
    assert five.completion_tokens == 400 + 900 + 600 + 300 + 400
    last = sections[-1].windows["last_interval"]
    assert last.features["quiz"].tokens_per_second == independent_tps(readings[-2:]) == 50.0
    after_deletion = sections[3].windows["last_interval"].features["quiz"]  # regrown past the old value
    assert after_deletion.tokens_per_second == round(900 / 31.0, 6) == approx(independent_tps(readings[2:4]))
    assert sections[2].features["quiz"].completion_tokens is None  # deleted: not shown
    assert five.features["quiz"].completion_tokens_per_request == round(2600 / 6, 6)


def test_per_request_figures_and_overall_sums(client, redis_prefix):
    collector = AICollector(client, redis_prefix, FEATURES)
    write(client, redis_prefix, grammar__requests=10, grammar__prompt_tokens=1000, grammar__completion_tokens=500,
          grammar__generation_ns=10_000_000_000, grammar__cold_loads=1, voice__requests=3,
          voice__completion_tokens=90, voice__prompt_tokens=30)  # voice: no generation time, no cold loads
    collect(collector, 0.0)
    write(client, redis_prefix, grammar__requests=14, grammar__prompt_tokens=1400, grammar__completion_tokens=700,
          grammar__generation_ns=14_000_000_000, grammar__cold_loads=3, voice__requests=5,
          voice__completion_tokens=150, voice__prompt_tokens=50)
    window = collect(collector, 10.0).windows["last_interval"]
    grammar, voice = window.features["grammar"], window.features["voice"]
    assert (grammar.tokens_per_second, grammar.prompt_tokens_per_request, grammar.completion_tokens_per_request,
            grammar.cold_loads) == (50.0, 100.0, 50.0, 2.0)
    assert (voice.tokens_per_second, voice.prompt_tokens_per_request, voice.completion_tokens_per_request,
            voice.cold_loads) == (None, 10.0, 30.0, None)
    assert (window.prompt_tokens, window.completion_tokens, window.cold_loads) == (420.0, 260.0, 2.0)
    assert window.tokens_per_second == 50.0  # only the features writing both tokens and time


@pytest.mark.parametrize("raw, problem", [
    ("1.5e9", "not a whole number"), ("2500000000.0", "not a whole number"), ("lots", "not a number"),
    ("-5", "negative"), (str(2**63), "too large")])
def test_malformed_token_counter_is_null_with_one_warning(client, redis_prefix, caplog, raw, problem):
    write(client, redis_prefix, grammar__generation_ns=raw, grammar__completion_tokens=100)
    collector = AICollector(client, redis_prefix, FEATURES)
    with caplog.at_level(logging.WARNING):
        first = collect(collector, 0.0)
        second = collect(collector, 10.0)
    assert first.features["grammar"].generation_seconds is None
    assert first.features["grammar"].completion_tokens == 100 and first.features["grammar"].tokens_per_second is None
    assert second.windows["last_interval"].features["grammar"].tokens_per_second is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{redis_prefix}grammar:generation_ns" in warnings[0] and problem in warnings[0]
    assert problem in second.error


def test_token_key_of_the_wrong_type_is_null(client, redis_prefix, caplog):
    client.rpush(redis_prefix + "quiz:prompt_tokens", 1)
    with caplog.at_level(logging.WARNING):
        section = collect(AICollector(client, redis_prefix, FEATURES), 0.0)
    assert section.features["quiz"].prompt_tokens is None and "not a string key" in section.error


def test_window_seeded_from_history_gives_the_same_tokens_per_second(client, redis_prefix, history):
    live = AICollector(client, redis_prefix, FEATURES)
    readings = [(0, 0), (300, 7_123_456_789), (650, 15_000_000_001), (None, None), (800, 19_876_543_210),
                (1200, 26_000_000_499)]
    keys = [redis_prefix + "scenario:completion_tokens", redis_prefix + "scenario:generation_ns"]
    for i, (tokens, ns) in enumerate(readings):
        if tokens is None:
            client.delete(*keys)
        else:
            client.mset({keys[0]: tokens, keys[1]: ns})
        write(client, redis_prefix, total_requests=i, scenario__requests=i, scenario__success=i, scenario__time=i)
        at = datetime.fromtimestamp(1_800_000_000 + 10 * i, UTC)
        section = collect(live, at.timestamp())
        history.write(snapshot(when=at, ai=section))
    stored = history.rows(["ai_scenario_completion_tokens", "ai_scenario_generation_seconds"],
                          datetime.fromtimestamp(1_800_000_000, UTC), at)
    assert [r[1:] for r in stored] == [(t, None if n is None else ns_to_seconds(n)) for t, n in readings[:-1]]
    expected = section.windows["5m"].features["scenario"].tokens_per_second
    assert expected == approx(independent_tps(readings))
    # a restart: a new collector seeded from history, then the same next reading
    restarted = AICollector(client, redis_prefix, FEATURES)
    restarted.seed(history.counter_samples(datetime.fromtimestamp(1_800_000_000, UTC), at))
    again = collect(restarted, at.timestamp())
    assert again.windows["5m"].features["scenario"].tokens_per_second == expected
    assert again.windows["5m"].tokens_per_second == section.windows["5m"].tokens_per_second


def test_metrics_show_token_usage_by_type_and_nothing_for_absent_keys(client, redis_prefix):
    write(client, redis_prefix, grammar__prompt_tokens=1200, grammar__completion_tokens=3400,
          grammar__generation_ns=68_000_000_000, grammar__cold_loads=2, quiz__completion_tokens=10)
    section = collect(AICollector(client, redis_prefix, FEATURES), 0.0)
    with serve() as (latest, base):
        latest.publish(snapshot(ai=section))
        text = httpx.get(base + "/metrics").text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples
               if s.name.startswith(("reporter_gen_ai_client_token_usage", "reporter_gen_ai_generation_seconds",
                                     "reporter_gen_ai_cold_loads"))]
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples if not s.name.endswith("_created")}
    assert found == {
        ("reporter_gen_ai_client_token_usage_total", (("feature", "grammar"), ("gen_ai_token_type", "input"))): 1200,
        ("reporter_gen_ai_client_token_usage_total", (("feature", "grammar"), ("gen_ai_token_type", "output"))): 3400,
        ("reporter_gen_ai_client_token_usage_total", (("feature", "quiz"), ("gen_ai_token_type", "output"))): 10,
        ("reporter_gen_ai_generation_seconds_total", (("feature", "grammar"),)): 68.0,
        ("reporter_gen_ai_cold_loads_total", (("feature", "grammar"),)): 2,
    }


def test_the_first_write_of_a_token_key_counts_from_zero(client, redis_prefix):
    """A key that appears (the application starts writing tokens) counts its whole first value in the windows,
    as the request written with it does: one request of 12 + 40 tokens in 1 s is 12 and 40 tokens per request
    and 40 tokens/s, not 0 (nor half after a second request)."""
    from reporter.ai_usage import record

    collector = AICollector(client, redis_prefix, FEATURES)
    write(client, redis_prefix, total_requests=5, grammar__requests=5, grammar__success=5, grammar__time=5.0)
    collect(collector, 1000.0)
    record("grammar", 2.0, True, client=client, prefix=redis_prefix, prompt_tokens=12, completion_tokens=40,
           generation_ns=10**9)
    section = collect(collector, 1010.0)
    for window in ("last_interval", "5m"):
        grammar = section.windows[window].features["grammar"]
        assert (grammar.prompt_tokens_per_request, grammar.completion_tokens_per_request) == (12.0, 40.0), window
        assert grammar.tokens_per_second == 40.0 and section.windows[window].completion_tokens == 40.0
    record("grammar", 2.0, True, client=client, prefix=redis_prefix, prompt_tokens=12, completion_tokens=40,
           generation_ns=10**9)
    five = collect(collector, 1020.0).windows["5m"]
    assert five.features["grammar"].completion_tokens_per_request == 40.0 and five.completion_tokens == 80.0
    assert five.features["quiz"].completion_tokens_per_request is None  # never written: still not shown
