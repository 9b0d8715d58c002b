"""Slack incoming-webhook body: Block Kit, colours, escaping and Slack's size limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.alerting.model import AlertNotice, Notification, fingerprint
from reporter.notify.slack import (
    COLOR_BY_SEVERITY,
    COLOR_RESOLVED,
    MAX_BLOCKS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    escape_mrkdwn,
    slack_payload,
    truncate,
)

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def notice(status="firing", ends_at=None, alertname="service_down", severity="critical", annotations=None,
           **labels) -> AlertNotice:  # fmt: skip
    labels = {"alertname": alertname, "severity": severity, **labels}
    return AlertNotice(
        status=status,
        labels=labels,
        annotations=annotations or {"summary": "service down", "description": "health check failed for 30 s"},
        starts_at=START,
        ends_at=ends_at,
        fingerprint=fingerprint(labels),
        generator_url="http://reporter.example.com:9464/alerts",
    )


def notification(alerts, truncated=0, receiver="ops-slack", group_labels=None) -> Notification:
    return Notification(
        id="ntf_0001",
        receiver=receiver,
        alerts=alerts,
        created_at=START + timedelta(seconds=30),
        group_labels=group_labels or {},
        external_url="http://reporter.example.com:9464",
        truncated=truncated,
    )


def blocks_of(payload: dict) -> list[dict]:
    (attachment,) = payload["attachments"]
    return attachment["blocks"]


def sections(payload: dict) -> list[str]:
    return [b["text"]["text"] for b in blocks_of(payload) if b["type"] == "section"]


def texts(value) -> list[str]:
    """Every ``text`` string anywhere in the payload."""
    if isinstance(value, dict):
        return [
            t for k, v in value.items() for t in ([v] if k == "text" and isinstance(v, str) else texts(v))
        ]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def assert_within_limits(payload: dict) -> None:
    blocks = blocks_of(payload)
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER_CHARS
        elif block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
        else:
            assert all(len(e["text"]) <= MAX_SECTION_CHARS for e in block["elements"])


# --- escaping --------------------------------------------------------------------------------------------


def test_escape_mrkdwn_replaces_the_three_control_characters():
    assert escape_mrkdwn("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"
    assert escape_mrkdwn("<!channel> café 'x' \"y\"") == "&lt;!channel&gt; café 'x' \"y\""


def test_label_value_arrives_escaped():
    payload = slack_payload(notification([notice(service="<script>&")]), BERLIN)

    (text,) = sections(payload)
    assert "service=&lt;script&gt;&amp;" in text
    assert "<script>" not in json.dumps(payload)


def test_every_value_is_escaped():
    evil = "<!channel>&<@U123>"
    alert = notice(alertname=f"x{evil}", severity=f"info{evil}", annotations={"summary": evil, "description": evil},
                   host=evil, **{f"k{evil}": evil})  # fmt: skip
    payload = slack_payload(notification([alert], receiver=evil, group_labels={"g": evil}), BERLIN)

    for text in texts(payload):
        without_links = re.sub(r"<https?://[^<>|\s]+\|[a-z]+>", "", text)
        assert "<" not in without_links and ">" not in without_links, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", without_links), text


def test_truncation_never_splits_an_entity():
    for limit in range(5, 15):
        cut = truncate(escape_mrkdwn("&&&&&&&&"), limit)
        assert len(cut) <= limit and cut.endswith("…")
        assert re.fullmatch(r"(&amp;)*…", cut), cut


# --- shape, firing and resolved --------------------------------------------------------------------------


def test_firing_message():
    alerts = [
        notice(service="redis"),
        notice(alertname="cpu_high", severity="warning"),
        notice(service="ollama"),
    ]
    payload = slack_payload(notification(alerts), BERLIN)

    assert payload["text"].startswith("[FIRING:3] ")
    assert "service_down" in payload["text"] and "cpu_high" in payload["text"]
    assert payload["attachments"][0]["color"] == COLOR_BY_SEVERITY["critical"]
    header = blocks_of(payload)[0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert header["text"]["text"].startswith(":rotating_light: [FIRING:3]")
    assert all("*FIRING*" in s for s in sections(payload))
    assert_within_limits(payload)


def test_resolved_message_is_green_and_shows_the_end():
    ended = START + timedelta(minutes=65)
    payload = slack_payload(notification([notice("resolved", ended, service="redis")]), BERLIN)

    assert payload["text"].startswith("[RESOLVED:1] service_down")
    assert payload["attachments"][0]["color"] == COLOR_RESOLVED
    assert blocks_of(payload)[0]["text"]["text"].startswith(":white_check_mark: [RESOLVED:1]")
    (text,) = sections(payload)
    assert "*RESOLVED*" in text
    assert "*Started:* 2024-05-01 14:00:00 CEST" in text
    assert "*Ended:* 2024-05-01 15:05:00 CEST (after 1 h 05 min)" in text


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_colour_by_severity(severity):
    payload = slack_payload(notification([notice(severity=severity)]), BERLIN)

    assert payload["attachments"][0]["color"] == COLOR_BY_SEVERITY[severity]


def test_colour_is_the_most_severe_firing_alert_and_firing_comes_first():
    ended = START + timedelta(minutes=1)
    alerts = [notice("resolved", ended, severity="critical", service="a"), notice(severity="info", service="b"),
              notice(severity="warning", service="c")]  # fmt: skip
    payload = slack_payload(notification(alerts), BERLIN)

    assert payload["attachments"][0]["color"] == COLOR_BY_SEVERITY["warning"]
    assert payload["text"].startswith("[FIRING:2, RESOLVED:1]")
    assert [re.search(r"service=(\w)", s).group(1) for s in sections(payload)] == ["c", "b", "a"]


def test_section_has_the_alert_fields_and_other_labels_only():
    alert = notice(alertname="disk_high", severity="warning", annotations={"summary": "disk 93 %",
                   "description": "disk_percent 93 > 90 for 5m"}, host="web-1.example.com", mount="/")  # fmt: skip
    (text,) = sections(slack_payload(notification([alert]), BERLIN))

    assert "*disk_high* on *web-1.example.com*" in text and "warning" in text
    assert "*Summary:* disk 93 %" in text
    assert "*Description:* disk_percent 93 &gt; 90 for 5m" in text
    assert "*Labels:* mount=/" in text
    assert "alertname=" not in text and "severity=" not in text
    assert "*Started:* 2024-05-01 14:00:00 CEST" in text
    assert "Ended" not in text
    assert "<http://reporter.example.com:9464/alerts|source>" in text


# --- Slack's limits --------------------------------------------------------------------------------------


def test_fifty_alerts_fit_in_one_message_ending_and_n_more():
    payload = slack_payload(
        notification([notice(service=f"svc-{i:02d}.example.com") for i in range(50)]), BERLIN
    )

    assert_within_limits(payload)
    blocks = blocks_of(payload)
    shown = len(sections(payload))
    assert shown < 50
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"and {50 - shown} more"}],
    }
    assert payload["text"].startswith("[FIRING:50] service_down")


def test_and_n_more_counts_alerts_already_left_out():
    payload = slack_payload(
        notification([notice(service=f"svc-{i}") for i in range(50)], truncated=7), BERLIN
    )
    shown = len(sections(payload))

    assert blocks_of(payload)[-1]["elements"][0]["text"] == f"and {50 - shown + 7} more"
    assert_within_limits(payload)


def test_all_alerts_shown_when_they_fit():
    fits = MAX_BLOCKS - 2  # header and context
    payload = slack_payload(notification([notice(service=f"svc-{i}") for i in range(fits)]), BERLIN)

    assert len(sections(payload)) == fits
    assert len(blocks_of(payload)) == MAX_BLOCKS
    assert "more" not in blocks_of(payload)[-1].get("elements", [{}])[0].get("text", "")

    few = slack_payload(notification([notice(service="redis")], truncated=2), BERLIN)
    assert blocks_of(few)[-1]["elements"][0]["text"] == "and 2 more"


def test_huge_values_are_cut_to_the_limits():
    huge = "&" * 5000
    alerts = [notice(alertname="a" * 400, annotations={"summary": huge, "description": "x" * 10_000},
                     **{f"label{i}": "v" * 200 for i in range(40)}) for _ in range(50)]  # fmt: skip
    payload = slack_payload(notification(alerts, group_labels={"g": "<" * 5000}), BERLIN)

    assert_within_limits(payload)
    assert len(payload["text"]) <= 300
    assert blocks_of(payload)[0]["text"]["text"].endswith("…")
    text = sections(payload)[0]
    assert "…" in text and "*Started:*" in text  # the time line survives a long description


def test_naive_times_are_an_error():
    alert = notice()
    naive = AlertNotice(**{**alert.__dict__, "starts_at": datetime(2024, 5, 1, 12, 0)})

    with pytest.raises(ValueError):
        slack_payload(notification([naive]), BERLIN)


def test_host_is_named_in_the_title_and_each_section_not_among_the_labels():
    payload = slack_payload(notification([notice(service="redis", host="web-2"), notice(service="db", host="gpu-1"),
                                          notice(alertname="no_active_users", severity="warning")]), BERLIN)
    assert payload["text"] == "[FIRING:3] service_down on web-2, gpu-1, no_active_users"
    sections = [b["text"]["text"] for b in payload["attachments"][0]["blocks"] if b["type"] == "section"]
    assert sections[0].splitlines()[0].endswith("*service_down* on *web-2* · critical · *FIRING*")
    assert "*Labels:* service=redis" in sections[0] and "host=" not in sections[0]
    assert sections[2].splitlines()[0].endswith("*no_active_users* · warning · *FIRING*")


def test_a_slack_urls_token_path_is_a_secret_but_a_short_path_is_not():
    """The path of Slack's webhook URL is its token; a short path (a local test hook) would mask that word in
    every log line and answer if it were registered."""
    from reporter.alerting.config import Receiver
    from reporter.masking import mask, register_secrets

    real = Receiver(name="slack", type="slack", url="https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/zq81Kx")
    local = Receiver(name="local", type="slack", url="http://127.0.0.1:9/hook")
    register_secrets(real.secret_values() + local.secret_values())
    assert mask("posted to services/T0EXAMPLE/B0EXAMPLE/zq81Kx") == "posted to ***"
    assert mask("https://x/hook?a=1") == "https://x/hook?a=1"
