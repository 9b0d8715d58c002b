"""The notifier thread: dispatch due alerts to the outbox and deliver it, apart from sampling.

It runs its own asyncio loop. The main task dispatches: the sampler wakes it after each evaluation, and it
ticks once a second while a group wait holds alerts. Delivery runs in one task per receiver (a courier) that
drains that receiver's queue in order and sleeps until its next retry or until the dispatcher wakes it, so a
receiver that is down or answers slowly delays only its own notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime
from typing import Protocol

from reporter.failures import FailureLog
from reporter.notify.outbox import Outbox
from reporter.store.health import HistoryHealth, describe, is_store_error

log = logging.getLogger(__name__)


class Dispatching(Protocol):
    """What decides what to send and when (``reporter.alerting.dispatch.Dispatcher``): ``dispatch(now)`` writes
    due notifications to the outbox and returns their ids; ``waiting`` counts alerts held by a group wait."""

    waiting: int

    def dispatch(self, now: datetime) -> list[str]: ...


def _client():
    """The httpx AsyncClient, made once there is a receiver (a daemon without one never imports httpx)."""
    import httpx

    # no cap on connections: each receiver's courier has at most one request in flight, and a shared cap would
    # let slow receivers hold every connection and queue a healthy receiver's request behind theirs
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=10)
    # no client-wide timeout (httpx's default is 5 s): each attempt is bounded by its receiver's own timeout
    return httpx.AsyncClient(limits=limits, follow_redirects=False, timeout=None)


class _Courier:
    """Delivers one receiver's queue: drain, then sleep until the head's retry time or a wake-up."""

    def __init__(self, name: str, outbox: Outbox, client, idle_seconds: float, stopping,
                 failed=None, ok=None) -> None:
        self.name, self.outbox, self.client = name, outbox, client
        self.idle_seconds, self.stopping = idle_seconds, stopping
        self.failed, self.ok = failed or (lambda source, exc: None), ok or (lambda source: None)
        self.event = asyncio.Event()
        self.task = asyncio.create_task(self.run(), name=f"courier-{name}")

    async def run(self) -> None:
        source = f"notifier: delivery to {self.name}"
        while not self.stopping():
            self.event.clear()
            try:
                await self.outbox.drain(self.client, self.name, self.stopping)
                due = self.outbox.next_due(self.name)
                self.ok(source)
            except Exception as exc:  # a courier must survive anything and say so (once, then every 5 minutes)
                self.failed(source, exc)
                due = None
            if due is None:
                sleep = self.idle_seconds
            else:
                sleep = min(self.idle_seconds, max(0.05, (due - self.outbox.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), sleep)


class NotifierThread(threading.Thread):
    """Background thread; ``wake()`` from any thread, ``stop()`` to end it (after the current attempts).

    A failing pass (or courier) is retried; the failure is logged once (a history failure through ``health``,
    the history's :class:`reporter.store.health.HistoryHealth`), reminded every 5 minutes and logged once when
    it works again, never with a traceback per tick.
    """

    def __init__(self, dispatcher: Dispatching, outbox: Outbox, tick_seconds: float = 1.0,
                 idle_seconds: float = 10.0, health: HistoryHealth | None = None) -> None:
        super().__init__(name="notifier", daemon=True)
        self.dispatcher, self.outbox, self.health = dispatcher, outbox, health
        self.failures = FailureLog(log, level=logging.ERROR)
        self.tick_seconds, self.idle_seconds = tick_seconds, idle_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._ready = threading.Event()
        self._couriers: dict[str, _Courier] = {}

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        async with contextlib.AsyncExitStack() as stack:
            client = None
            try:
                while not self._stopping:
                    self._event.clear()
                    sleep = self.tick_seconds
                    try:
                        if client is None and self.outbox.receivers:  # at start, or a reload added the first one
                            client = await stack.enter_async_context(_client())
                        self._sync_couriers(client)
                        if self.dispatcher.dispatch(datetime.now(UTC)):
                            for courier in self._couriers.values():
                                courier.event.set()
                        # nothing held by a group wait: wake less often (the sampler wakes us on every alert
                        # state change; repeats and expiring silences are noticed within idle_seconds)
                        if not self.dispatcher.waiting:
                            sleep = self.idle_seconds
                    except Exception as exc:  # the notifier must survive anything and say so (once, not every tick)
                        self._failed("notifier: a pass", exc)
                    else:
                        self.failures.ok("notifier: a pass")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._event.wait(), sleep)
            finally:
                await self._stop_couriers()

    def _sync_couriers(self, client) -> None:
        """One courier per configured receiver (receivers may change while running)."""
        for name in self.outbox.receivers.keys() - self._couriers.keys():
            self._couriers[name] = _Courier(name, self.outbox, client, self.idle_seconds, self._courier_stopping,
                                            self._failed, self.failures.ok)
        for name in self._couriers.keys() - self.outbox.receivers.keys():
            self._couriers.pop(name).task.cancel()

    def _failed(self, source: str, exc: Exception) -> None:
        if self.health is not None and is_store_error(exc):
            self.health.failed("notifier", exc)
            return
        self.failures.failed(source, f"failed ({describe(exc)}); retrying", exc_info=exc)

    def _courier_stopping(self) -> bool:
        return self._stopping

    async def _stop_couriers(self, grace: float = 2.0) -> None:
        """Let couriers finish their current attempt for up to ``grace`` seconds, then cut them short (a cut
        attempt's row is released and sent again on the next start)."""
        tasks = [c.task for c in self._couriers.values()]
        for courier in self._couriers.values():
            courier.event.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._couriers.clear()

    def wake(self) -> None:
        """Run a pass now (called by the sampler after an evaluation that changed alert states)."""
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop after the current attempts; waits at most ``timeout`` seconds (undelivered rows stay queued)."""
        self._stopping = True
        self.wake()
        self.join(timeout)

    def start(self) -> None:
        super().start()
        self._ready.wait(5)
