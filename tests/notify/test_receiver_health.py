"""Receiver health: Slack's ``invalid_blocks`` answer gets one plain-text retry of the same notification."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from reporter.alerting.config import Defaults, Receiver
from reporter.notify.outbox import Outbox
from reporter.store.alert_schema import delivery_attempts
from tests.receiver import Receiver as HTTPReceiver

BLOCKS = {"text": "[FIRING:1] service_down <host> & co",
          "attachments": [{"color": "#d00000", "blocks": [{"type": "header"}]}]}


def deliver(history, receiver: HTTPReceiver, notification_id: str) -> tuple[Outbox, str | None]:
    box = Outbox(history.engine, [Receiver(name="ops-slack", type="slack", url=receiver.url)], Defaults())
    box.enqueue(notification_id, "ops-slack", json.dumps(BLOCKS).encode(), 1, datetime.now(UTC))

    async def go():
        async with httpx.AsyncClient() as client:
            return await box.deliver_next(client, "ops-slack")

    return box, asyncio.run(go())


def test_slack_invalid_blocks_is_retried_once_as_plain_text_under_the_same_id(history):
    slack = HTTPReceiver()
    try:
        slack.script = [(400, {}, b"invalid_blocks")]
        box, outcome = deliver(history, slack, "msg_blocks")
        assert outcome == "delivered"
        assert [json.loads(body) for body in slack.refused] == [BLOCKS]  # the Block Kit body first
        assert [r.json() for r in slack.received] == [{"text": BLOCKS["text"]}]  # then the text only, once
        assert box.status("msg_blocks")["status"] == "delivered"
        with history.engine.connect() as conn:
            rows = conn.execute(select(delivery_attempts.c.notification_id, delivery_attempts.c.outcome)).all()
        assert rows == [("msg_blocks", "delivered")]  # one attempt of one notification, same id
    finally:
        slack.stop()


def test_slack_plain_text_retry_happens_once_only(history):
    """Rejected again (or another 400), the notification fails permanently after exactly two requests."""
    slack = HTTPReceiver()
    try:
        slack.script = [(400, {}, b"invalid_blocks"), (400, {}, b"invalid_blocks")]
        box, outcome = deliver(history, slack, "msg_twice")
        assert outcome == "failed" and len(slack.refused) == 2 and not slack.received
        assert "plain-text retry" in box.status("msg_twice")["last_error"]
        other = HTTPReceiver()
        other.script = [(400, {}, b"no_text")]
        try:
            _, outcome = deliver(history, other, "msg_other")
            assert outcome == "failed" and len(other.refused) == 1  # only invalid_blocks is retried
        finally:
            other.stop()
    finally:
        slack.stop()
