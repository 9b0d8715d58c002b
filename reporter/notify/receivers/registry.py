"""The receiver types by name: the one list of them (``type = "..."`` in a ``[[receivers]]`` table).

Each type is one line, ``name: "module:Class"``, imported when a receiver of that type is configured (a daemon
without email receivers never loads smtplib). Adding a type: write its module (a
:class:`reporter.notify.receivers.base.ReceiverType` subclass) and add its line here.
"""

from __future__ import annotations

from importlib import import_module

from reporter.notify.receivers.base import ReceiverType

TYPES: dict[str, str | type[ReceiverType]] = {
    "apprise": "reporter.notify.receivers.apprise:AppriseReceiver",
    "email": "reporter.notify.receivers.email:EmailReceiver",
    "slack": "reporter.notify.receivers.slack:SlackReceiver",
    "webhook": "reporter.notify.receivers.webhook:WebhookReceiver",
}


def known_types() -> list[str]:
    """The type names, sorted."""
    return sorted(TYPES)


def receiver_type(name: str) -> type[ReceiverType]:
    """The class of type ``name``. Raises ValueError naming the known types when there is none."""
    entry = TYPES.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"unknown receiver type {name!r}; known types: {', '.join(known_types())}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = TYPES[name] = getattr(import_module(module), attr)
    return entry


def register(cls: type[ReceiverType]) -> type[ReceiverType]:
    """Add (or replace) a type under ``cls.type`` (usable as a class decorator; tests add their own types)."""
    TYPES[cls.type] = cls
    return cls


def unregister(name: str) -> None:
    """Remove type ``name`` (tests that registered their own)."""
    TYPES.pop(name, None)
