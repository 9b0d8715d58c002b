"""/api/v1/silences over a real loopback socket on a real history: the token rules (401 without the bearer, 403
for writes when no token is configured), strict validation (400 naming the field), Alertmanager's v2 shapes,
pending silences, and a silence created over HTTP that mutes an alert at the Dispatcher until it is deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from reporter.alerting.config import Receiver
from reporter.base.timefmt import format_utc
from tests.alerting.test_delivery import Pipeline
from tests.api.helpers import serve
from tests.receiver import Receiver as HTTPReceiver
from tests.snapshots import T0

TOKEN = "silence-token-7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/api/v1/silences"


def later(hours: float) -> str:
    return format_utc(datetime.now(UTC) + timedelta(hours=hours))


def body(**fields):
    return {"matchers": [{"name": "alertname", "value": "cpu_high", "isRegex": False}], "endsAt": later(2),
            "comment": "kernel update", "createdBy": "ops@example.com", **fields}


def test_without_a_configured_token_reads_work_and_writes_are_403(history):
    with serve(history=history) as (_, base):
        assert httpx.get(base + URL).json() == []
        created = httpx.post(base + URL, json=body())
        assert created.status_code == 403 and "REPORTER_API_TOKEN" in created.json()["error"]
        assert httpx.delete(base + URL + "/sil_x").status_code == 403
        assert httpx.get(base + URL).json() == []


def test_with_a_token_every_call_needs_the_bearer(history):
    with serve(history=history, token=TOKEN) as (_, base):
        assert httpx.get(base + URL).status_code == 401
        assert httpx.post(base + URL, json=body()).status_code == 401
        assert httpx.delete(base + URL + "/sil_x").status_code == 401
        assert httpx.post(base + URL, json=body(), headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(base + URL, headers=AUTH).json() == []


def test_create_list_and_expire_in_alertmanager_shape(history):
    with serve(history=history, token=TOKEN) as (_, base):
        now_id = httpx.post(base + URL, json=body(), headers=AUTH).json()["silenceID"]
        pending = httpx.post(base + URL, headers=AUTH, json=body(
            matchers=['service=~"redis|database"', {"name": "host", "value": "db1", "isRegex": False,
                                                    "isEqual": False}],
            startsAt=later(24), endsAt=later(26)))
        assert pending.status_code == 200, pending.text
        listed = {s["id"]: s for s in httpx.get(base + URL, headers=AUTH).json()}
        assert listed[now_id]["status"] == {"state": "active"}
        assert listed[now_id]["matchers"] == [{"name": "alertname", "value": "cpu_high", "isRegex": False,
                                               "isEqual": True}]
        assert listed[now_id]["createdBy"] == "ops@example.com" and listed[now_id]["endsAt"].endswith("Z")
        later_one = listed[pending.json()["silenceID"]]
        assert later_one["status"] == {"state": "pending"}
        assert later_one["matchers"] == [{"name": "service", "value": "redis|database", "isRegex": True,
                                          "isEqual": True},
                                         {"name": "host", "value": "db1", "isRegex": False, "isEqual": False}]
        deleted = httpx.delete(base + URL + "/" + later_one["id"], headers=AUTH)
        assert deleted.status_code == 200 and deleted.json()["status"] == {"state": "expired"}
        assert httpx.delete(base + URL + "/" + later_one["id"], headers=AUTH).status_code == 404
        states = {s["id"]: s["status"]["state"] for s in httpx.get(base + URL, headers=AUTH).json()}
        assert states == {now_id: "active", later_one["id"]: "expired"}


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"endsAt": 5}, "endsAt", "must be an ISO 8601 time"),
    ({"matchers": []}, "matchers", "must be a list of 1 to 64"),
    ({"matchers": ["severity~critical"]}, "matchers[0]", "is not a matcher"),
    ({"matchers": [{"name": "1x", "value": "a", "isRegex": False}]}, "matchers[0]", "name must be a label name"),
    ({"matchers": [{"name": "a", "value": "(", "isRegex": True}]}, "matchers[0]", "bad regular expression"),
    ({"matchers": [{"name": "a", "value": "x", "isRegex": "no"}]}, "matchers[0]", "must be booleans"),
    ({"matchers": ['host=~".*"']}, "matchers", "would mute every alert"),
    ({"endsAt": "2026-12-05T02:00:00"}, "endsAt", "has no offset"),
    ({"endsAt": "tomorrow"}, "endsAt", "must be an ISO 8601 time"),
    ({"endsAt": "2020-01-01T00:00:00Z"}, "endsAt", "is in the past"),
    ({"startsAt": "2099-01-02T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z"}, "endsAt", "must be after the start"),
    ({"comment": ""}, "comment", "non-empty string"),
    ({"createdBy": 5}, "createdBy", "non-empty string"),
    ({"id": "sil_x"}, "id", "unknown field"),
])
def test_bad_input_is_400_naming_the_field(history, fields, field, words):
    payload = body(**fields)
    with serve(history=history, token=TOKEN) as (_, base):
        answer = httpx.post(base + URL, json=payload, headers=AUTH)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == field and answer.json()["error"].startswith(f"{field}: ")
        assert words in answer.json()["error"]
        missing = httpx.post(base + URL, json={"matchers": ["a=b"]}, headers=AUTH)
        assert missing.status_code == 400 and missing.json()["error"] == "endsAt: is required"
        broken = httpx.post(base + URL, content=b"{not json", headers=AUTH)
        assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
        assert httpx.get(base + URL, headers=AUTH).json() == []


@pytest.mark.parametrize("text", ["cpu\ud800high", "cpu\x00high"], ids=["lone-surrogate", "nul"])
@pytest.mark.parametrize("field", ["value", "comment", "createdBy"])
def test_text_that_cannot_be_stored_or_printed_is_400_and_nothing_is_stored(history, text, field):
    """A lone surrogate (JSON ``"\\ud800"``) in a matcher's value was stored, escaped in the matchers' JSON, and
    then broke every `reporter silence list` with a UnicodeEncodeError traceback; a NUL cannot be stored in
    PostgreSQL text. Both are refused as invalid JSON text."""
    payload = body()
    if field == "value":
        payload["matchers"][0]["value"] = text
    else:
        payload[field] = text
    with serve(history=history, token=TOKEN) as (_, base):
        answer = httpx.post(base + URL, content=json.dumps(payload).encode(),
                            headers={**AUTH, "Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert "not valid JSON" in answer.json()["error"]
        assert httpx.get(base + URL, headers=AUTH).json() == []


def test_a_silence_created_over_http_mutes_the_alert_until_it_is_deleted(history):
    hook = HTTPReceiver()
    try:
        p = Pipeline(history, [Receiver(name="ops", type="webhook", url=hook.url)])
        with serve(history=history, token=TOKEN) as (_, base):
            # from the test clock's start (2 November 2026) until well after the real now
            created = httpx.post(base + URL, headers=AUTH, json=body(startsAt=format_utc(T0), endsAt=later(1)))
            assert created.status_code == 200, created.text
            p.feed(range(0, 310, 10), cpu=95)
            assert p.dispatch(310) == []  # cpu_high fires, silenced
            assert httpx.delete(f"{base}{URL}/{created.json()['silenceID']}", headers=AUTH).status_code == 200
            assert len(p.dispatcher.dispatch(datetime.now(UTC))) == 1  # expired now: cpu_high still fires
        p.deliver()
        assert [a["labels"]["alertname"] for a in hook.wait_for(1)[0].json()["alerts"]] == ["cpu_high"]
    finally:
        hook.stop()


def test_a_history_that_cannot_be_read_is_503_not_500(history):
    from sqlalchemy import text

    with serve(history=history, token=TOKEN) as (_, base):
        with history.engine.begin() as conn:
            conn.execute(text("DROP TABLE silences"))  # what a broken or foreign database looks like
        for answer in (httpx.get(base + URL, headers=AUTH), httpx.post(base + URL, json=body(), headers=AUTH),
                       httpx.delete(base + URL + "/sil_x", headers=AUTH)):
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"].startswith("the history database is unavailable (")
