"""The alerting configuration: timing defaults, rules and receivers, from the TOML file and the environment.

File (``REPORTER_ALERTING_FILE``, optional)::

    [defaults]
    group_wait = "10s"          # batch alerts of one receiver for this long before the first send
    repeat_interval = "4h"      # resend still-firing alerts this often
    no_data_for = "10m"         # a rule whose value is missing this long raises a no_data alert
    max_age = "24h"             # retry a failed delivery for this long
    backoff_max = "60s"         # longest wait between two attempts of a delivery (also per receiver)
    for_outage_tolerance = "30s"  # a longer gap in sampling restarts pending `for` windows (default: 3 sample
                                  # intervals, at least 10s)

    [rules.cpu_high]            # override a default rule (any field), or define a new one
    threshold = 95

    [rules.memory_high]
    enabled = false

    [[receivers]]
    name = "oncall"
    type = "slack"              # or "webhook" (Alertmanager webhook payload, version 4)
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    match = { severity = "critical" }
    timeout = "10s"             # overall deadline of one attempt (at most 120 s)
    backoff_max = "30s"         # this receiver's own cap on the wait between attempts

``REPORTER_SLACK_WEBHOOK_URL`` and ``REPORTER_WEBHOOK_URL`` (+ ``REPORTER_WEBHOOK_SECRET``) add receivers
named ``slack`` and ``webhook`` without a file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reporter.alerting.model import SEVERITIES
from reporter.alerting.rules import Rule, build_rules, parse_duration
from reporter.masking import register_secrets, url_secrets, userinfo_problem
from reporter.settings import Settings


class AlertingConfigError(ValueError):
    """The alerting file or settings are invalid; the message is one line naming the file, table and field."""


class Receiver(BaseModel):
    """Where notifications go. ``match``: labels that must all be equal; ``min_severity``: the least severe
    level delivered (critical > warning > info); ``backoff_max``: this receiver's cap on the wait between
    retries (None = the default's). Durations in seconds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    type: Literal["slack", "webhook"]
    url: str
    secret: str | None = None
    match: dict[str, str] = Field(default_factory=dict)
    min_severity: Literal["critical", "warning", "info"] | None = None
    send_resolved: bool = True
    group_wait: float | None = None
    repeat_interval: float | None = None
    max_alerts: int = Field(0, ge=0)
    timeout: float = Field(10.0, gt=0, le=120)
    backoff_max: float | None = Field(None, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        problem = userinfo_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def secret_values(self) -> list[str]:
        """What must never be shown: the URL's password, a Slack webhook's URL and path (its key), and the
        signing secret."""
        path = urlsplit(self.url).path.strip("/")
        slack = [self.url, *([path] if path else [])] if self.type == "slack" else []
        return [*url_secrets(self.url), *slack, *([self.secret] if self.secret else [])]

    @field_validator("group_wait", "repeat_interval", "timeout", "backoff_max", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value:
            from reporter.notify.webhook import secret_key

            secret_key(value)  # raises ValueError (without the secret) when a whsec_ secret is not base64
        return value or None

    def accepts(self, labels: dict[str, str]) -> bool:
        """True when an alert with ``labels`` goes to this receiver."""
        if any(labels.get(k) != v for k, v in self.match.items()):
            return False
        if self.min_severity is not None:
            rank = {s: i for i, s in enumerate(SEVERITIES)}
            return rank.get(labels.get("severity", "info"), 2) <= rank[self.min_severity]
        return True


class Defaults(BaseModel):
    """Timing defaults, seconds. Retries of a delivery wait ``backoff_initial`` doubling up to ``backoff_max``
    (with jitter) and stop when the notification is ``max_age`` old. ``for_outage_tolerance``: the longest gap
    between evaluated samples (a restart, a hung sample) across which a pending alert keeps its ``for`` window;
    None means three sample intervals (at least 10 s)."""

    model_config = ConfigDict(extra="forbid")

    group_wait: float = 10.0
    repeat_interval: float = 4 * 3600.0
    no_data_for: float = 600.0
    max_age: float = Field(24 * 3600.0, gt=0)
    backoff_initial: float = Field(1.0, gt=0)
    backoff_max: float = Field(60.0, gt=0)
    for_outage_tolerance: float | None = Field(None, gt=0)  # None: three sample intervals, at least 10 s

    @field_validator("*", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _backoff_within_max_age(self) -> Defaults:
        if self.backoff_max > self.max_age:
            raise ValueError(f"backoff_max ({self.backoff_max:g} s) must not exceed max_age ({self.max_age:g} s)")
        return self


class AlertingConfig(BaseModel):
    """Everything the alerting path needs, validated."""

    defaults: Defaults
    rules: list[Rule]
    receivers: list[Receiver]


def _first_error(exc: ValidationError, prefix: str) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    return f"{prefix}{'.' + field if field else ''}: {err['msg'].removeprefix('Value error, ')}"


def load_alerting(settings: Settings) -> AlertingConfig:
    """Read ``settings.alerting_file`` (if set) and the receiver settings; raise AlertingConfigError."""
    data: dict[str, Any] = {}
    where = "alerting"
    if settings.alerting_file:
        path = Path(settings.alerting_file)
        where = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise AlertingConfigError(f"REPORTER_ALERTING_FILE: cannot read {path} ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise AlertingConfigError(f"{where}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"defaults", "rules", "receivers"})
    if unknown:
        raise AlertingConfigError(f"{where}: unknown table(s) {unknown}; expected defaults, rules, receivers")
    try:
        defaults = Defaults(**data.get("defaults", {}))
    except (ValidationError, ValueError) as exc:
        message = _first_error(exc, "defaults") if isinstance(exc, ValidationError) else f"defaults: {exc}"
        raise AlertingConfigError(f"{where}: {message}") from None
    try:
        rules = build_rules(data.get("rules", {}), settings.ai_features)
    except ValueError as exc:
        raise AlertingConfigError(f"{where}: {exc}") from None
    receivers_data = list(data.get("receivers", []))
    if settings.slack_webhook_url:
        receivers_data.append({"name": "slack", "type": "slack", "url": settings.slack_webhook_url})
    if settings.webhook_url:
        receivers_data.append({"name": "webhook", "type": "webhook", "url": settings.webhook_url,
                               "secret": settings.webhook_secret})
    receivers = []
    for index, item in enumerate(receivers_data):
        label = f"receivers[{index}]" + (f" ({item.get('name')})" if isinstance(item, dict) and item.get("name") else "")
        try:
            receivers.append(Receiver(**item))
        except ValidationError as exc:
            raise AlertingConfigError(f"{where}: {_first_error(exc, label)}") from None
        except TypeError as exc:
            raise AlertingConfigError(f"{where}: {label}: {exc}") from None
        backoff_max = receivers[-1].backoff_max
        if backoff_max is not None and backoff_max > defaults.max_age:
            raise AlertingConfigError(f"{where}: {label}.backoff_max: {backoff_max:g} s must not exceed "
                                      f"defaults.max_age ({defaults.max_age:g} s)")
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise AlertingConfigError(f"{where}: receiver names repeat: {names}")
    for receiver in receivers:
        register_secrets(receiver.secret_values())
    return AlertingConfig(defaults=defaults, rules=rules, receivers=receivers)
