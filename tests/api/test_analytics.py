"""The seed's /api/v1/analytics/* GETs, /metrics, ETags and CORS, over a real socket."""

from __future__ import annotations

import math

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reporter.api.latest import Latest
from tests.api.helpers import serve
from tests.snapshots import FEATURES, rich_snapshot

# The seed's examples, verbatim (from the original write-up of the analytics API): our answers must have these fields,
# nested the same way, with values of the same JSON type (or null when a value could not be read).
SEED_METRICS = {
    "system": {"cpu_percent": 35.4, "memory_percent": 76.3, "memory_used_gb": 9.3, "memory_total_gb": 24.0,
               "disk_percent": 5.3, "uptime_seconds": 123456},
    "ai": {"model": "mistral:7b", "is_available": True, "total_requests": 150, "avg_response_time": 2.3,
           "cache_hit_rate": 15.5},
    "usage": {"total_users": 7, "active_users_24h": 3, "total_scenarios": 10, "active_conversations": 4,
              "total_quizzes_taken": 84, "total_grammar_checks": 25},
}
SEED_HEALTH = {"status": "healthy", "services": {"database": True, "redis": True, "ollama": True},
               "timestamp": "2025-11-06T20:55:00Z"}
SEED_SCENARIOS = [{"scenario_id": "restaurant_001", "name": "Restaurant Reservation", "start_count": 45,
                   "completion_rate": 75.5},
                  {"scenario_id": "hotel_001", "name": "Hotel Check-in", "start_count": 38, "completion_rate": 82.1}]
SEED_TOP_USERS = [{"user_id": "user_123", "email": "user123@example.com", "activity_count": 25,
                   "last_active": "2025-11-06T20:50:00Z"}]
INTEGER_FIELDS = {"total_requests", "total_users", "active_users_24h", "total_scenarios", "active_conversations",
                  "total_quizzes_taken", "total_grammar_checks", "start_count", "activity_count"}


def kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def assert_seed_shape(ours, seed, where: str = "", nullable: bool = True, extra_top: frozenset = frozenset()) -> None:
    """Field by field: same keys (``extra_top`` may be added at the top level only), same JSON kinds."""
    assert kind(ours) == kind(seed) or (nullable and ours is None), f"{where}: {ours!r} vs seed {seed!r}"
    if isinstance(seed, dict):
        assert set(ours) - extra_top == set(seed), f"{where}: fields {sorted(ours)} vs seed {sorted(seed)}"
        for key, value in seed.items():
            assert_seed_shape(ours[key], value, f"{where}.{key}", nullable)
            if key in INTEGER_FIELDS and ours[key] is not None:
                assert isinstance(ours[key], int) and not isinstance(ours[key], bool), f"{where}.{key} not an int"
    elif isinstance(seed, list) and seed:
        for i, item in enumerate(ours):
            assert_seed_shape(item, seed[0], f"{where}[{i}]", nullable)


@pytest.fixture
def served():
    latest = Latest()
    latest.publish(rich_snapshot())
    with serve(latest) as (latest, base):
        yield latest, base


def test_metrics_has_the_seed_shape_and_real_values(served):
    _, base = served
    response = httpx.get(base + "/api/v1/analytics/metrics")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert_seed_shape(body, SEED_METRICS, "metrics", extra_top=frozenset({"timestamp"}))
    assert body["system"] == {"cpu_percent": 35.4, "memory_percent": 76.3, "memory_used_gb": 9.3,
                              "memory_total_gb": 24.0, "disk_percent": 5.3, "uptime_seconds": 123456.0}
    assert body["ai"] == {"model": "mistral:7b", "is_available": False, "total_requests": 150,
                          "avg_response_time": 2.3, "cache_hit_rate": 15.333333}
    assert body["usage"]["total_quizzes_taken"] == 84 and body["timestamp"] == "2026-11-29T12:00:00.250Z"


def test_metrics_without_usage_keeps_the_usage_object(served):
    latest, base = served
    latest.publish(rich_snapshot().model_copy(update={"usage": None}))
    body = httpx.get(base + "/api/v1/analytics/metrics").json()
    assert body["usage"] == dict.fromkeys(SEED_METRICS["usage"])
    assert_seed_shape(body, SEED_METRICS, "metrics", extra_top=frozenset({"timestamp"}))
    assert httpx.get(base + "/api/v1/analytics/top-users").json() == []


def test_health_has_the_seed_shape(served):
    _, base = served
    body = httpx.get(base + "/api/v1/analytics/health").json()
    assert_seed_shape(body, SEED_HEALTH, "health", nullable=False)
    assert body == {"status": "degraded", "services": {"database": True, "redis": True, "ollama": False},
                    "timestamp": "2026-11-29T12:00:00.250Z"}


def test_ai_features_per_feature_stats(served):
    _, base = served
    body = httpx.get(base + "/api/v1/analytics/ai-features").json()
    assert list(body) == FEATURES
    assert body["grammar"] == {"requests": 40, "success": 38, "success_rate": 95.0, "total_time_seconds": 80.5,
                               "avg_time": 2.0125}
    for stats in body.values():
        assert set(stats) == {"requests", "success", "success_rate", "total_time_seconds", "avg_time"}


def test_top_users_and_scenarios_have_the_seed_shape_and_limit(served):
    _, base = served
    users = httpx.get(base + "/api/v1/analytics/top-users").json()
    assert len(users) == 10  # default limit
    assert_seed_shape(users, SEED_TOP_USERS, "top-users")
    assert users[0] == {"user_id": "user_000", "email": "u***@example0.com", "activity_count": 30,
                        "last_active": "2026-11-29T12:00:00.250Z"}
    assert len(httpx.get(base + "/api/v1/analytics/top-users?limit=3").json()) == 3
    assert len(httpx.get(base + "/api/v1/analytics/top-users?limit=100").json()) == 12
    scenarios = httpx.get(base + "/api/v1/analytics/popular-scenarios", params={"limit": 5}).json()
    assert_seed_shape(scenarios, SEED_SCENARIOS, "popular-scenarios")
    assert scenarios[:2] == SEED_SCENARIOS
    assert scenarios[2] == {"scenario_id": "new_001", "name": None, "start_count": 1, "completion_rate": None}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", "1e2", "%EF%BC%91"])
def test_limit_out_of_range_is_a_clear_422(served, limit):
    _, base = served
    for path in ("top-users", "popular-scenarios"):
        response = httpx.get(f"{base}/api/v1/analytics/{path}?limit={limit}")
        assert response.status_code == 422, (path, limit)
        body = response.json()
        assert "limit must be an integer from 1 to 100" in body["error"]
        assert body["detail"][0]["loc"] == ["query", "limit"]


def test_before_the_first_sample_every_snapshot_endpoint_is_503():
    with serve() as (_, base):
        for path in ("/snapshot", "/metrics", "/api/v1/analytics/metrics", "/api/v1/analytics/health",
                     "/api/v1/analytics/ai-features", "/api/v1/analytics/top-users"):
            response = httpx.get(base + path)
            assert response.status_code == 503 and response.headers["retry-after"] == "1", path


@pytest.mark.parametrize("path", ["/snapshot", "/alerts", "/metrics", "/api/v1/analytics/metrics",
                                  "/api/v1/analytics/health",
                                  "/api/v1/analytics/ai-features", "/api/v1/analytics/top-users?limit=3",
                                  "/api/v1/analytics/popular-scenarios"])
def test_etag_gives_304_until_the_next_sample(served, path):
    latest, base = served
    first = httpx.get(base + path)
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    again = httpx.get(base + path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    head = httpx.head(base + path)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(first.content)
    latest.publish(rich_snapshot(rich_snapshot().timestamp.replace(second=10)))
    changed = httpx.get(base + path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_other_methods_are_json_405(served):
    _, base = served
    response = httpx.post(base + "/api/v1/analytics/metrics")
    assert response.status_code == 405 and "GET" in response.headers["allow"]
    assert "/api/v1/analytics/log-ai-usage" in response.json()["endpoints"]


def test_prometheus_exposition_parses(served):
    _, base = served
    response = httpx.get(base + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("reporter_cpu_usage_ratio", ())] == pytest.approx(0.354)
    assert samples[("reporter_memory_used_bytes", ())] == pytest.approx(9.3 * 2**30)
    assert samples[("reporter_disk_usage_ratio", (("path", "/"),))] == pytest.approx(0.053)
    assert samples[("reporter_host_uptime_seconds", ())] == 123456.0
    assert samples[("reporter_service_up", (("service", "database"),))] == 1.0
    assert samples[("reporter_service_up", (("service", "ollama"),))] == 0.0
    assert samples[("reporter_service_probe_duration_seconds", (("service", "database"),))] == pytest.approx(0.00416)
    assert families["reporter_ai_requests"].type == "counter"
    assert samples[("reporter_ai_requests_total", (("feature", "grammar"),))] == 40.0
    assert samples[("reporter_ai_successes_total", (("feature", "quiz"),))] == 39.0
    assert samples[("reporter_ai_response_time_seconds_total", (("feature", "voice"),))] == 82.5
    assert samples[("reporter_ai_all_requests_total", ())] == 150.0
    assert samples[("reporter_ai_cache_hits_total", ())] == 23.0
    assert samples[("reporter_app_active_users", (("window", "24h"),))] == 3.0
    assert samples[("reporter_status", (("status", "degraded"),))] == 1.0
    assert samples[("reporter_collector_error", (("collector", "ollama"),))] == 1.0
    alerts = [s for s in families["ALERTS"].samples]
    assert {(s.labels["alertname"], s.labels["alertstate"]) for s in alerts} == {("service_down", "firing"),
                                                                              ("cpu_high", "pending")}
    firing = next(s for s in alerts if s.labels["alertstate"] == "firing")
    assert firing.labels == {"alertname": "service_down", "alertstate": "firing", "service": "ollama",
                             "severity": "critical"} and firing.value == 1.0
    pending = next(s for s in alerts if s.labels["alertstate"] == "pending")
    assert pending.labels["team_name"] == "ops"  # label names made valid
    for family in families.values():  # naming: base units, no percent, counters end in _total
        assert "percent" not in family.name and "_ms" not in family.name and "_gb" not in family.name
        for sample in family.samples:
            assert math.isfinite(sample.value), sample
            if family.type == "counter":
                assert sample.name.endswith("_total")


def test_prometheus_leaves_out_missing_values(served):
    latest, base = served
    snap = rich_snapshot()
    snap = snap.model_copy(update={"system": snap.system.model_copy(update={"cpu_percent": None}), "usage": None})
    latest.publish(snap)
    text = httpx.get(base + "/metrics").text
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "reporter_cpu_usage_ratio" not in names and "reporter_app_users" not in names
    assert "NaN" not in text and "reporter_memory_usage_ratio" in names


def test_bodies_are_serialised_once_per_sample():
    latest = Latest()
    published = latest.publish(rich_snapshot())
    assert set(published.bodies) == {"/snapshot", "/alerts", "/api/v1/analytics/metrics",
                                     "/api/v1/analytics/health", "/api/v1/analytics/ai-features"}
    assert len(published.top_users) == 12 and len(published.popular_scenarios) == 3
    text = published.body_for("/metrics")  # Prometheus text: on the first scrape, then kept
    assert text.startswith(b"# HELP") and published.body_for("/metrics") is text


def test_cors_off_by_default(served):
    _, base = served
    response = httpx.get(base + "/api/v1/analytics/metrics", headers={"Origin": "https://dash.example.com"})
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(base + "/api/v1/analytics/metrics", headers={
        "Origin": "https://dash.example.com", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allow_list_with_token():
    latest = Latest()
    latest.publish(rich_snapshot())
    auth = {"Authorization": "Bearer tok-123"}
    with serve(latest, token="tok-123", cors_origins=["https://dash.example.com"]) as (_, base):
        for path in ("/api/v1/analytics/metrics", "/snapshot", "/alerts", "/openapi.json"):
            allowed = httpx.get(base + path, headers={"Origin": "https://dash.example.com", **auth})
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com", path
            assert "origin" in allowed.headers["vary"].lower()
            other = httpx.get(base + path, headers={"Origin": "https://evil.example.net", **auth})
            assert other.status_code == 200 and "access-control-allow-origin" not in other.headers, path
        # a preflight carries no Authorization: it is answered without the token
        preflight = httpx.options(base + "/api/v1/analytics/log-ai-usage", headers={
            "Origin": "https://dash.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        refused = httpx.options(base + "/snapshot", headers={"Origin": "https://evil.example.net",
                                                             "Access-Control-Request-Method": "GET"})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        assert httpx.get(base + "/snapshot", headers={"Origin": "https://dash.example.com"}).status_code == 401


def test_token_on_every_new_endpoint():
    latest = Latest()
    latest.publish(rich_snapshot())
    with serve(latest, token="s3cret-token") as (_, base):
        paths = ("/metrics", "/api/v1/analytics/metrics", "/api/v1/analytics/health", "/api/v1/analytics/ai-features",
                 "/api/v1/analytics/top-users", "/api/v1/analytics/popular-scenarios", "/api/v1/history",
                 "/openapi.json")
        for path in paths:
            assert httpx.get(base + path).status_code == 401, path
            assert httpx.get(base + path, headers={"Authorization": "Bearer s3cret-tokeN"}).status_code == 401
        ok = httpx.get(base + "/api/v1/analytics/health", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        for path in paths:
            body = httpx.get(base + path, headers={"Authorization": "Bearer s3cret-token"}).text
            assert "s3cret" not in body, path
