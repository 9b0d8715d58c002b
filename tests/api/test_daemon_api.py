"""`reporter run` as a user runs it: every endpoint answers real values in the seed's shape, a logged AI request
shows up in the next snapshot, and no secret of the configuration appears in any answer."""

from __future__ import annotations

import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_analytics import (
    SEED_HEALTH,
    SEED_METRICS,
    SEED_SCENARIOS,
    SEED_TOP_USERS,
    assert_seed_shape,
)
from tests.appdb import create_reference_db
from tests.conftest import free_port, wait_for
from tests.daemon.helpers import start_daemon

TOKEN = "daemon-api-token-5f2c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRETS = (TOKEN, "pg-secret-77", "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4", "hook-token-91")


@pytest.mark.slow
def test_daemon_serves_the_http_api(tmp_path, redis_url, redis_prefix, pg_schema_url, fake_ollama, refused_port):
    create_reference_db(pg_schema_url)
    port = free_port()
    settings = {
        "REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.8", "REPORTER_USAGE_INTERVAL": "1",
        "REPORTER_REDIS_URL": redis_url, "REPORTER_AI_KEY_PREFIX": redis_prefix,
        "REPORTER_APP_DATABASE_URL": pg_schema_url.replace("postgres@", "postgres:pg-secret-77@", 1),
        "REPORTER_OLLAMA_URL": fake_ollama.url, "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "REPORTER_API_TOKEN": TOKEN, "REPORTER_REPORT_DIR": str(tmp_path / "reports"),
        "REPORTER_WEBHOOK_URL": f"http://127.0.0.1:{refused_port}/hook?token=hook-token-91",
        "REPORTER_WEBHOOK_SECRET": SECRETS[2],
    }
    proc = start_daemon(tmp_path, settings, port, ready_path="/healthz")
    base = f"http://127.0.0.1:{port}"
    try:
        def get(path: str) -> httpx.Response:
            return httpx.get(base + path, headers=AUTH, timeout=5)

        metrics = wait_for(lambda: (r := get("/api/v1/analytics/metrics")).status_code == 200 and
                           r.json()["usage"]["total_users"] is not None and r.json(), what="usage in metrics")
        assert_seed_shape(metrics, SEED_METRICS, "metrics", extra_top=frozenset({"timestamp"}))
        assert metrics["usage"]["total_users"] == 3 and metrics["ai"]["model"] == "mistral:7b"
        assert metrics["system"]["memory_total_gb"] > 0 and metrics["ai"]["total_requests"] == 0

        health = get("/api/v1/analytics/health").json()
        assert_seed_shape(health, SEED_HEALTH, "health", nullable=False)
        assert health["status"] == "healthy" and all(health["services"].values())

        users = get("/api/v1/analytics/top-users?limit=2").json()
        assert_seed_shape(users, SEED_TOP_USERS, "top-users")
        assert [u["email"] for u in users] == ["a***@example.com", "c***@example.com"]  # masked by default
        scenarios = get("/api/v1/analytics/popular-scenarios?limit=5").json()
        assert_seed_shape(scenarios, SEED_SCENARIOS, "popular-scenarios")
        assert [(s["scenario_id"], s["start_count"]) for s in scenarios] == [("restaurant_001", 4), ("hotel_001", 1)]

        logged = httpx.post(base + "/api/v1/analytics/log-ai-usage", headers=AUTH, timeout=5, json={
            "feature": "grammar", "response_time_seconds": 1.25, "success": True, "cache_hit": True})
        assert logged.status_code == 200, logged.text
        after = wait_for(lambda: (m := get("/api/v1/analytics/metrics").json())["ai"]["total_requests"] == 1 and m,
                         what="the logged request in the snapshot")
        assert after["ai"]["avg_response_time"] == 1.25 and after["ai"]["cache_hit_rate"] == 100.0
        features = get("/api/v1/analytics/ai-features").json()
        assert features["grammar"]["requests"] == 1 and features["grammar"]["success_rate"] == 100.0

        families = {f.name: f for f in text_string_to_metric_families(get("/metrics").text)}
        requests = {s.labels["feature"]: s.value for s in families["reporter_ai_requests"].samples}
        assert requests["grammar"] == 1.0
        assert {s.labels["service"]: s.value for s in families["reporter_service_up"].samples} == {
            "database": 1.0, "redis": 1.0, "ollama": 1.0}

        series = get("/api/v1/history?metric=ai_total_requests").json()
        assert series["points"] and series["points"][-1][1] == 1.0
        assert get("/openapi.json").json()["openapi"] == "3.1.0"

        for path in ("/snapshot", "/alerts", "/metrics", "/openapi.json", "/api/v1/analytics/metrics",
                     "/api/v1/analytics/health", "/api/v1/analytics/ai-features", "/api/v1/analytics/top-users",
                     "/api/v1/analytics/popular-scenarios", "/api/v1/history?metric=cpu_percent", "/healthz",
                     "/nope"):
            text = get(path).text
            for secret in SECRETS:
                assert secret not in text, (path, secret)
        assert httpx.get(base + "/snapshot", timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err[-2000:]
    for secret in SECRETS:
        assert secret not in err
