"""Generic JSON webhook: the Alertmanager webhook payload (version "4"), signed per Standard Webhooks.

Payload, as Alertmanager's webhook integration sends it (so any Alertmanager webhook consumer works)::

    {
      "version": "4",
      "groupKey": "{}/{receiver=\\"ops\\"}:{alertname=\\"service_down\\"}",
      "truncatedAlerts": 0,
      "status": "firing",                      # "firing" when any alert fires, else "resolved"
      "receiver": "ops",
      "groupLabels": {"alertname": "service_down"},
      "commonLabels": {...},                   # label pairs shared by every alert in the payload
      "commonAnnotations": {...},              # annotation pairs shared by every alert in the payload
      "externalURL": "http://reporter.example.com:9464",
      "alerts": [{
        "status": "firing",
        "labels": {...}, "annotations": {...},
        "startsAt": "2024-05-01T12:00:00Z",    # RFC 3339, UTC, "Z"; fractions of a second when non-zero
        "endsAt": "0001-01-01T00:00:00Z",      # Go's zero time while firing, as Alertmanager sends it
        "generatorURL": "...", "fingerprint": "0123456789abcdef",
        "acknowledged": {"by": "ann", "at": "2024-05-01T12:05:00Z", "comment": "on it"}   # only when acknowledged
      }]                                       #   (reporter's addition; Alertmanager has no acknowledgement)
    }

Signing (https://www.standardwebhooks.com): ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``"{webhook-id}.{webhook-timestamp}."`` followed by the exact body bytes. Serialise the payload once (for
example with :func:`encode_body`), sign those bytes and send those same bytes; re-serialising after signing
breaks the signature. Keep ``webhook-id`` (the notification id) the same on every retry; the timestamp is the
time of each attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from reporter.notify.notification import AlertNotice, Notification

PAYLOAD_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"
SECRET_PREFIX = "whsec_"


def alertmanager_payload(notification: Notification, max_alerts: int = 0) -> dict:
    """The Alertmanager webhook payload (version "4") for ``notification``.

    ``max_alerts`` > 0 keeps the first ``max_alerts`` alerts (as Alertmanager's ``max_alerts``);
    ``truncatedAlerts`` counts the alerts left out here plus ``notification.truncated``. ``commonLabels`` and
    ``commonAnnotations`` are computed over the alerts kept, as Alertmanager does; ``status`` is the
    notification's (firing when any of its alerts fires).
    """
    alerts = notification.alerts
    if max_alerts > 0:
        alerts = alerts[:max_alerts]
    truncated = len(notification.alerts) - len(alerts) + notification.truncated
    return {
        "version": PAYLOAD_VERSION,
        "groupKey": group_key(notification.receiver, notification.group_labels),
        "truncatedAlerts": truncated,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(sorted(notification.group_labels.items())),
        "commonLabels": common_pairs([a.labels for a in alerts]),
        "commonAnnotations": common_pairs([a.annotations for a in alerts]),
        "externalURL": notification.external_url,
        "alerts": [_alert(a) for a in alerts],
    }


def group_key(receiver: str, group_labels: dict[str, str]) -> str:
    """Alertmanager's ``<route key>:<group labels>``, each receiver being one route below the root.

    For receiver ``ops`` grouped by ``alertname``: ``{}/{receiver="ops"}:{alertname="service_down"}``;
    label sets are written as Go's ``LabelSet.String()`` (sorted, ``name="value"`` joined by ", ").
    """
    return f"{{}}/{_label_set({'receiver': receiver})}:{_label_set(group_labels)}"


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with ``Z`` (``2024-05-01T12:00:00Z``, ``...:00.25Z``); naive is an error."""
    if moment.tzinfo is None:
        raise ValueError("alert times must be timezone-aware (UTC)")
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def encode_body(payload: dict) -> bytes:
    """The bytes to sign and send: compact JSON, UTF-8 (non-ASCII escaped, so the bytes are plain ASCII)."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value ``v1,<base64 HMAC-SHA256>`` for one delivery.

    ``secret`` is ``whsec_<base64 key>`` (the key is the decoded part after the prefix, padding optional), or
    a raw secret without the prefix, whose UTF-8 bytes are the key (a verifier built on the
    ``standardwebhooks`` library must then be given those bytes, not the string). ``timestamp`` is in
    seconds since the epoch. Raises ValueError for an empty or undecodable secret (the message never
    contains the secret).
    """
    key = secret_key(secret)
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    secret: str | None, msg_id: str, body: bytes, now: datetime | float | None = None
) -> dict[str, str]:
    """Headers for one delivery attempt of ``body``: ``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature`` (left out when ``secret`` is None) and ``content-type: application/json``.

    ``now`` (an aware datetime or seconds since the epoch; default: the current time) gives the timestamp.
    """
    if now is None:
        timestamp = int(time.time())
    elif isinstance(now, datetime):
        timestamp = int(now.timestamp())
    else:
        timestamp = int(now)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret is not None:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    headers["content-type"] = "application/json"
    return headers


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` or raw secret (see :func:`sign`)."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"webhook secret: the part after {SECRET_PREFIX!r} is not base64") from None
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _alert(alert: AlertNotice) -> dict:
    ends_at = alert.ends_at if alert.status == "resolved" else None
    item: dict = {
        "status": alert.status,
        "labels": dict(sorted(alert.labels.items())),
        "annotations": dict(sorted(alert.annotations.items())),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at) if ends_at is not None else ZERO_TIME,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }
    if alert.acknowledged_by:
        at = rfc3339(alert.acknowledged_at) if alert.acknowledged_at is not None else None
        item["acknowledged"] = {"by": alert.acknowledged_by, "at": at, "comment": alert.ack_comment}
    return item


def common_pairs(pairs: list[dict[str, str]]) -> dict[str, str]:
    """The name/value pairs present, with the same value, in every mapping (empty for no mappings)."""
    if not pairs:
        return {}
    common = dict(pairs[0])
    for other in pairs[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return dict(sorted(common.items()))


def _label_set(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={_go_quote(v)}" for k, v in sorted(labels.items())) + "}"


_GO_ESCAPES = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
    '"': r"\"",
    "\\": r"\\",
}


def _go_quote(value: str) -> str:
    """``value`` quoted as Go's ``%q`` does for printable text (escapes for quotes, backslash, controls)."""
    out = []
    for ch in value:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
