"""``receiver_failing``: one alert per configured receiver that fails permanently, told to the other receivers.

The value of a ``kind = "receiver_failing"`` rule for a receiver is its permanent failures since its last
delivered notification (``receiver.failures``), read from the outbox (:mod:`reporter.notify.health`, where
"failing" is defined): the condition holds when the newest answer says the receiver's URL or token is invalid or
revoked (HTTP 401/403/404/410), or when the value passes the rule's threshold (``>= 3``: three notifications in a
row failed permanently). Retried answers (408, 429, 5xx, timeouts) never count. The alert resolves when a
notification to the receiver is delivered again (``reporter test-alert --receiver NAME`` after fixing it), or
when the receiver is removed from the configuration.

Each alert is labelled ``receiver=<name>`` (app-wide: no ``host``), and an alert whose ``receiver`` label names a
receiver is never routed to that receiver (:meth:`reporter.alerting.config.Receiver.accepts`): a receiver is not
told that it fails, so a failing receiver cannot feed itself notifications.

The outbox is read again when this process recorded a delivery attempt since the last read (``changes``, the
outbox's ``recorded`` count) or ``refresh_seconds`` (60) passed (attempts of another process, such as
``reporter test-alert``); two indexed queries per receiver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.engine import Engine

from reporter.alerting.rules import Rule, compare
from reporter.base.errors import one_line
from reporter.failures import FailureLog
from reporter.notify.health import ReceiverHealth, read_health

log = logging.getLogger(__name__)

RECEIVER_LABEL = "receiver"
REFRESH_SECONDS = 60.0
MAX_COUNTED = 100  # permanent failures counted at most (the value stops there)


class Watched(Protocol):
    """A configured receiver as the watch sees it (``reporter.alerting.config.Receiver``): its name and its
    type (``kind``), whose ``revoked_statuses`` are the answers that make it failing at once."""

    name: str

    @property
    def kind(self): ...


class ReceiverWatch:
    """The health of the configured receivers, from the outbox of ``engine``, cached until ``changes()`` (a
    number that grows with every attempt this process records) changes or ``refresh_seconds`` pass on
    ``clock`` (monotonic seconds). Used by the evaluator (the sampling thread); :meth:`configure` (a reload)
    runs under the same lock as evaluations."""

    def __init__(self, engine: Engine, receivers: Sequence[Watched], changes: Callable[[], int] = lambda: 0,
                 refresh_seconds: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.changes, self.refresh_seconds, self.clock = engine, changes, refresh_seconds, clock
        self.failures = FailureLog(log)
        self.revoked: dict[str, frozenset[int]] = {}
        self._cache: tuple[tuple[int, int], float, dict[str, ReceiverHealth]] | None = None
        self.configure(receivers)

    def configure(self, receivers: Sequence[Watched]) -> None:
        """Watch these receivers from now on (at start and on a reload)."""
        self.revoked = {r.name: frozenset(r.kind.revoked_statuses) for r in receivers}
        self._cache = None

    @property
    def names(self) -> set[str]:
        """The watched receivers' names."""
        return set(self.revoked)

    def health(self, limit: int) -> dict[str, ReceiverHealth] | None:
        """Each watched receiver's health, counting up to ``limit`` failures; None (logged once, and once when it
        works again) when the history cannot be read."""
        key = (self.changes(), limit)
        cached = self._cache
        if cached is not None and cached[0] == key and self.clock() - cached[1] < self.refresh_seconds:
            return cached[2]
        try:
            value = read_health(self.engine, self.revoked, limit)
        except Exception as exc:
            self.failures.failed("receiver health", f"alerting: cannot read the receivers' deliveries "
                                 f"({one_line(exc)}); receiver_failing alerts keep their state")
            return None
        self.failures.ok("receiver health")
        self._cache = (key, self.clock(), value)
        return value


def failing_instances(rule: Rule, watch: ReceiverWatch | None
                      ) -> list[tuple[str, float, bool, dict[str, str]]] | None:
    """``rule``'s value for every watched receiver: ``[(receiver, value, condition, template fields), ...]``;
    None when the outbox cannot be read (nothing starts or resolves), [] without a watch."""
    if watch is None:
        return []
    limit = max(1, min(MAX_COUNTED, int(rule.threshold) + 1))
    health = watch.health(limit)
    if health is None:
        return None
    out = []
    for name in sorted(health):
        h = health[name]
        value = float(h.failures)
        condition = h.failures > 0 and (h.revoked or compare(rule.op, value, rule.threshold))
        fields = {"status_code": "-" if h.status_code is None else str(h.status_code), "error": h.error or "-",
                  "response": h.response or "-"}
        out.append((name, value, condition, fields))
    return out


def about_itself(receiver: str, labels: dict[str, str]) -> bool:
    """True when an alert with ``labels`` is about ``receiver`` itself (its ``receiver`` label names it): such an
    alert is never routed to it."""
    return labels.get(RECEIVER_LABEL) == receiver
