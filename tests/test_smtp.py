"""The SMTP transport against a server that drips its greeting one byte a second: every socket read returns
within the per-operation timeout, so only the overall deadline (or a cancel) ends the send."""

from __future__ import annotations

import threading
import time

import pytest

from reporter.smtp import SMTPSendError, SMTPServer, send_message
from tests.dripping_server import DrippingServer


def send_in_thread(server: SMTPServer, cancel: threading.Event | None = None) -> dict:
    """Send a small message in a thread (a send that never ends must not hang the test); the outcome dict gets
    ``error`` and ``seconds`` once it ends."""
    outcome: dict = {}

    def run() -> None:
        started = time.monotonic()
        try:
            send_message(server, b"Subject: x\r\n\r\nbody\r\n", "reporter@example.com", ["oncall@example.com"],
                         cancel=cancel)
        except SMTPSendError as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    outcome["thread"] = threading.Thread(target=run, daemon=True)
    outcome["thread"].start()
    return outcome


@pytest.fixture
def dripping():
    server = DrippingServer()
    yield server
    server.close()


def test_a_server_answering_a_byte_a_second_is_cut_at_the_overall_deadline(dripping):
    outcome = send_in_thread(SMTPServer("127.0.0.1", dripping.port, "none", timeout=2, deadline=3))
    outcome["thread"].join(10)
    assert not outcome["thread"].is_alive(), "the send never ended"
    error = outcome["error"]
    assert "no answer within 3 s" in str(error) and not error.permanent and error.code is None
    assert 2.5 < outcome["seconds"] < 5


def test_a_cancel_ends_a_send_in_progress_at_once(dripping):
    cancel = threading.Event()
    outcome = send_in_thread(SMTPServer("127.0.0.1", dripping.port, "none", timeout=30), cancel)
    time.sleep(1)
    cancel.set()
    outcome["thread"].join(5)
    assert not outcome["thread"].is_alive(), "the cancelled send went on"
    assert "the daemon is stopping" in str(outcome["error"]) and outcome["seconds"] < 2
