"""The alerting configuration: timing defaults, rules and receivers, from the TOML file and the environment.

File (``REPORTER_ALERTING_FILE``, optional)::

    [defaults]
    group_by = ["alertname"]    # alerts with the same values of these labels go out together (["..."]: all labels)
    group_wait = "10s"          # a new group waits this long for more alerts before its first notification
    group_interval = "1m"       # changes to an already notified group wait this long after its last notification
    repeat_interval = "4h"      # resend a group whose alerts still fire, unchanged, this often
    default_inhibit_rules = true  # the built-in inhibition rules (a down service mutes what it causes)
    no_data_for = "10m"         # a rule whose value is missing this long raises a no_data alert
    max_age = "24h"             # retry a failed delivery for this long
    backoff_max = "60s"         # longest wait between two attempts of a delivery (also per receiver)
    for_outage_tolerance = "30s"  # a longer gap in sampling restarts pending `for` windows (default: 3 sample
                                  # intervals, at least 10s; less than 2 intervals is refused)

    [rules.cpu_high]            # override a default rule (any field), or define a new one
    threshold = 95

    [rules.memory_high]
    enabled = false

    [rules.receiver_failing]    # a receiver failing permanently alerts the others (threshold: failures in a row)
    severity = "critical"       # (default warning; enabled = false turns it off)

    [[receivers]]
    name = "oncall"
    type = "slack"              # a type of reporter.notify.receivers.registry: slack, webhook, email
    url = "https://hooks.slack.com/services/T000/B000/XXXX"   # the type's own fields: url (slack), url and
                                                             # secret (webhook), to = ["a@example.com"] (email)
    match = { severity = "critical" }                      # labels equal to these values (exactly)
    # matchers = ['severity=~"critical|warning"', "service!=redis"]   # Alertmanager matchers: =, !=, =~, !~
    # match_re = { service = "redis|database" }             # fully anchored regular expressions
    timeout = "10s"             # overall deadline of one attempt (at most 120 s)
    backoff_max = "30s"         # this receiver's own cap on the wait between attempts
    group_by = ["alertname", "host"]   # also group_wait, group_interval, repeat_interval, send_resolved
    mute_time_intervals = ["weekend-maintenance"]   # no notification while one of these is active
    # active_time_intervals = ["business-hours"]    # notifications only while one of these is active
    escalate_after = "30m"      # an alert still firing and not acknowledged this long after it fired ...
    escalate_to = "pager"       # ... goes once per episode to this receiver (both or neither; another receiver)

    [[inhibit_rules]]           # Alertmanager's inhibition: a firing source mutes matching targets
    source_matchers = ['alertname="service_down"', 'service="ollama"']
    target_matchers = ['alertname=~"model_unavailable|ai_.*"']
    equal = ["host"]            # labels whose values must be equal on source and target

    [templates]
    dir = "templates"           # Jinja2 templates replacing built-in texts (relative: to this file's folder):
                                # slack.txt.j2, email_subject.txt.j2, email_body.txt.j2, email_body.html.j2,
                                # webhook_summary.txt.j2, webhook_description.txt.j2, apprise_title.txt.j2,
                                # apprise_body.txt.j2 (see reporter.notify.templates for their context);
                                # each is rendered against a sample notification when the file is loaded

    [[time_intervals]]          # named recurring windows, Alertmanager's time_interval (reporter.alerting.intervals)
    name = "weekend-maintenance"
    [[time_intervals.time_intervals]]   # active when ANY entry matches; an entry when ALL its fields match
    weekdays = ["saturday", "sunday"]   # also ranges "monday:friday"; days_of_month, months, years alike
    times = [{ start_time = "02:00", end_time = "04:00" }]   # end exclusive, 24:00 allowed
    location = "Europe/Berlin"          # IANA zone (default UTC)

    [rules.disk_full_soon]      # a rule may escalate too; its settings win (escalate_after alone: a new delay)
    escalate_after = "2h"
    escalate_to = "pager"

A muted receiver is sent nothing; its alerts stay due, so what still fires when the window ends is sent then.

``REPORTER_SLACK_WEBHOOK_URL`` and ``REPORTER_WEBHOOK_URL`` (+ ``REPORTER_WEBHOOK_SECRET``) add receivers
named ``slack`` and ``webhook`` without a file.

The file may start with a UTF-8 byte-order mark (it is ignored). Every problem is reported as one line naming
the file, table and field (:class:`AlertingConfigError`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reporter.alerting.inhibition import DEFAULT_RULES, InhibitRule
from reporter.alerting.intervals import TimeInterval, muted_reason
from reporter.alerting.matchers import REGEX_LOOKING, Matcher, compile_regex
from reporter.alerting.model import SEVERITIES
from reporter.alerting.receiver_failing import about_itself
from reporter.alerting.rules import Rule, parse_duration
from reporter.base.validation import field_error
from reporter.notify.notification import Notification
from reporter.notify.receivers.base import Attempt, ReceiverType
from reporter.notify.receivers.registry import receiver_type

if TYPE_CHECKING:
    pass

MIN_TOLERANCE_INTERVALS = 2  # for_outage_tolerance must span this many sample intervals
ALL_LABELS = "..."  # group_by = ["..."]: group by every label (one alert per group)
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLES = ("defaults", "rules", "receivers", "inhibit_rules", "templates", "time_intervals")


class AlertingConfigError(ValueError):
    """The alerting file or settings are invalid; the message is one line naming the file, table and field."""


class Receiver(BaseModel):
    """Where notifications go: a name, a type (``reporter.notify.receivers.registry``) with that type's own fields
    (``options``: ``url`` for slack and webhook, ``to`` for email, ...), the routing and the timing.

    An alert goes to a receiver when all of these hold: ``match`` (labels equal to these values; a value that
    looks like a regular expression is refused), ``match_re`` (labels fully matching these regular expressions),
    ``matchers`` (Alertmanager matcher strings: ``name=value``, ``name!=value``, ``name=~regex``,
    ``name!~regex``), ``min_severity`` (the least severe level delivered: critical > warning > info); and the
    alert is not about the receiver itself (a ``receiver`` label naming it, as ``receiver_failing`` has: a
    failing receiver is never told that it fails).
    ``backoff_max``: this receiver's cap on the wait between retries (None = the default's). ``escalate_after``
    and ``escalate_to`` (together): its alerts still firing and not acknowledged that long after they fired go
    once per episode to that receiver (:mod:`reporter.alerting.escalation`). Durations in seconds.

    Built from one table: ``Receiver(name="ops", type="webhook", url="https://...")`` puts the keys that are not
    common fields into the type's options. Validated with ``context={"settings": settings}``, the type gets the
    process settings (the email type its SMTP server) and refuses to start without what it needs.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    type: str
    options: Any = None
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    matchers: list[str] = Field(default_factory=list)
    min_severity: Literal["critical", "warning", "info"] | None = None
    send_resolved: bool = True
    group_by: list[str] | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    max_alerts: int = Field(0, ge=0)
    timeout: float = Field(10.0, gt=0, le=120)
    backoff_max: float | None = Field(None, gt=0)
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    escalate_after: float | None = Field(None, gt=0)
    escalate_to: str | None = None

    _intervals: dict[str, TimeInterval] = PrivateAttr(default_factory=dict)
    _kind: ReceiverType | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _split_options(cls, data: Any) -> Any:
        """The keys that are not common fields are the type's own (``options``)."""
        if isinstance(data, dict) and "options" not in data:
            data = dict(data)
            data["options"] = {k: data.pop(k) for k in list(data) if k not in cls.model_fields}
        return data

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        receiver_type(value)  # raises ValueError naming the known types
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any, info: ValidationInfo) -> Any:
        if "type" not in info.data:
            return value  # the type's own error is reported
        kind = receiver_type(info.data["type"])
        if isinstance(value, kind.Options):
            return value
        try:
            return kind.Options.model_validate(value or {})
        except ValidationError as exc:
            raise ValueError(first_error(exc, "", kind.Options.model_fields).removeprefix(".")) from None

    @model_validator(mode="after")
    def _bind(self, info: ValidationInfo) -> Receiver:
        settings = (info.context or {}).get("settings")
        # pydantic runs this again when a validated receiver is put in a model (AlertingConfig): keep its binding
        if self._kind is None or settings is not None:
            templates = (info.context or {}).get("templates")
            # ValueError: a needed setting is missing
            self._kind = receiver_type(self.type)(self.options, settings, templates)
        return self

    @property
    def kind(self) -> ReceiverType:
        """The receiver type's instance (``reporter.notify.receivers``) that renders and sends."""
        assert self._kind is not None
        return self._kind

    def bind_intervals(self, intervals: dict[str, TimeInterval]) -> None:
        """Resolve the receiver's interval names; ValueError naming the field and an unknown name."""
        for field in ("mute_time_intervals", "active_time_intervals"):
            for name in getattr(self, field):
                if name not in intervals:
                    raise ValueError(f"{field}: unknown time interval {name!r}; defined: "
                                     f"{', '.join(intervals) or 'none ([[time_intervals]])'}")
        self._intervals = intervals

    def muted(self, now: datetime) -> str | None:
        """Why no notification may go to this receiver at ``now`` (aware), e.g. ``"mute_time_intervals
        weekend-maintenance"`` or ``"outside active_time_intervals business-hours"``; None when it may."""
        return muted_reason(self.mute_time_intervals, self.active_time_intervals, self._intervals, now)

    def secret_values(self) -> list[str]:
        """What must never be shown: the secrets its type declares (``secret_fields``, a URL's password)."""
        return self.kind.secrets()

    def render(self, notification: Notification, tz: ZoneInfo) -> bytes:
        """The outbox body of ``notification`` for this receiver (its type's request body)."""
        return self.kind.render(notification, tz, self.max_alerts)

    async def send(self, client: Any, notification_id: str, body: bytes) -> Attempt:
        """One delivery attempt of ``body`` within ``timeout`` (see ``ReceiverType.send``)."""
        return await self.kind.send(client, notification_id, body, self.timeout)

    @field_validator("group_wait", "group_interval", "repeat_interval", "timeout", "backoff_max", "escalate_after",
                     mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_group_by(value)

    def grouping(self, defaults: Defaults) -> Grouping:
        """This receiver's grouping and timing: its own values, else the defaults'."""
        return Grouping(
            by=tuple(defaults.group_by if self.group_by is None else self.group_by),
            wait=defaults.group_wait if self.group_wait is None else self.group_wait,
            interval=defaults.group_interval if self.group_interval is None else self.group_interval,
            repeat=defaults.repeat_interval if self.repeat_interval is None else self.repeat_interval)

    _matchers: list[Matcher] = PrivateAttr(default_factory=list)

    @field_validator("match")
    @classmethod
    def _match(cls, value: dict[str, str]) -> dict[str, str]:
        for name, expected in value.items():
            if REGEX_LOOKING.search(expected):
                raise ValueError(f"{name} = {expected!r} looks like a regular expression, but match compares "
                                 f"exactly; write matchers = ['{name}=~\"{expected}\"'] (or match_re)")
        return value

    @model_validator(mode="after")
    def _escalation(self) -> Receiver:
        """``escalate_to`` and ``escalate_after`` go together, and name another receiver."""
        if (self.escalate_to is None) != (self.escalate_after is None):
            missing, given = ("escalate_after", "escalate_to") if self.escalate_after is None else \
                ("escalate_to", "escalate_after")
            raise ValueError(f"{missing}: needed with {given} (escalate_after = \"30m\", escalate_to = "
                             f"\"<receiver>\")")
        if self.escalate_to is not None and self.escalate_to == self.name:
            raise ValueError("escalate_to: names this receiver itself; name the receiver that takes over")
        return self

    @model_validator(mode="after")
    def _compile(self) -> Receiver:
        parsed = [Matcher(name, "=", value) for name, value in self.match.items()]
        for name, pattern in self.match_re.items():
            try:
                parsed.append(Matcher(name, "=~", pattern, compile_regex(pattern, pattern)))
            except ValueError as exc:
                raise ValueError(f"match_re.{name}: {exc}") from None
        for index, text in enumerate(self.matchers):
            try:
                parsed.append(Matcher.parse(text))
            except ValueError as exc:
                raise ValueError(f"matchers[{index}]: {exc}") from None
        self._matchers = parsed
        return self

    @property
    def route(self) -> list[Matcher]:
        """Its label matchers (``match``, ``match_re`` and ``matchers`` together), as parsed."""
        return list(self._matchers)

    def accepts(self, labels: dict[str, str]) -> bool:
        """True when an alert with ``labels`` goes to this receiver."""
        if about_itself(self.name, labels):
            return False
        if not all(m.matches(labels) for m in self._matchers):
            return False
        if self.min_severity is not None:
            rank = {s: i for i, s in enumerate(SEVERITIES)}
            return rank.get(labels.get("severity", "info"), 2) <= rank[self.min_severity]
        return True


def check_group_by(names: list[str]) -> list[str]:
    """``group_by`` as given, or ValueError: label names, or ``["..."]`` alone (every label)."""
    if ALL_LABELS in names and names != [ALL_LABELS]:
        raise ValueError(f'"{ALL_LABELS}" (every label) must be alone: group_by = ["{ALL_LABELS}"]')
    for name in names:
        if name != ALL_LABELS and not LABEL_NAME.match(name):
            raise ValueError(f"{name!r} is not a label name (letters, digits and _, not starting with a digit)")
    if len(set(names)) != len(names):
        raise ValueError(f"labels repeat: {names}")
    return names


class Grouping(BaseModel):
    """How a receiver batches alerts, as Alertmanager's route: ``by`` (label names, or ``("...",)`` for every
    label); ``wait``: a new group's first notification waits this long (s) for more alerts; ``interval``: a
    change to a notified group waits this long (s) after the group's last notification; ``repeat``: an unchanged
    group whose alerts still fire is sent again after this long (s)."""

    model_config = ConfigDict(frozen=True)

    by: tuple[str, ...]
    wait: float
    interval: float
    repeat: float

    def key(self, labels: dict[str, str]) -> dict[str, str]:
        """The group labels of an alert with ``labels``: the ``by`` labels it has (all with ``...``)."""
        if self.by == (ALL_LABELS,):
            return dict(sorted(labels.items()))
        return {name: labels[name] for name in sorted(self.by) if name in labels}


class Defaults(BaseModel):
    """Timing defaults, seconds. Retries of a delivery wait ``backoff_initial`` doubling up to ``backoff_max``
    (with jitter) and stop when the notification is ``max_age`` old. ``for_outage_tolerance``: the longest gap
    between evaluated samples (a restart, a hung sample) across which a pending alert keeps its ``for`` window;
    None means three sample intervals (at least 10 s); a value below two sample intervals is refused by
    :func:`reporter.alerting.loading.load_alerting` (every sample would restart the windows)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait: float = 10.0
    group_interval: float = 60.0
    repeat_interval: float = 4 * 3600.0
    default_inhibit_rules: bool = True
    no_data_for: float = 600.0
    max_age: float = Field(24 * 3600.0, gt=0)
    backoff_initial: float = Field(1.0, gt=0)
    backoff_max: float = Field(60.0, gt=0)
    for_outage_tolerance: float | None = Field(None, gt=0)  # None: three sample intervals, at least 10 s

    @field_validator("group_wait", "group_interval", "repeat_interval", "no_data_for", "max_age",
                     "backoff_initial", "backoff_max", "for_outage_tolerance", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str]) -> list[str]:
        return check_group_by(value)

    @model_validator(mode="after")
    def _backoff_within_max_age(self) -> Defaults:
        if self.backoff_max > self.max_age:
            raise ValueError(f"backoff_max ({self.backoff_max:g} s) must not exceed max_age ({self.max_age:g} s)")
        return self


class AlertingConfig(BaseModel):
    """Everything the alerting path needs, validated. ``inhibit_rules``: the built-in ones (unless
    ``defaults.default_inhibit_rules`` is false) followed by the file's ``[[inhibit_rules]]``. ``templates``: the
    notification templates of ``[templates] dir`` (a ``reporter.notify.templates.TemplateSet``; None: every text
    is built in), already handed to each receiver's type. ``time_intervals``: the named time intervals, by name."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    defaults: Defaults
    rules: list[Rule]
    receivers: list[Receiver]
    inhibit_rules: list[InhibitRule] = Field(default_factory=lambda: list(DEFAULT_RULES))
    templates: Any = None  # TemplateSet | None; Jinja2 is loaded only when the file has a [templates] table
    time_intervals: dict[str, TimeInterval] = Field(default_factory=dict)


def first_error(exc: ValidationError, prefix: str, known: Iterable[str] = ()) -> str:
    """The error of ``exc`` to show, as one line: ``<prefix>.<field>: <message>`` (an unknown key first, with
    the closest of the ``known`` field names; :func:`reporter.base.validation.field_error`)."""
    field, reason = field_error(exc, known)
    return f"{prefix}{'.' + field if field else ''}: {reason}"
