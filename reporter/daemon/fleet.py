"""This node's place in the fleet at start: its leadership (elected on PostgreSQL, always on SQLite) and its
``hosts`` row (who holds its host name: pid, address, since when)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from reporter import __version__
from reporter.fleet.leader import Deposed, Elected, Leadership, SoloLeadership
from reporter.settings import Settings
from reporter.store.history import History
from reporter.store.hosts import HostRegistry


def node_leadership(settings: Settings, on_elected: Elected, on_deposed: Deposed) -> Leadership | SoloLeadership:
    """A fleet node's :class:`Leadership` (an agent never tries the leader lock), or a single host's
    :class:`SoloLeadership` (an agent on SQLite never leads either). Nothing is connected yet: ``start()``."""
    if settings.fleet:
        return Leadership(settings.history_url, settings.host_name, uuid.uuid4().hex, settings.leader_keepalive,
                          may_lead=settings.role == "node", on_elected=on_elected, on_deposed=on_deposed,
                          reconnect_seconds=min(5.0, settings.sample_interval),
                          wait_seconds=min(1.0, settings.sample_interval / 2),
                          idle_seconds=frozen_after(settings))
    return SoloLeadership(on_elected, on_deposed, leads=settings.role == "node")


def frozen_after(settings: Settings) -> float:
    """Seconds without a tick after which PostgreSQL ends a node's lock session (the node is frozen or hung, its
    locks are freed): three sample intervals (a tick comes once per sample) plus REPORTER_LEADER_KEEPALIVE."""
    return 3 * settings.sample_interval + settings.leader_keepalive


def register(history: History, settings: Settings, node_id: str, address: str) -> None:
    """Record this node in its ``hosts`` row at start (role, version, pid, address, started and seen now): what a
    second node with the same host name is told about the holder, and what ``/api/v1/hosts`` lists. The history
    keeps it, to record it again should the row be deleted while the node runs (``reporter hosts forget``)."""
    history.registration = HostRegistry(history.engine).register(
        settings.host_name, node_id, settings.role, __version__[:32], os.getpid(), address[:255], datetime.now(UTC))
