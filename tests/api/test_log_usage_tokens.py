"""The optional token counters through ``reporter.ai_usage.record()`` and ``POST .../log-ai-usage`` (issue 13,
item 2), against the real Redis, a real HTTP server and the fake Ollama's streamed answer."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
import redis

from reporter import ai_usage
from reporter.ai_usage import from_ollama
from reporter.api.latest import Latest
from reporter.api.usage_log import async_redis_client
from reporter.collect.ai_tokens import TOKEN_COUNTERS
from reporter.collect.sampler import Sampler
from reporter.settings import load_settings
from tests.api.helpers import serve
from tests.fake_ollama import FakeOllama
from tests.snapshots import FEATURES, rich_snapshot

TOKEN = "log-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/api/v1/analytics/log-ai-usage"
BASE = {"feature": "grammar", "response_time_seconds": 1.5, "success": True}


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def logging_app(redis_url, redis_prefix):
    latest = Latest()
    latest.publish(rich_snapshot())
    with serve(latest, token=TOKEN, redis=async_redis_client(redis_url, 2.0), ai_prefix=redis_prefix,
               ai_features=FEATURES) as (_, base):
        yield base


def raw_values(client, prefix: str) -> dict[str, bytes]:
    """Every key under ``prefix`` (without it) with its raw value."""
    return {k.decode().removeprefix(prefix): client.get(k) for k in client.scan_iter(match=prefix + "*")}


def test_record_writes_exact_incrby_deltas(client, redis_url, redis_prefix):
    client.mset({redis_prefix + "grammar:generation_ns": 2**53 - 1, redis_prefix + "grammar:prompt_tokens": 5})
    ai_usage.record("grammar", 2.0, success=True, client=client, prefix=redis_prefix, prompt_tokens=12,
                    completion_tokens=40, generation_ns=1_000_000_001, cold_load=True)
    ai_usage.record("grammar", 1.0, success=True, client=client, prefix=redis_prefix, completion_tokens=0,
                    cold_load=False)
    ai_usage.record("quiz", 1.0, success=True, client=client, prefix=redis_prefix)  # no tokens: no token key
    ai_usage.record("scenario", 1.0, success=True, client=client, prefix=redis_prefix, cold_load=False)  # +0

    async def log_async() -> None:
        import redis.asyncio

        aclient = redis.asyncio.Redis.from_url(redis_url)
        try:
            await ai_usage.record_async("voice", 0.5, True, client=aclient, prefix=redis_prefix, prompt_tokens=3,
                                        generation_ns=7)
        finally:
            await aclient.aclose()

    asyncio.run(log_async())
    values = raw_values(client, redis_prefix)
    tokens = {k: v for k, v in values.items() if k.split(":")[-1] in TOKEN_COUNTERS}
    assert tokens == {"grammar:prompt_tokens": b"17", "grammar:completion_tokens": b"40",
                      "grammar:generation_ns": str(2**53 - 1 + 1_000_000_001).encode(),  # exact: integers
                      "grammar:cold_loads": b"1", "voice:prompt_tokens": b"3", "voice:generation_ns": b"7",
                      "scenario:cold_loads": b"0"}  # known: no cold load (shown as 0, not null)
    assert values["total_requests"] == b"5" and values["grammar:requests"] == b"2"


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"prompt_tokens": True}, TypeError), ({"completion_tokens": 12.0}, TypeError),
    ({"generation_ns": 1.5e9}, TypeError), ({"generation_ns": "1500000000"}, TypeError),
    ({"prompt_tokens": -1}, ValueError), ({"completion_tokens": 10**7 + 1}, ValueError),
    ({"generation_ns": 3600 * 10**9 + 1}, ValueError), ({"cold_load": 1}, TypeError),
    ({"cold_load": "yes"}, TypeError),
])
def test_record_refuses_bad_token_values_and_writes_nothing(client, redis_prefix, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        ai_usage.record("grammar", 1.0, True, client=client, prefix=redis_prefix, **kwargs)
    assert raw_values(client, redis_prefix) == {}


def test_from_ollama_maps_the_streamed_answer_onto_record(client, redis_prefix):
    ollama = FakeOllama(["mistral:7b"])
    try:
        ollama.final = {**ollama.final, "load_duration": 3_200_000_000, "eval_duration": 987_654_321}
        with httpx.stream("POST", ollama.url + "/api/generate", json={"model": "mistral:7b", "prompt": "Salut"}) as r:
            last = [json.loads(line) for line in r.iter_lines() if line][-1]
    finally:
        ollama.close()
    assert last["done"] is True
    counts = from_ollama(last)
    assert counts == {"prompt_tokens": 12, "completion_tokens": 40, "generation_ns": 987_654_321, "cold_load": True}
    ai_usage.record("scenario", 1.3, success=True, client=client, prefix=redis_prefix, **counts)
    values = raw_values(client, redis_prefix)
    assert (values["scenario:prompt_tokens"], values["scenario:completion_tokens"], values["scenario:generation_ns"],
            values["scenario:cold_loads"]) == (b"12", b"40", b"987654321", b"1")


@pytest.mark.parametrize(("response", "expected"), [
    ({"load_duration": 20_000_000}, {"cold_load": False}),  # the model was already in memory
    ({"load_duration": 1_000_000_000}, {"cold_load": False}),  # the threshold itself: not above
    ({"load_duration": 1_000_000_001}, {"cold_load": True}),
    ({"done": False, "response": "Bon"}, {}),  # a chunk before the last: nothing to count
    ({"prompt_eval_count": None, "eval_count": "40", "eval_duration": 1.5e9, "load_duration": -1}, {}),
    ({"prompt_eval_count": True, "eval_count": -3, "eval_duration": 10**20}, {}),
])
def test_from_ollama_leaves_out_missing_or_malformed_fields(response, expected):
    assert from_ollama(response) == expected


def test_endpoint_writes_the_same_deltas(logging_app, client, redis_prefix):
    body = {**BASE, "prompt_tokens": 12, "completion_tokens": 40, "generation_ns": 2_500_000_000, "cold_load": True}
    assert httpx.post(logging_app + PATH, json=body, headers=AUTH).status_code == 200
    body = {**BASE, "completion_tokens": 10, "generation_ns": 5e8, "cold_load": False, "prompt_tokens": None}
    assert httpx.post(logging_app + PATH, json=body, headers=AUTH).status_code == 200  # 5e8: a whole number
    assert httpx.post(logging_app + PATH, json=BASE, headers=AUTH).status_code == 200
    values = raw_values(client, redis_prefix)
    assert {k: v for k, v in values.items() if k.startswith("grammar:") and k.split(":")[1] not in
            ("requests", "success", "time")} == {
        "grammar:prompt_tokens": b"12", "grammar:completion_tokens": b"50", "grammar:generation_ns": b"3000000000",
        "grammar:cold_loads": b"1"}
    assert values["grammar:requests"] == b"3"


def test_endpoint_refuses_bad_token_fields_with_a_detail_each(logging_app, client, redis_prefix):
    body = {**BASE, "prompt_tokens": "12", "completion_tokens": -1, "generation_ns": 1.5, "cold_load": 1}
    response = httpx.post(logging_app + PATH, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    detail = {tuple(d["loc"]): d["msg"] for d in response.json()["detail"]}
    assert set(detail) == {("body", "prompt_tokens"), ("body", "completion_tokens"), ("body", "generation_ns"),
                           ("body", "cold_load")}
    assert "whole number" in detail[("body", "generation_ns")] and "true or false" in detail[("body", "cold_load")]
    big = httpx.post(logging_app + PATH, json={**BASE, "completion_tokens": 10**7 + 1}, headers=AUTH)
    assert big.status_code == 422 and big.json()["detail"][0]["loc"] == ["body", "completion_tokens"]
    assert raw_values(client, redis_prefix) == {}


def test_logged_tokens_show_in_the_sampler_snapshot(logging_app, redis_url, redis_prefix, refused_port):
    settings = load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix, probe_timeout=1.0,
                             app_database_url=f"postgresql+psycopg://u@127.0.0.1:{refused_port}/x",
                             ollama_url=f"http://127.0.0.1:{refused_port}")
    sampler = Sampler.from_settings(settings)
    try:
        body = {**BASE, "prompt_tokens": 30, "completion_tokens": 100, "generation_ns": 2_000_000_000,
                "cold_load": False}
        assert httpx.post(logging_app + PATH, json=body, headers=AUTH).status_code == 200
        before = sampler.sample(datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC))
        body = {**BASE, "prompt_tokens": 50, "completion_tokens": 300, "generation_ns": 4_000_000_000,
                "cold_load": True}
        assert httpx.post(logging_app + PATH, json=body, headers=AUTH).status_code == 200
        after = sampler.sample(datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC))
    finally:
        sampler.close()
    assert before.ai.features["grammar"].tokens_per_second == 50.0
    grammar = after.ai.features["grammar"]
    assert (grammar.prompt_tokens, grammar.completion_tokens, grammar.generation_seconds, grammar.cold_loads,
            grammar.tokens_per_second) == (80, 400, 6.0, 1, round(400 / 6.0, 6))
    window = after.ai.windows["last_interval"].features["grammar"]
    assert (window.tokens_per_second, window.prompt_tokens_per_request, window.completion_tokens_per_request,
            window.cold_loads) == (75.0, 50.0, 300.0, 1.0)
    assert after.ai.features["quiz"].prompt_tokens is None  # never written: null
