"""/openapi.json describes every endpoint, and schemathesis finds no server error against it (bounded)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from reporter.api.app import ENDPOINTS
from reporter.api.latest import Latest
from reporter.api.openapi import document
from reporter.api.usage_log import async_redis_client
from reporter.catalog import catalog
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.api.helpers import serve
from tests.conftest import REDIS_URL, require
from tests.snapshots import FEATURES, rich_snapshot

TOKEN = "openapi-token-42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def full_app(tmp_path_factory):
    """Every endpoint live: a snapshot, a short history, a report, the real Redis under a private prefix, a
    token."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        require("Redis at 127.0.0.1:6379", exc)
    prefix = f"test:{uuid.uuid4().hex[:12]}:ai:"
    folder = tmp_path_factory.mktemp("openapi")
    history = History(f"sqlite:///{folder / 'history.db'}", FEATURES)
    (folder / "2026-12-03.html").write_text("<p>a report</p>")
    now = datetime.now(UTC)
    generate(history, now - timedelta(hours=2), now, interval=10.0)
    latest = Latest()
    latest.publish(rich_snapshot(now))
    try:
        with serve(latest, token=TOKEN, redis=async_redis_client(REDIS_URL, 2.0), ai_prefix=prefix,
                   ai_features=FEATURES, history=history, report_dir=str(folder)) as (_, base):
            yield base
    finally:
        history.close()
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


# the document the app serves (the test below checks it is the same), loaded at import for parametrize
schema = schemathesis.openapi.from_dict(document(FEATURES, list(catalog(FEATURES)), token=True))
# the token is sent by the test itself (so no "request without Authorization" case is generated), and unknown
# query parameters are ignored by design (as most HTTP APIs do), not an error to provoke
schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
# a body over the 16 KB limit is refused with 413 before it is read: a rejection too (schemathesis took it for an
# accepted schema-violating request when the generated body was large)
rejection = schema.config.checks.negative_data_rejection
rejection.expected_statuses = [*rejection.expected_statuses, "413"]


def test_document_lists_every_endpoint(full_app):
    doc = httpx.get(full_app + "/openapi.json", headers=AUTH).json()
    assert doc == document(FEATURES, list(catalog(FEATURES)), token=True)
    assert doc["openapi"].startswith("3.1")
    assert sorted(doc["paths"]) == sorted(ENDPOINTS)
    assert doc["security"] == [{"bearer": []}] and doc["paths"]["/healthz"]["get"]["security"] == []
    body = doc["components"]["schemas"]["AIUsage"]
    assert body["properties"]["feature"]["enum"] == FEATURES and body["additionalProperties"] is False
    assert "cpu_percent" in doc["paths"]["/api/v1/history"]["get"]["parameters"][0]["schema"]["enum"]


def test_text_that_cannot_be_stored_is_told_apart():
    assert unstorable({"by": "a\x00b"}) and unstorable({"feature": ["\ud800"]}) and unstorable({"\udfff": 1})
    assert not unstorable({"by": "ann", "comment": "ok \u00e9 \U0001f600", "n": 3})


def test_document_without_token_declares_no_security():
    with serve() as (_, base):
        doc = httpx.get(base + "/openapi.json").json()
    assert "security" not in doc and "securitySchemes" not in doc["components"]
    assert "401" not in doc["paths"]["/snapshot"]["get"]["responses"]


def unstorable(value: object) -> bool:
    """A NUL or a lone surrogate in any string of a JSON body: text no history can store, which the API refuses
    (400/422) though the schema's ``string`` admits it."""
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unstorable(v) for v in value)
    return False


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_schemathesis_finds_no_server_error(case, full_app):
    # /api/v1/history refuses some schema-valid combinations on purpose (from after to, a step giving more than
    # 2,000 points), as /api/v1/silences does (an end in the past or before the start, a silence matching every
    # alert), and every POST refuses text that cannot be stored: those 4xx are not "valid data rejected"
    excluded = ([positive_data_acceptance]
                if case.path.startswith(("/api/v1/history", "/api/v1/silences")) or unstorable(case.body) else [])
    case.call_and_validate(base_url=full_app, headers=AUTH, timeout=10, excluded_checks=excluded)
