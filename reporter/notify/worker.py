"""The notifier thread: dispatch due alerts to the outbox and deliver it, apart from sampling.

It runs its own asyncio loop; the sampler wakes it after each evaluation, and it ticks once a second for
group waits, repeats and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime

from reporter.alerting.dispatch import Dispatcher
from reporter.notify.outbox import Outbox

log = logging.getLogger(__name__)


def _client(needed: bool):
    """An httpx AsyncClient when there are receivers; else a stand-in (the daemon then never imports httpx)."""
    if not needed:
        return contextlib.nullcontext(None)
    import httpx

    limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
    return httpx.AsyncClient(limits=limits, follow_redirects=False)


class NotifierThread(threading.Thread):
    """Background thread; ``wake()`` from any thread, ``stop()`` to end it (after the current attempt)."""

    def __init__(self, dispatcher: Dispatcher, outbox: Outbox, tick_seconds: float = 1.0,
                 idle_seconds: float = 10.0) -> None:
        super().__init__(name="notifier", daemon=True)
        self.dispatcher, self.outbox = dispatcher, outbox
        self.tick_seconds, self.idle_seconds = tick_seconds, idle_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._ready = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        async with _client(bool(self.outbox.receivers)) as client:
            while not self._stopping:
                sleep = self.tick_seconds
                try:
                    self.dispatcher.dispatch(datetime.now(UTC))
                    await self.outbox.deliver_due(client)
                    # nothing held by a group wait and nothing queued: wake less often (the sampler wakes us
                    # on every alert state change; repeats and expiring silences are noticed within idle_seconds)
                    if not self.dispatcher.waiting and self.outbox.next_due() is None:
                        sleep = self.idle_seconds
                except Exception:  # the notifier must survive anything and say so
                    log.exception("notifier: a pass failed; retrying in %g s", self.tick_seconds)
                try:
                    await asyncio.wait_for(self._event.wait(), sleep)
                except TimeoutError:
                    pass
                self._event.clear()

    def wake(self) -> None:
        """Run a pass now (called by the sampler after an evaluation that changed alert states)."""
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop after the current pass; waits at most ``timeout`` seconds (undelivered rows stay queued)."""
        self._stopping = True
        self.wake()
        self.join(timeout)

    def start(self) -> None:
        super().start()
        self._ready.wait(5)
