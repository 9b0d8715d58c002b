"""Alert state changes held in memory while the store cannot be written (a full disk), saved later in order.

The evaluator goes on when the history is not writable: each evaluation's changes are kept (copies, with their
own time) and saved, oldest first and before newer ones, by the next evaluation that can write. At most
``limit`` changes are kept; beyond, the oldest batches are dropped with one warning per outage.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from reporter.alerting.state import AlertRecord, AlertStore

log = logging.getLogger("reporter.alerting.evaluator")  # the evaluator's messages, as before this module

Changes = list[tuple[AlertRecord, str | None]]  # (record, event) of one evaluation


class HeldChanges:
    """Batches ``(changes, at)`` waiting for ``store``, oldest first; ``health`` (a HistoryHealth) hears of each
    failure and of the save that works again. True while a batch waits."""

    def __init__(self, store: AlertStore, health, limit: int) -> None:
        self.store, self.health, self.limit = store, health, limit
        self.batches: list[tuple[Changes, datetime]] = []
        self.count = self.dropped = 0

    def __bool__(self) -> bool:
        return bool(self.batches)

    def keep(self, changes: Changes, now: datetime, exc: BaseException | None = None) -> None:
        """Hold ``changes`` (copies: the live records change on) of the evaluation at ``now``; ``exc``: why the
        store could not be written (reported to ``health``)."""
        if exc is not None:
            self.health.failed("alert state", exc)
        self.batches.append(([(replace(r, labels=dict(r.labels), annotations=dict(r.annotations)), e)
                              for r, e in changes], now))
        self.count += len(changes)
        while self.count > self.limit and len(self.batches) > 1:
            dropped, at = self.batches.pop(0)
            self.count -= len(dropped)
            if not self.dropped:  # said once per outage
                log.warning("alerting: more than %d alert state changes wait for the store; dropping the oldest "
                            "(from %s on)", self.limit, at.isoformat(timespec="seconds"))
            self.dropped += len(dropped)

    def save(self) -> list[AlertRecord]:
        """Save every held batch, oldest first, in one transaction; returns their records ([] if it failed)."""
        try:
            self.store.save_batches(self.batches)
        except Exception as exc:
            self.health.failed("alert state", exc)
            return []
        batches, self.batches, self.count = self.batches, [], 0
        count = sum(len(changes) for changes, _ in batches)
        log.info("alerting: saved %d alert state change(s) held in memory since %s%s", count,
                 batches[0][1].isoformat(timespec="seconds"),
                 f" ({self.dropped} older ones were dropped)" if self.dropped else "")
        self.dropped = 0
        self.health.ok()
        return [record for changes, _ in batches for record, _ in changes]

    def without(self, fingerprints: set[str]) -> None:
        """Forget the held changes of these alerts (their rule is gone: saving them would bring them back)."""
        self.batches = [([(r, e) for r, e in changes if r.fingerprint not in fingerprints], at)
                        for changes, at in self.batches]
        self.count = sum(len(changes) for changes, _ in self.batches)

    def clear(self) -> None:
        """Forget every held change (the store's records are the truth again)."""
        self.batches, self.count, self.dropped = [], 0, 0
