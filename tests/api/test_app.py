import time

import httpx
import pytest

from reporter.api.latest import Latest
from reporter.daemon.jobs import with_history_error
from tests.api.helpers import serve
from tests.snapshots import WHEN, snapshot


def make_snapshot():
    """A healthy snapshot of db01 at WHEN, CPU 35.4 %, every service up and the model listed."""
    return snapshot(when=WHEN, host="db01", cpu=35.4, duration_ms=4.0)


@pytest.fixture
def served():
    with serve(sample_interval=0.5) as (latest, base):
        yield latest, base


def test_snapshot_before_and_after_first_sample(served):
    latest, base = served
    before = httpx.get(base + "/snapshot")
    assert before.status_code == 503 and "no snapshot yet" in before.json()["error"]
    assert httpx.get(base + "/healthz").status_code == 503
    latest.publish(make_snapshot())
    after = httpx.get(base + "/snapshot")
    assert after.status_code == 200 and after.headers["content-type"] == "application/json"
    body = after.json()
    assert body["timestamp"] == "2026-11-29T12:00:00.250Z"
    assert body["system"]["cpu_percent"] == 35.4 and body["services"]["ollama"]["is_available"] is True


def test_etag_gives_304(served):
    latest, base = served
    latest.publish(make_snapshot())
    first = httpx.get(base + "/snapshot")
    again = httpx.get(base + "/snapshot", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_healthz_goes_stale_after_three_intervals(served):
    latest, base = served
    latest.publish(make_snapshot())
    fresh = httpx.get(base + "/healthz")
    assert fresh.status_code == 200 and fresh.json()["status"] == "ok"
    time.sleep(1.6)  # 3 x 0.5 s
    stale = httpx.get(base + "/healthz")
    assert stale.status_code == 503 and stale.json()["status"] == "stale"


def test_healthz_is_503_naming_the_history_error_while_the_history_cannot_be_written(served):
    latest, base = served
    error = "cannot write (sample write): OperationalError: database or disk is full; free disk space at /data"
    latest.publish(with_history_error(make_snapshot(), error))
    failing = httpx.get(base + "/healthz")
    assert failing.status_code == 503
    assert failing.json()["status"] == "history_failing" and failing.json()["error"] == f"history: {error}"
    snapshot = httpx.get(base + "/snapshot").json()
    assert snapshot["status"] == "degraded" and snapshot["errors"]["history"] == error
    assert "reporter_history_write_error 1.0" in httpx.get(base + "/metrics").text
    latest.publish(make_snapshot())  # writes work again
    assert httpx.get(base + "/healthz").status_code == 200
    assert "reporter_history_write_error 0.0" in httpx.get(base + "/metrics").text


def test_unknown_path_is_json_404(served):
    _, base = served
    response = httpx.get(base + "/nope")
    assert response.status_code == 404 and "/snapshot" in response.json()["endpoints"]


def test_alerts_endpoint_lists_active_alerts(served):
    from reporter.snapshot import ActiveAlert

    latest, base = served
    assert httpx.get(base + "/alerts").status_code == 503
    snap = make_snapshot().model_copy(update={"alerts": [ActiveAlert(
        alertname="cpu_high", state="firing", severity="critical", host="web-2",
        labels={"alertname": "cpu_high", "host": "web-2"}, summary="CPU above 90%", value=95.0, fingerprint="abc")]})
    latest.publish(snap)
    body = httpx.get(base + "/alerts").json()
    assert body["timestamp"] == "2026-11-29T12:00:00.250Z"
    assert [(a["alertname"], a["state"], a["host"]) for a in body["alerts"]] == [("cpu_high", "firing", "web-2")]


def test_token_required_everywhere_but_healthz():
    latest = Latest()
    latest.publish(make_snapshot())
    with serve(latest, token="s3cret-token") as (_, base):
        assert httpx.get(base + "/healthz").status_code == 200
        for path in ("/snapshot", "/alerts", "/nope"):
            assert httpx.get(base + path).status_code == 401
            assert httpx.get(base + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(base + "/snapshot", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and "s3cret-token" not in ok.text
