"""What every receiver type is: its configuration fields, its secrets, the request it builds for a notification
and how it classifies the answer.

A receiver type (Slack, webhook, email, ...) is one subclass of :class:`ReceiverType`, listed in
``reporter.notify.receivers.registry``. The outbox and the notifier only call :meth:`ReceiverType.send` (through
the configured receiver) and read the :class:`Attempt` it returns; they know no type.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from reporter.base.ms import elapsed_ms
from reporter.masking import url_secrets
from reporter.notify.notification import Notification
from reporter.notify.retry import DELIVERED, FAILED, RETRY

if TYPE_CHECKING:
    from reporter.notify.templates import TemplateSet
    from reporter.settings import Settings

__all__ = ["DELIVERED", "FAILED", "RETRY", "Attempt", "ReceiverOptions", "ReceiverType", "elapsed_ms"]


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt gave.

    ``outcome``: ``delivered``, ``retry`` (temporary: tried again with backoff until ``max_age``) or ``failed``
    (permanent, with the reason in ``error``); ``status_code``: the answer's code (HTTP status, SMTP reply code;
    None when there was no answer); ``error``: one line without secrets (None when delivered); ``response``: the
    start of the answer kept for inspection; ``retry_after``: seconds the receiver asked to wait (None when it did
    not); ``duration_ms``: the attempt's duration in milliseconds.
    """

    outcome: str
    status_code: int | None
    error: str | None
    response: str | None
    retry_after: float | None
    duration_ms: float


class ReceiverOptions(BaseModel):
    """Base of a receiver type's own configuration fields (the keys of its ``[[receivers]]`` table besides the
    common ones: name, type, routing, timing). Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ReceiverType(ABC):
    """One receiver type. Subclasses set:

    - ``type``: the name written in ``type = "..."``;
    - ``Options``: a pydantic model of its own fields (validated with ``extra="forbid"``; a bad field is reported as
      ``<file>: receivers[i] (name).<field>: <reason>``);
    - ``secret_fields``: the names of those fields whose values are secrets (masked everywhere once configured);
    - ``revoked_statuses``: the answer codes of a permanent failure that say the receiver itself is unusable (its
      URL or token invalid or revoked), so that one such answer makes it failing (:mod:`reporter.notify.health`).

    An instance is made per configured receiver with its validated options, the process settings (None in
    tests that build receivers directly) and the notification templates of the alerting file (``templates``,
    ``reporter.notify.templates``; None: every text is built in); the constructor raises ValueError (one line)
    when a setting the type needs is missing, so that the daemon refuses to start (exit 2).
    """

    type: ClassVar[str]
    Options: ClassVar[builtins.type[ReceiverOptions]] = ReceiverOptions
    secret_fields: ClassVar[tuple[str, ...]] = ()
    revoked_statuses: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, options: ReceiverOptions, settings: Settings | None = None,
                 templates: TemplateSet | None = None) -> None:
        self.options, self.settings, self.templates = options, settings, templates

    def text(self, template: str, notification: Notification) -> str | None:
        """The text of ``template`` (a file name of ``reporter.notify.templates.KNOWN``) for ``notification``, or
        None when it is not overridden or fails to render (then the type sends its built-in text)."""
        return None if self.templates is None else self.templates.render(template, notification)

    def secrets(self) -> list[str]:
        """The values never to show: every field named in ``secret_fields`` (each item of a list field), and the
        password and secret query parameters of a field named ``url``."""
        values: list[str] = []
        for name in self.secret_fields:
            value: Any = getattr(self.options, name, None)
            values += [str(v) for v in value] if isinstance(value, (list, tuple)) else [value] if value else []
        return values + url_secrets(getattr(self.options, "url", None))

    @abstractmethod
    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        """The body stored in the outbox for ``notification`` (rendered once; every attempt sends these bytes).
        ``tz``: the configured timezone for times shown to people; ``max_alerts`` > 0: at most that many alerts
        (the type may ignore it when it has its own limit)."""

    @abstractmethod
    async def send(self, client: Any, notification_id: str, body: bytes, timeout: float) -> Attempt:
        """One attempt to deliver ``body`` within ``timeout`` seconds overall; never raises for a failed attempt
        (the answer is classified in the returned :class:`Attempt`). ``client`` is the notifier's shared
        ``httpx.AsyncClient`` (types that do not speak HTTP ignore it); ``notification_id`` is stable across
        retries."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (other.options, other.templates) == (self.options, self.templates)

    __hash__ = None  # type: ignore[assignment]  # equal by options, which may hold lists
