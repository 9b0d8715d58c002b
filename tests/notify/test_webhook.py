"""Alertmanager webhook payload (version "4") and Standard Webhooks signing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reporter.alerting.model import AlertNotice, Notification, fingerprint
from reporter.notify.webhook import (
    ZERO_TIME,
    alertmanager_payload,
    encode_body,
    group_key,
    rfc3339,
    secret_key,
    sign,
    signed_headers,
)

START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def notice(status="firing", ends_at=None, severity="critical", **labels) -> AlertNotice:
    labels = {"alertname": "service_down", "severity": severity, **labels}
    return AlertNotice(
        status=status,
        labels=labels,
        annotations={
            "summary": f"{labels.get('service', '?')} is down",
            "runbook": "https://wiki.example.com/down",
        },
        starts_at=START,
        ends_at=ends_at,
        fingerprint=fingerprint(labels),
        generator_url="http://reporter.example.com:9464/alerts",
    )


def notification(alerts, truncated=0, group_labels=None) -> Notification:
    return Notification(
        id="ntf_0001",
        receiver="ops-webhook",
        alerts=alerts,
        created_at=START + timedelta(seconds=30),
        group_labels={"alertname": "service_down"} if group_labels is None else group_labels,
        external_url="http://reporter.example.com:9464",
        truncated=truncated,
    )


def fifty_down() -> Notification:
    return notification([notice(service=f"svc-{i:02d}.example.com", env="prod") for i in range(50)])


# --- signing ---------------------------------------------------------------------------------------------


def test_published_test_vector_verifies():
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_independent_implementation_accepts_our_headers():
    payload = alertmanager_payload(notification([notice(service="<script>&", host="café.example.com")]))
    body = encode_body(payload)
    headers = signed_headers(SECRET, "ntf_0001", body)

    assert Webhook(SECRET).verify(body, headers) == payload


def test_independent_implementation_rejects_a_changed_body():
    body = encode_body(alertmanager_payload(fifty_down()))
    headers = signed_headers(SECRET, "ntf_0001", body)

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"svc-07", b"svc-08"), headers)


def test_raw_secret_is_used_as_utf8_bytes():
    raw = "not base64: p@ss wörd"
    body = b'{"status":"firing"}'
    headers = signed_headers(raw, "ntf_0002", body)

    assert secret_key(raw) == raw.encode("utf-8")
    Webhook(raw.encode("utf-8")).verify(body, headers)


def test_headers_carry_id_timestamp_signature_and_content_type():
    body = b"{}"
    headers = signed_headers(SECRET, "ntf_0003", body, now=datetime(2021, 2, 26, 15, 2, 10, tzinfo=UTC))

    assert headers == {
        "webhook-id": "ntf_0003",
        "webhook-timestamp": "1614351730",
        "webhook-signature": sign(SECRET, "ntf_0003", 1614351730, body),
        "content-type": "application/json",
    }
    assert signed_headers(SECRET, "ntf_0003", body, now=1614351730.9) == headers
    assert abs(int(signed_headers(SECRET, "x", body)["webhook-timestamp"]) - time.time()) < 5


def test_no_secret_means_no_signature_header():
    headers = signed_headers(None, "ntf_0004", b"{}", now=1614351730)

    assert headers == {
        "webhook-id": "ntf_0004",
        "webhook-timestamp": "1614351730",
        "content-type": "application/json",
    }


@pytest.mark.parametrize("bad", ["whsec_", "", "whsec_not*base64!"])
def test_bad_secret_is_an_error_that_does_not_show_the_secret(bad):
    with pytest.raises(ValueError) as info:
        sign(bad, "ntf_0005", 0, b"{}")
    if bad.removeprefix("whsec_"):
        assert bad.removeprefix("whsec_") not in str(info.value)


def test_unpadded_whsec_secret_is_accepted():
    padded = "whsec_" + "c2VjcmV0IGtleQ=="  # "secret key"
    assert secret_key(padded) == secret_key(padded.rstrip("=")) == b"secret key"


# --- payload ---------------------------------------------------------------------------------------------


def test_payload_has_the_alertmanager_version_4_fields():
    payload = alertmanager_payload(notification([notice(service="redis")]))

    assert list(payload) == [
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    ]  # fmt: skip
    assert payload["version"] == "4"
    assert payload["receiver"] == "ops-webhook"
    assert payload["groupLabels"] == {"alertname": "service_down"}
    assert payload["externalURL"] == "http://reporter.example.com:9464"
    assert payload["groupKey"] == '{}/{receiver="ops-webhook"}:{alertname="service_down"}'
    (alert,) = payload["alerts"]
    assert set(alert) == {
        "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    }  # fmt: skip
    assert alert["fingerprint"] == fingerprint(alert["labels"])
    assert alert["generatorURL"] == "http://reporter.example.com:9464/alerts"


def test_firing_payload():
    payload = alertmanager_payload(notification([notice(service="redis")]))

    assert payload["status"] == "firing"
    (alert,) = payload["alerts"]
    assert alert["status"] == "firing"
    assert alert["startsAt"] == "2024-05-01T12:00:00Z"
    assert alert["endsAt"] == ZERO_TIME == "0001-01-01T00:00:00Z"


def test_resolved_payload():
    ended = START + timedelta(minutes=7, seconds=3, microseconds=250000)
    payload = alertmanager_payload(notification([notice("resolved", ended, service="redis")]))

    assert payload["status"] == "resolved"
    (alert,) = payload["alerts"]
    assert alert["status"] == "resolved"
    assert alert["endsAt"] == "2024-05-01T12:07:03.25Z"


def test_mixed_batch_is_firing():
    ended = START + timedelta(minutes=1)
    payload = alertmanager_payload(
        notification([notice("resolved", ended, service="a"), notice(service="b")])
    )

    assert payload["status"] == "firing"
    assert [a["status"] for a in payload["alerts"]] == ["resolved", "firing"]


def test_fifty_alerts_all_present_by_default():
    payload = alertmanager_payload(fifty_down())

    assert len(payload["alerts"]) == 50
    assert payload["truncatedAlerts"] == 0


def test_max_alerts_keeps_the_first_n_and_counts_the_rest():
    payload = alertmanager_payload(fifty_down(), max_alerts=10)

    assert [a["labels"]["service"] for a in payload["alerts"]] == [
        f"svc-{i:02d}.example.com" for i in range(10)
    ]
    assert payload["truncatedAlerts"] == 40


def test_truncated_counts_alerts_already_left_out():
    base = fifty_down()
    already = notification(base.alerts, truncated=5)

    assert alertmanager_payload(already)["truncatedAlerts"] == 5
    assert alertmanager_payload(already, max_alerts=10)["truncatedAlerts"] == 45
    assert alertmanager_payload(already, max_alerts=80)["truncatedAlerts"] == 5


def test_common_labels_and_annotations():
    alerts = [
        notice(service="redis", env="prod", host="db1.example.com"),
        notice(service="ollama", env="prod", host="db1.example.com"),
        notice(service="database", env="prod"),
    ]
    payload = alertmanager_payload(notification(alerts))

    assert payload["commonLabels"] == {"alertname": "service_down", "env": "prod", "severity": "critical"}
    assert payload["commonAnnotations"] == {"runbook": "https://wiki.example.com/down"}


def test_common_labels_of_one_alert_are_its_labels_and_of_none_are_empty():
    one = alertmanager_payload(notification([notice(service="redis")]))
    none = alertmanager_payload(notification([], group_labels={}))

    assert one["commonLabels"] == one["alerts"][0]["labels"]
    assert none["commonLabels"] == {} and none["commonAnnotations"] == {}
    assert none["alerts"] == [] and none["status"] == "resolved"
    assert none["groupKey"] == '{}/{receiver="ops-webhook"}:{}'


def test_common_labels_follow_the_alerts_kept():
    alerts = [notice(service="redis", env="prod"), notice(service="redis", env="staging")]

    assert alertmanager_payload(notification(alerts), max_alerts=1)["commonLabels"]["env"] == "prod"


def test_label_value_arrives_intact_in_json():
    payload = alertmanager_payload(notification([notice(service="<script>&")]))
    decoded = json.loads(encode_body(payload))

    assert decoded["alerts"][0]["labels"]["service"] == "<script>&"
    assert decoded["commonLabels"]["service"] == "<script>&"


def test_group_key_quotes_like_go():
    key = group_key("ops", {"service": 'a"b\\c\n', "alertname": "x"})

    assert key == r'{}/{receiver="ops"}:{alertname="x", service="a\"b\\c\n"}'


def test_times_are_utc_with_z():
    from zoneinfo import ZoneInfo

    berlin = datetime(2024, 5, 1, 14, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    assert rfc3339(berlin) == "2024-05-01T12:00:00Z"
    with pytest.raises(ValueError):
        rfc3339(datetime(2024, 5, 1, 12, 0, 0))
