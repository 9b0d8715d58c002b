"""POST /api/v1/analytics/log-ai-usage and reporter.ai_usage against the real Redis, over a real socket."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from reporter import ai_usage
from reporter.api import usage_log
from reporter.api.latest import Latest
from reporter.api.usage_log import async_redis_client
from reporter.collect.sampler import Sampler
from reporter.settings import load_settings
from tests.api.helpers import serve
from tests.snapshots import FEATURES, rich_snapshot

TOKEN = "log-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/api/v1/analytics/log-ai-usage"


@pytest.fixture
def logging_app(redis_url, redis_prefix):
    latest = Latest()
    latest.publish(rich_snapshot())
    with serve(latest, token=TOKEN, redis=async_redis_client(redis_url, 2.0), ai_prefix=redis_prefix,
               ai_features=FEATURES) as (_, base):
        yield base


def counters(redis_url: str, prefix: str) -> dict[str, float]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {k.decode().removeprefix(prefix): float(v) for k in client.scan_iter(match=prefix + "*")
                if (v := client.get(k)) is not None}
    finally:
        client.close()


def test_logged_usage_shows_in_the_next_snapshot(logging_app, redis_url, redis_prefix, refused_port):
    settings = load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix, probe_timeout=1.0,
                             app_database_url=f"postgresql+psycopg://u@127.0.0.1:{refused_port}/x",
                             ollama_url=f"http://127.0.0.1:{refused_port}")
    sampler = Sampler.from_settings(settings)
    try:
        before = sampler.sample()
        assert before.ai.total_requests == 0
        for body in ({"feature": "grammar", "response_time_seconds": 2.5, "success": True, "cache_hit": False},
                     {"feature": "grammar", "response_time_seconds": 1.5, "success": False, "cache_hit": True},
                     {"feature": "quiz", "response_time_seconds": 0, "success": True}):
            response = httpx.post(logging_app + PATH, json=body, headers=AUTH)
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "logged", "feature": body["feature"]}
        after = sampler.sample()
    finally:
        sampler.close()
    assert after.ai.total_requests == 3 and after.ai.total_time_seconds == 4.0 and after.ai.cache_hits == 1
    grammar, quiz = after.ai.features["grammar"], after.ai.features["quiz"]
    assert (grammar.requests, grammar.success, grammar.total_time_seconds) == (2, 1, 4.0)
    assert (quiz.requests, quiz.success, quiz.total_time_seconds) == (1, 1, 0.0)
    assert after.ai.windows["last_interval"].requests == 3.0


def test_fifty_concurrent_posts_keep_totals_equal_to_the_features(logging_app, redis_url, redis_prefix):
    async def post_all() -> list[int]:
        async with httpx.AsyncClient(base_url=logging_app, headers=AUTH,
                                     limits=httpx.Limits(max_connections=50)) as client:
            replies = await asyncio.gather(*(client.post(PATH, json={
                "feature": FEATURES[i % 4], "response_time_seconds": 0.1 * (i % 7), "success": i % 3 != 0,
                "cache_hit": i % 5 == 0}) for i in range(50)))
        return [r.status_code for r in replies]

    assert asyncio.run(post_all()) == [200] * 50
    values = counters(redis_url, redis_prefix)
    assert values["total_requests"] == 50
    assert sum(values[f"{f}:requests"] for f in FEATURES) == values["total_requests"]
    assert values["total_time"] == pytest.approx(sum(values[f"{f}:time"] for f in FEATURES))
    assert values["total_time"] == pytest.approx(sum(0.1 * (i % 7) for i in range(50)))
    assert sum(values.get(f"{f}:success", 0) for f in FEATURES) == sum(1 for i in range(50) if i % 3 != 0)
    assert values["cache_hits"] == 10


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"feature": "grammar", "response_time_seconds": -0.5, "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": NaN, "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": Infinity, "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": 1e400, "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": 86400, "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": 99999999999999999999999, "success": true}',
     "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": "2.5", "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": true, "success": true}', "response_time_seconds"),
    (b'{"feature": "grammar", "response_time_seconds": 1, "success": 1}', "success"),
    (b'{"feature": "grammar", "response_time_seconds": 1, "success": "true"}', "success"),
    (b'{"feature": "grammar", "response_time_seconds": 1, "success": true, "cache_hit": null}', "cache_hit"),
    (b'{"feature": "poetry", "response_time_seconds": 1, "success": true}', "feature"),
    (b'{"feature": "total", "response_time_seconds": 1, "success": true}', "feature"),
    (b'{"feature": ["grammar"], "response_time_seconds": 1, "success": true}', "feature"),
    (b'{"response_time_seconds": 1, "success": true}', "feature"),
    (b'{"feature": "grammar", "response_time": 1, "success": true}', "response_time"),
])
def test_invalid_bodies_are_a_clear_422_and_count_nothing(logging_app, redis_url, redis_prefix, raw, field):
    response = httpx.post(logging_app + PATH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["error"] and ["body", field] in [d["loc"] for d in body["detail"]]
    assert counters(redis_url, redis_prefix) == {}


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"grammar"', b"{" * 100_00])
def test_not_an_object_is_422(logging_app, raw):
    response = httpx.post(logging_app + PATH, content=raw[:16_000], headers=AUTH)
    assert response.status_code == 422 and response.json()["error"]


def test_oversize_body_is_413(logging_app, redis_url, redis_prefix):
    padding = "x" * (17 * 1024)
    big = {"feature": "grammar", "response_time_seconds": 1, "success": True, "padding": padding}
    assert httpx.post(logging_app + PATH, json=big, headers=AUTH).status_code == 413

    def chunks():  # no Content-Length: chunked, counted while read
        for _ in range(20):
            yield b" " * 1024
    response = httpx.post(logging_app + PATH, content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413 and "16384" in response.json()["error"]
    assert counters(redis_url, redis_prefix) == {}


def test_not_json_content_type_is_415(logging_app):
    response = httpx.post(logging_app + PATH, data={"feature": "grammar"}, headers=AUTH)
    assert response.status_code == 415


def test_token_off_refuses_posts_and_token_on_needs_the_bearer(redis_url, redis_prefix):
    body = {"feature": "grammar", "response_time_seconds": 1.0, "success": True}
    with serve(redis=async_redis_client(redis_url, 2.0), ai_prefix=redis_prefix) as (_, base):
        refused = httpx.post(base + PATH, json=body)
        assert refused.status_code == 403 and "REPORTER_API_TOKEN" in refused.json()["error"]
    with serve(token=TOKEN, redis=async_redis_client(redis_url, 2.0), ai_prefix=redis_prefix) as (_, base):
        assert httpx.post(base + PATH, json=body).status_code == 401
        assert httpx.post(base + PATH, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.post(base + PATH, json=body, headers={"Authorization": TOKEN}).status_code == 401
        assert httpx.post(base + PATH, json=body, headers=AUTH).status_code == 200
    assert counters(redis_url, redis_prefix)["total_requests"] == 1


def test_redis_down_is_503_without_secrets(refused_port):
    url = f"redis://:hunter2-secret@127.0.0.1:{refused_port}/0"
    with serve(token=TOKEN, redis=async_redis_client(url, 1.0)) as (_, base):
        response = httpx.post(base + PATH, json={"feature": "quiz", "response_time_seconds": 1, "success": True},
                              headers=AUTH)
    assert response.status_code == 503 and "nothing was counted" in response.json()["error"]
    assert "hunter2" not in response.text


def test_slow_body_is_cut_off_and_does_not_hold_the_server(logging_app, monkeypatch):
    monkeypatch.setattr(usage_log, "BODY_SECONDS", 1.0)
    split = urlsplit(logging_app)
    slow = socket.create_connection((split.hostname, split.port))
    try:
        slow.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{".encode())
        started = time.monotonic()
        for _ in range(3):  # the server answers others meanwhile
            assert httpx.get(logging_app + "/api/v1/analytics/health", headers=AUTH, timeout=2).status_code == 200
            slow.sendall(b" ")
            time.sleep(0.2)
        slow.settimeout(5)
        reply = slow.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:100]
        assert time.monotonic() - started < 3.0
    finally:
        slow.close()


def test_library_record_sync_and_async(redis_url, redis_prefix, monkeypatch):
    monkeypatch.setenv("REPORTER_REDIS_URL", redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        ai_usage.record("grammar", 2.0, success=True, client=client, prefix=redis_prefix)
        ai_usage.record("voice", 0.5, success=False, cache_hit=True, client=client, prefix=redis_prefix)
    finally:
        client.close()

    async def log_async() -> None:
        import redis.asyncio

        aclient = redis.asyncio.Redis.from_url(redis_url)
        try:
            await ai_usage.record_async("grammar", 1.0, True, client=aclient, prefix=redis_prefix)
        finally:
            await aclient.aclose()
        await ai_usage.record_async("quiz", 3.0, True, prefix=redis_prefix)  # default client (REPORTER_REDIS_URL)

    asyncio.run(log_async())
    values = counters(redis_url, redis_prefix)
    assert values == {"total_requests": 4, "total_time": 6.5, "cache_hits": 1,
                      "grammar:requests": 2, "grammar:time": 3.0, "grammar:success": 2,
                      "voice:requests": 1, "voice:time": 0.5, "quiz:requests": 1, "quiz:time": 3.0, "quiz:success": 1}


@pytest.mark.parametrize(("args", "error"), [
    (("grammar", -1.0, True), ValueError), (("grammar", float("nan"), True), ValueError),
    (("grammar", float("inf"), True), ValueError), (("grammar", 3601, True), ValueError),
    (("grammar", "1", True), TypeError), (("grammar", 1.0, 1), TypeError), (("Grammar!", 1.0, True), ValueError),
    (("total", 1.0, True), ValueError),
])
def test_library_refuses_bad_values(args, error):
    with pytest.raises(error):
        ai_usage.record(*args, client=object(), prefix="never:")  # fails before touching the client
