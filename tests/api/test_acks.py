"""``POST /api/v1/alerts/{fingerprint}/ack`` over a real loopback socket and a real history: 401 without the
token, 403 without a configured token, 404 unknown fingerprint, 400 naming the bad field, 409 resolved, 200 and
the acknowledgement stored (the dispatcher reads it); on PostgreSQL too (the shared history of a fleet)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from reporter.alerting.acks import AckStore
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.store.history import History
from tests.api.helpers import serve
from tests.snapshots import FEATURES

TOKEN = "ack-token-7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ACTIVE = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
CPU = {"alertname": "cpu_high", "severity": "critical", "host": "web-1.example.com"}
DISK = {"alertname": "disk_high", "severity": "warning"}


def with_alerts(history: History) -> History:
    """cpu_high firing, disk_high resolved (awaiting its notification)."""
    AlertStore(history.engine).save([
        (AlertRecord(fingerprint(CPU), "cpu_high", CPU, {}, AlertState.FIRING, ACTIVE, ACTIVE), "firing"),
        (AlertRecord(fingerprint(DISK), "disk_high", DISK, {}, AlertState.INACTIVE, ACTIVE, ACTIVE,
                     ACTIVE.replace(hour=11)), "resolved")], ACTIVE)
    return history


def path(labels: dict[str, str] | str) -> str:
    return f"/api/v1/alerts/{labels if isinstance(labels, str) else fingerprint(labels)}/ack"


def test_ack_is_stored_and_answered(history):
    with serve(token=TOKEN, history=with_alerts(history)) as (_, base):
        answer = httpx.post(base + path(CPU), json={"by": "ann", "comment": "on it"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "acknowledged" and body["by"] == "ann" and body["comment"] == "on it"
    assert body["starts_at"] == "2026-12-03T10:00:00.000Z" and body["fingerprint"] == fingerprint(CPU)
    [ack] = AckStore(history.engine).acked(AlertStore(history.engine).load().values()).values()
    assert (ack.fingerprint, ack.by, ack.comment) == (fingerprint(CPU), "ann", "on it")


def test_without_the_token_401_and_without_a_configured_token_403(history):
    with serve(token=TOKEN, history=with_alerts(history)) as (_, base):
        assert httpx.post(base + path(CPU), json={"by": "ann"}).status_code == 401
        assert httpx.post(base + path(CPU), json={"by": "ann"},
                          headers={"Authorization": "Bearer nope"}).status_code == 401
    with serve(history=history) as (_, base):
        refused = httpx.post(base + path(CPU), json={"by": "ann"})
    assert refused.status_code == 403 and "REPORTER_API_TOKEN" in refused.json()["error"]
    assert AckStore(history.engine).acked(AlertStore(history.engine).load().values()) == {}


@pytest.mark.parametrize(("body", "status", "error"), [
    (b"not json", 400, "body: not valid JSON"),
    (b"[1, 2]", 400, "body: must be a JSON object"),
    (b"{}", 400, "by: required, a string"),
    (b'{"by": 5}', 400, "by: required, a string"),
    (b'{"by": "ann", "comment": 3}', 400, "comment: must be a string"),
    (b'{"by": "ann", "when": "now"}', 400, "when: unknown field; expected: by, comment"),
    (b'{"by": "   "}', 400, "by: who acknowledges must be named"),
    (b'{"by": "' + b"x" * 65 + b'"}', 400, "by: at most 64 characters"),
])
def test_bad_bodies_are_400_naming_the_field(history, body, status, error):
    with serve(token=TOKEN, history=with_alerts(history)) as (_, base):
        answer = httpx.post(base + path(CPU), content=body,
                            headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == status and answer.json()["error"].startswith(error), answer.text


@pytest.mark.parametrize("body", [b'{"by": "\\ud800ann"}', b'{"by": "ann", "comment": "on\\u0000it"}'],
                         ids=["lone-surrogate", "nul"])
def test_text_that_cannot_be_stored_is_400_not_503_and_nothing_is_stored(pg_schema_url, body):
    """A lone surrogate or a NUL, valid JSON escapes, can be neither encoded as UTF-8 nor stored in PostgreSQL
    text: the client's mistake is a 400, not a 503 "history unavailable" a client would retry forever."""
    history = History(pg_schema_url, FEATURES)
    try:
        with serve(token=TOKEN, history=with_alerts(history)) as (_, base):
            answer = httpx.post(base + path(CPU), content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"].startswith("body: not valid JSON"), answer.text
        assert AckStore(history.engine).acked(AlertStore(history.engine).load().values()) == {}
    finally:
        history.close()


def test_unknown_fingerprint_404_and_resolved_alert_409(history):
    with serve(token=TOKEN, history=with_alerts(history)) as (_, base):
        unknown = httpx.post(base + path("feedfacefeedface"), json={"by": "ann"}, headers=AUTH)
        resolved = httpx.post(base + path(DISK), json={"by": "ann"}, headers=AUTH)
    assert unknown.status_code == 404 and "feedfacefeedface" in unknown.json()["error"]
    assert resolved.status_code == 409 and "is resolved" in resolved.json()["error"]


def test_without_a_history_503(history):
    with serve(token=TOKEN) as (_, base):
        answer = httpx.post(base + path(CPU), json={"by": "ann"}, headers=AUTH)
    assert answer.status_code == 503


def test_ack_on_a_postgresql_history(pg_schema_url):
    history = History(pg_schema_url, FEATURES)
    try:
        with serve(token=TOKEN, history=with_alerts(history)) as (_, base):
            first = httpx.post(base + path(CPU), json={"by": "ann"}, headers=AUTH)
            again = httpx.post(base + path(CPU), json={"by": "bob", "comment": "taking over"}, headers=AUTH)
        assert first.status_code == again.status_code == 200
        [ack] = AckStore(history.engine).acked(AlertStore(history.engine).load().values()).values()
        assert (ack.by, ack.comment) == ("bob", "taking over")
    finally:
        history.close()
