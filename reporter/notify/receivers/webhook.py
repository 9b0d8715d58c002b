"""``type = "webhook"``: the Alertmanager webhook payload (version 4), signed as Standard Webhooks
(``reporter.notify.webhook``).

Fields: ``url``; ``secret`` (optional, ``whsec_<base64>`` or raw; a secret) signs each attempt.

The ``webhook_summary.txt.j2`` and ``webhook_description.txt.j2`` templates (``reporter.notify.templates``)
replace each alert's ``summary`` and ``description`` annotations in the payload (``commonAnnotations`` follows);
an alert whose template fails keeps its own.
"""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

from pydantic import field_validator

from reporter.notify.notification import AlertNotice, Notification
from reporter.notify.receivers.http import HTTPOptions, HTTPReceiverType
from reporter.notify.webhook import alertmanager_payload, encode_body, secret_key, signed_headers

ANNOTATION_TEMPLATES = {"summary": "webhook_summary.txt.j2", "description": "webhook_description.txt.j2"}


class WebhookOptions(HTTPOptions):
    """``secret``: the signing secret (None: requests are not signed)."""

    secret: str | None = None

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value:
            secret_key(value)  # raises ValueError (without the secret) when a whsec_ secret is not base64
        return value or None


class WebhookReceiver(HTTPReceiverType):
    """POSTs the Alertmanager payload (at most ``max_alerts`` alerts when > 0) with ``webhook-id``,
    ``webhook-timestamp`` and, with a secret, ``webhook-signature`` headers."""

    type = "webhook"
    Options = WebhookOptions
    options: WebhookOptions
    secret_fields = ("secret",)

    def headers(self, notification_id: str, body: bytes) -> dict[str, str]:
        return signed_headers(self.options.secret, notification_id, body)

    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        if self.templates is not None and any(self.templates.has(name) for name in ANNOTATION_TEMPLATES.values()):
            notification = dataclasses.replace(notification,
                                               alerts=[self._annotated(notification, a) for a in notification.alerts])
        return encode_body(alertmanager_payload(notification, max_alerts))

    def _annotated(self, notification: Notification, alert: AlertNotice) -> AlertNotice:
        """``alert`` with its annotations rendered by the templates that render (the others kept)."""
        assert self.templates is not None
        annotations = dict(alert.annotations)
        for key, name in ANNOTATION_TEMPLATES.items():
            text = self.templates.render(name, notification, alert)
            if text is not None:
                annotations[key] = text.strip()
        return dataclasses.replace(alert, annotations=annotations)
