"""The alerting path on a controlled clock for tests: an evaluator fed injected snapshots, the dispatcher and the
outbox delivering to real HTTP receivers on loopback."""

import asyncio
import time
from zoneinfo import ZoneInfo

import httpx

from reporter.alerting.config import Defaults, Receiver
from reporter.alerting.dispatch import Dispatcher
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.inhibition import DEFAULT_RULES
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertStore
from reporter.notify.outbox import Outbox
from reporter.notify.render import renderer
from tests.snapshots import FEATURES, at, snapshot

TZ = ZoneInfo("Europe/Berlin")


class Pipeline:
    """Evaluator + dispatcher + outbox; ``defaults`` as in the TOML's [defaults] (group wait and interval 0 unless
    given); ``inhibit_rules`` default to the built-in ones."""

    def __init__(self, history, receivers, inhibit_rules=DEFAULT_RULES, **defaults):
        defaults.setdefault("group_wait", 0)
        defaults.setdefault("group_interval", 0)
        defaults.setdefault("backoff_initial", 0.05)
        defaults.setdefault("backoff_max", 0.2)
        self.defaults = Defaults(**defaults)
        self.history = history
        self.receivers = receivers
        self.evaluator = Evaluator(build_rules({}, FEATURES), self.defaults, AlertStore(history.engine), history,
                                   TZ, FEATURES)
        self.dispatcher = Dispatcher(history.engine, receivers, self.defaults, renderer(TZ), "http://reporter.example.com",
                                     inhibit_rules)
        self.outbox = Outbox(history.engine, receivers, self.defaults)

    def feed(self, seconds, **values):
        for t in seconds:
            self.evaluator.evaluate(snapshot(t, **values))

    def dispatch(self, t):
        return self.dispatcher.dispatch(at(t))

    def deliver(self, rounds=1):
        async def go():
            async with httpx.AsyncClient() as client:
                for _ in range(rounds):
                    await self.outbox.deliver_due(client)
        asyncio.run(go())

    def deliver_until(self, done, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done():
            self.deliver()
            time.sleep(0.05)


def webhook(r, **kw):
    return Receiver(name=kw.pop("name", "ops"), type="webhook", url=r.url, **kw)
