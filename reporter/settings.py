"""Settings: read once at start from the environment (prefix ``REPORTER_``) and a ``.env`` file.

Every setting, its default and its meaning is listed in ``settings.example.env``. A bad value raises
:class:`SettingsError` whose message is one line naming the setting (the CLI prints it and exits 2).
"""

from __future__ import annotations

import email.utils
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from reporter.base.urls import http_url
from reporter.masking import MASK, mask, register_secrets, url_secrets, userinfo_problem
from reporter.sqlite_file import SQLiteFileError, sqlite_file

ENV_PREFIX = "REPORTER_"
REPORT_KINDS = {"daily": "day", "weekly": "week", "monthly": "month"}  # REPORTER_REPORTS names -> period kinds
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PROBES = ("database", "redis", "ollama")
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SECRET_FIELDS = {"api_token", "webhook_secret", "slack_webhook_url", "smtp_password"}
URL_FIELDS = ("history_url", "app_database_url", "redis_url", "ollama_url", "slack_webhook_url", "webhook_url",
              "external_url")
_UNSHOWN = "unshown"  # error type whose message must not be followed by the value (it would disclose a secret)


class SettingsError(ValueError):
    """A setting has a bad value; ``str(error)`` is one line naming the setting (``REPORTER_X: ...``)."""




class Settings(BaseSettings):
    """The daemon's configuration. Units: seconds for intervals and timeouts, days for retention."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # sampling
    sample_interval: float = Field(10.0, ge=1.0, le=3600.0, description="seconds between samples")
    usage_interval: float = Field(60.0, ge=1.0, le=86400.0, description="seconds between app-database usage queries")
    probe_timeout: float = Field(2.0, ge=0.1, le=60.0, description="seconds each collector may take")
    disk_path: str = Field("/", description="filesystem whose usage is sampled")

    # history
    history_url: str = Field("sqlite:///data/history.db", description="SQLAlchemy URL of the history database")
    retention_days: int = Field(30, ge=1, le=3650, description="days of samples kept")

    # fleet (many hosts sharing one PostgreSQL history; see README "Many hosts")
    host_name: str = Field(default_factory=lambda: default_host_name(), description="name of this host in the fleet")
    role: str = Field("node", pattern=r"^(node|agent)$",
                      description="node (may be elected leader) or agent (samples only, never leads)")
    probes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["database", "redis", "ollama"],
        description="services this host probes, comma-separated (database, redis, ollama); empty = none",
    )
    leader_keepalive: float = Field(10.0, ge=2.0, le=600.0,
                                    description="seconds after which a dead peer connection is detected (TCP "
                                                "keepalive and user timeout of the leader lock connection)")
    spool_path: str = Field("data/spool", description="folder of the local sample spool (store unreachable)")
    spool_max_bytes: int = Field(64 * 2**20, ge=2**16, le=2**40, description="bytes the spool may hold")
    spool_max_age: float = Field(86400.0, ge=60.0, le=30 * 86400.0,
                                 description="seconds a spooled sample is kept before it is dropped")

    # sources
    app_database_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        description="SQLAlchemy URL of the application's database",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding the AI usage counters")
    ai_key_prefix: str = Field("ai:", min_length=1, description="prefix of the AI counter keys")
    ai_features: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["grammar", "quiz", "voice", "scenario"],
        description="AI features with per-feature counters, comma-separated",
    )
    ollama_url: str = Field("http://127.0.0.1:11434", description="base URL of the Ollama HTTP API")
    ollama_model: str = Field("mistral:7b", min_length=1, description="model that must be listed by Ollama")
    ollama_probe_interval: float = Field(0.0, ge=0.0, le=86400.0,
                                         description="seconds between synthetic generations through Ollama's "
                                                     "/api/generate (0 or empty = off, the default)")
    ollama_probe_timeout: float = Field(60.0, ge=0.1, le=600.0,
                                        description="seconds one synthetic generation may take (a cold load "
                                                    "included)")
    usage_queries: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="JSON object overriding usage SQL queries by name"
    )
    top_n: int = Field(10, ge=1, le=100, description="rows in top users / popular scenarios")
    show_emails: bool = Field(False, description="show top users' emails unmasked")

    # HTTP
    http_host: str = Field("127.0.0.1", min_length=1, description="address the HTTP endpoint binds to")
    http_port: int = Field(8321, ge=0, le=65535, description="port of the HTTP endpoint (0 = any free port)")
    api_token: str | None = Field(None, description="bearer token required by the HTTP API when set")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="browser origins allowed to read the HTTP API (CORS), comma-separated; empty = CORS off",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the HTTP API answers besides localhost and the bind address, comma-separated "
                    "(.example.com = a domain and its subdomains, * = any)",
    )

    # alerting
    alerting_file: str | None = Field(None, description="TOML file of alerting defaults, rules and receivers")
    slack_webhook_url: str | None = Field(None, description="Slack incoming webhook receiver (secret)")
    webhook_url: str | None = Field(None, description="Alertmanager-style JSON webhook receiver")
    webhook_secret: str | None = Field(None, description="Standard Webhooks signing secret (whsec_...)")
    external_url: str | None = Field(None, description="URL of this reporter in notifications")

    # reports
    report_dir: str = Field("reports", description="folder of the report files (<period>.html/.pdf)")
    reports: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["daily", "weekly", "monthly"],
                                                    description="reports produced: daily, weekly, monthly")
    report_time: str = Field("00:10", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                             description="local time (HH:MM) at which yesterday's report is rendered")
    weekly_report_time: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                           description="local time (HH:MM) on Monday for last week's report "
                                                       "(empty = REPORTER_REPORT_TIME)")
    monthly_report_time: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                            description="local time (HH:MM) on the 1st for last month's report "
                                                        "(empty = REPORTER_REPORT_TIME)")
    report_templates: str | None = Field(None, description="folder of template overrides (report.html.j2, report.css)")
    report_top_n: int = Field(10, ge=1, le=1000, description="rows of long lists in the report (the rest in CSV)")
    report_timeout: float = Field(120.0, gt=0, le=3600, description="seconds a report rendering may take")
    smtp_host: str | None = Field(None, description="SMTP server for the report email (empty = no email)")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port")
    smtp_security: str = Field("starttls", pattern=r"^(none|starttls|tls)$", description="none, starttls or tls")
    smtp_username: str | None = Field(None, description="SMTP user (empty = no authentication)")
    smtp_password: str | None = Field(None, description="SMTP password (secret)")
    email_from: str = Field("reporter@localhost", description="From: address of the report email")
    email_to: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                     description="report recipients, comma-separated")
    email_subject: str = Field("{title} {date} - {host}",
                               description="subject; {title} (Daily/Weekly/Monthly report), {date} (the period: "
                                           "2026-12-03, 2026-W48, 2026-11) and {host} are filled in")

    # objectives (SLOs) of the reports: percentages 0-100 (exclusive), seconds
    slo_availability: str = Field("99.5", description="percent of up probes per service, e.g. 99.5 or "
                                                      "99.5,database=99.9 (a default and per-service overrides)")
    slo_ai_success_rate: float = Field(90.0, gt=0, lt=100, description="percent of AI requests that succeed")
    slo_ai_p95_seconds: float = Field(10.0, gt=0, le=3600, description="seconds the p95 AI response time stays "
                                                                       "under (95 % of requests)")
    slo_coverage: float = Field(99.0, gt=0, lt=100, description="percent of expected samples stored")

    # people
    timezone: str = Field("UTC", description="IANA timezone for reports and messages")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    @field_validator("*", mode="before")
    @classmethod
    def _finite(cls, value: Any, info) -> Any:
        """Every float setting: ``nan`` and ``inf`` are "not a number", not "less than or equal to 3600"."""
        if cls.model_fields[info.field_name].annotation not in (float, float | None) or isinstance(value, bool):
            return value
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            return value  # pydantic says it is not a number
        if math.isnan(number):
            raise ValueError("not a number")
        if math.isinf(number):
            raise ValueError("not a number (infinite); give a finite value")
        return value

    @field_validator(*URL_FIELDS, mode="before")
    @classmethod
    def _userinfo(cls, value: Any) -> Any:
        """A raw ``@`` in a URL's password would make the rest of the password the host name, shown in every
        error message: refused, without quoting the URL."""
        problem = userinfo_problem(value) if isinstance(value, str) else None
        if problem:
            raise PydanticCustomError(_UNSHOWN, problem)
        return value

    @field_validator("ai_features", mode="before")
    @classmethod
    def _split_features(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not value:
            raise ValueError("needs at least one feature name")
        if len(value) > 50:
            raise ValueError(f"at most 50 features (got {len(value)})")
        for name in value:
            if name == "total":
                raise ValueError("'total' is reserved (ai:total_requests and ai:total_time are the totals)")
            if not FEATURE_NAME.match(name):
                raise ValueError(f"feature name {name!r} must match [a-z][a-z0-9_]{{0,31}}")
        if len(set(value)) != len(value):
            raise ValueError("feature names repeat")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s?#@]+$", origin):
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port] without a path "
                                 "(e.g. https://dashboard.example.com), or *")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        from reporter.base.hostnames import check_allowed_entry

        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return [check_allowed_entry(entry) for entry in value]

    @field_validator("usage_queries", mode="before")
    @classmethod
    def _parse_queries(cls, value: Any) -> Any:
        from reporter.usage_queries import DEFAULT_QUERIES

        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"not valid JSON ({str(exc)[:80]})") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError("must be a JSON object of name -> SQL text")
        empty = sorted(k for k, v in value.items() if not v.strip())
        if empty:
            raise ValueError(f"empty query for {empty}")
        unknown = sorted(set(value) - set(DEFAULT_QUERIES))
        if unknown:
            raise ValueError(f"unknown query name(s) {unknown}; known: {sorted(DEFAULT_QUERIES)}")
        return value

    @field_validator("history_url", "app_database_url")
    @classmethod
    def _sqlalchemy_url(cls, value: str, info) -> str:
        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError("not a SQLAlchemy URL (e.g. sqlite:///data/history.db)") from exc
        if not url.drivername:
            raise ValueError("not a SQLAlchemy URL (e.g. sqlite:///data/history.db)")
        try:
            url.get_dialect().import_dbapi()
        except Exception as exc:  # unknown dialect, or its driver is not installed
            raise ValueError(f"cannot use {url.drivername!r}: {type(exc).__name__}: {str(exc)[:120]} "
                             "(installed drivers: sqlite, postgresql+psycopg)") from None
        if info.field_name == "history_url" and url.get_backend_name() == "sqlite":
            _plain_sqlite_file(url)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must start with redis://, rediss:// or unix://")
        from reporter.base.redis_url import parse_redis_url  # redis-py's reading, without loading redis-py

        try:
            parse_redis_url(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a Redis URL ({str(exc)[:120]})") from None
        if value.startswith(("redis://", "rediss://")):
            # redis-py silently reads database 0 when the path is not a number
            database = unquote(urlsplit(value).path).strip("/")
            if database and not (database.isascii() and database.isdigit()):
                raise ValueError(f"the database {database[:40]!r} is not a number: give its index, "
                                 "e.g. redis://127.0.0.1:6379/0")
        return value

    @field_validator("disk_path", "http_host")
    @classmethod
    def _encodable(cls, value: str, info) -> str:
        try:
            value.encode("utf-8")
            if info.field_name == "http_host":
                value.encode("idna")
        except UnicodeError:
            raise ValueError("not a valid name (undecodable characters or bad host name)") from None
        return value

    @field_validator("disk_path")
    @classmethod
    def _existing_path(cls, value: str) -> str:
        # a typo would otherwise leave disk_percent missing (and disk alerts silent) on every sample
        if not os.path.isabs(value):
            raise ValueError(f"{value!r} is not an absolute path (the filesystem to sample, e.g. /)")
        if not os.path.exists(value):
            raise ValueError(f"{value} does not exist (the filesystem to sample, e.g. / or /var/lib)")
        return value

    @field_validator("email_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        # a bare name was taken and every report email refused by the SMTP server; a line break would add headers
        _, address = email.utils.parseaddr(value)
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or not re.match(r"^[^@\s<>]+@[^@\s<>]+$", address):
            raise ValueError(f"{value!a} is not an email address (e.g. reporter@example.com or "
                             "Reporter <reporter@example.com>)")
        return value

    @field_validator("ollama_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("host_name", mode="before")
    @classmethod
    def _host_name(cls, value: Any) -> Any:
        """A host name as shown in labels and URLs: 1-64 letters, digits, ``.``, ``_`` or ``-``; empty = this
        machine's host name."""
        if not isinstance(value, str):
            return value
        value = value.strip() or default_host_name()
        if not HOST_NAME.match(value):
            raise ValueError("a host name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
                             "digit")
        return value

    @field_validator("probes", mode="before")
    @classmethod
    def _split_probes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            unknown = [v for v in value if v not in PROBES]
            if unknown:
                raise ValueError(f"unknown service(s) {', '.join(map(repr, unknown))}; known: {', '.join(PROBES)}")
            return list(dict.fromkeys(value))
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError("unknown timezone (use an IANA name such as Europe/Berlin)") from exc
        return value

    @field_validator("reports", mode="before")
    @classmethod
    def _reports(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip().lower() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            known = tuple(REPORT_KINDS)
            unknown = [v for v in value if v not in known]
            if unknown:
                raise ValueError(f"unknown report(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)} "
                                 "(empty = none)")
            return list(dict.fromkeys(value))
        return value

    @field_validator("slo_availability")
    @classmethod
    def _availability_objectives(cls, value: str) -> str:
        parse_availability(value)
        return value.strip()

    @property
    def availability_objectives(self) -> dict[str, float]:
        """The availability objective (percent) of each service (``database``, ``redis``, ``ollama``), from
        ``slo_availability``."""
        return parse_availability(self.slo_availability)

    @field_validator("ollama_probe_interval", mode="before")
    @classmethod
    def _empty_is_off(cls, value: Any) -> Any:
        return 0.0 if isinstance(value, str) and not value.strip() else value

    @field_validator("ollama_probe_interval")
    @classmethod
    def _off_or_a_second(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("must be 0 (off) or at least 1 second")
        return value

    @field_validator("weekly_report_time", "monthly_report_time", mode="before")
    @classmethod
    def _empty_time_is_none(cls, value: Any) -> Any:
        return value or None

    def report_time_of(self, kind: str) -> str:
        """``HH:MM``, local, at which a finished period of ``kind`` (day, week, month) becomes due on the day
        after it: the weekly or monthly time when set, else ``report_time``."""
        return {"week": self.weekly_report_time, "month": self.monthly_report_time}.get(kind) or self.report_time

    @property
    def report_kinds(self) -> list[str]:
        """The period kinds of the reports produced (``reports``): ``day``, ``week``, ``month`` (the names of
        :data:`reporter.report.period.KINDS`)."""
        return [REPORT_KINDS[name] for name in self.reports]

    @field_validator("email_to", mode="before")
    @classmethod
    def _split_emails(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for address in value:
            if not re.match(r"^[^@\s<>]+@[^@\s<>]+$", address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("api_token", "alerting_file", "report_templates", "smtp_host", "smtp_username",
                     "smtp_password", "slack_webhook_url", "webhook_url", "webhook_secret",
                     "external_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("api_token")
    @classmethod
    def _header_token(cls, value: str | None) -> str | None:
        # it travels in "Authorization: Bearer <token>", whose value HTTP trims and browsers send as Latin-1 only:
        # a space at either end (an .env line's trailing blank) made every request 401, the API locked for good
        if value is not None and not all("!" <= c <= "~" for c in value):
            raise ValueError("a bearer token is printable ASCII without spaces (it goes in an HTTP header)")
        return value

    @field_validator("report_templates")
    @classmethod
    def _existing_dir(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_dir():
            raise ValueError("not an existing folder (of report.html.j2 / report.css overrides)")
        return value

    @field_validator("slack_webhook_url", "webhook_url", "external_url")
    @classmethod
    def _optional_http(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @model_validator(mode="after")
    def _timeout_fits_interval(self) -> Settings:
        if self.probe_timeout >= self.sample_interval:
            raise ValueError(f"{ENV_PREFIX}PROBE_TIMEOUT: {self.probe_timeout:g} s must be shorter than "
                             f"{ENV_PREFIX}SAMPLE_INTERVAL ({self.sample_interval:g} s)")
        return self

    @model_validator(mode="after")
    def _probe_timeout_fits_interval(self) -> Settings:
        if self.ollama_probe_interval and self.ollama_probe_timeout > self.ollama_probe_interval:
            raise ValueError(f"{ENV_PREFIX}OLLAMA_PROBE_TIMEOUT: {self.ollama_probe_timeout:g} s must not be longer "
                             f"than {ENV_PREFIX}OLLAMA_PROBE_INTERVAL ({self.ollama_probe_interval:g} s)")
        return self

    @model_validator(mode="after")
    def _register_secrets(self) -> Settings:
        """Every configured secret is masked from now on wherever text is shown (see :mod:`reporter.masking`)."""
        register_secrets(self.secret_values())
        return self

    def secret_values(self) -> list[str]:
        """The configured secrets: the API token, the webhook secret, the SMTP password, the Slack webhook URL
        (and its path) and the password of every URL setting."""
        values = [self.api_token, self.webhook_secret, self.smtp_password, self.slack_webhook_url]
        if self.slack_webhook_url:
            values.append(urlsplit(self.slack_webhook_url).path.strip("/") or None)
        for name in URL_FIELDS:
            values += url_secrets(getattr(self, name))
        return [v for v in values if v]

    @property
    def tz(self) -> ZoneInfo:
        """The configured timezone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    def history_path(self) -> Path | None:
        """The SQLite file of the history database, or None for a server database."""
        return sqlite_file(make_url(self.history_url))

    @property
    def fleet(self) -> bool:
        """True when the history is a PostgreSQL database: hosts share it and one elected node leads (a SQLite
        history stays single-host)."""
        return make_url(self.history_url).get_backend_name() == "postgresql"


DEFAULT_AVAILABILITY = 99.5


def parse_availability(value: str) -> dict[str, float]:
    """``99.5`` or ``99.5,database=99.9`` or ``database=99.9`` (the others 99.5): the availability objective
    in percent of each service of ``PROBES``. Raises ValueError (one line) for a number outside (0, 100), an
    unknown service, a repeated one or two defaults."""
    default: float | None = None
    overrides: dict[str, float] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        name, _, number = part.rpartition("=")
        name = name.strip().lower()
        try:
            target = float(number)
        except ValueError:
            raise ValueError(f"{number.strip()[:20]!r} is not a number") from None
        if not math.isfinite(target) or not 0 < target < 100:
            raise ValueError(f"{number.strip()[:20]} is not a percentage above 0 and below 100 (100 % leaves no "
                             "error budget)")
        if not name:
            if default is not None:
                raise ValueError("two default objectives; give one number and service=number overrides")
            default = target
        elif name not in PROBES:
            raise ValueError(f"unknown service {name[:20]!r}; known: {', '.join(PROBES)}")
        elif name in overrides:
            raise ValueError(f"{name} is given twice")
        else:
            overrides[name] = target
    return {name: overrides.get(name, DEFAULT_AVAILABILITY if default is None else default) for name in PROBES}


def default_host_name() -> str:
    """This machine's host name (``socket.gethostname()``, first label kept whole), cut to what REPORTER_HOST_NAME
    accepts; ``localhost`` when it has none usable."""
    import socket

    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().strip())[:64].lstrip("._-")
    return name or "localhost"


def _plain_sqlite_file(url: URL) -> None:
    """Refuse a SQLite history that is no lasting file (in memory: lost at exit). Raises ValueError (one line)."""
    try:
        sqlite_file(url)
    except SQLiteFileError as exc:
        if "memory" in str(exc):
            raise ValueError("an in-memory SQLite history is lost at exit; give a file, "
                             "e.g. sqlite:///data/history.db") from None
        raise ValueError(f"{exc}; give the file's path, e.g. sqlite:////abs/path/history.db") from None


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read settings from the environment and ``env_file``; the environment wins over the file and
    ``overrides`` win over both. A missing ``env_file`` is fine (the defaults apply), and so is a folder of that
    name (a virtualenv called ``.env``).

    Raises :class:`SettingsError` with one line per bad setting, each naming ``REPORTER_<NAME>`` and saying
    what is expected; or one line ``FILE: ...`` / ``FILE:LINE: ...`` when ``env_file`` cannot be read or a line
    of it is not ``NAME=VALUE``.
    """
    if env_file is not None:
        check_env_file(env_file)
    try:
        return Settings(_env_file=env_file, **overrides)
    except UnicodeDecodeError:
        raise SettingsError(f"{env_file}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:  # the file changed between the check and the read
        raise SettingsError(f"{env_file}: cannot read it ({exc.strerror or exc})") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "string_pattern_mismatch":  # pydantic quotes the regular expression: say it plainly
                message = "not in the form expected"
            got = err.get("input")
            shown = ""
            if field and isinstance(got, str | int | float) and err["type"] != _UNSHOWN:
                shown = repr(mask_value(field, got))
                shown = f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
            info = Settings.model_fields.get(field)
            expected = (f"; expected: {info.description}" if info is not None and info.description
                        and err["type"] != _UNSHOWN else "")
            lines.append(f"{ENV_PREFIX}{field.upper()}: {message}{shown}{expected}" if field else message)
        raise SettingsError("\n".join(lines)) from None


def check_env_file(env_file: str | Path) -> None:
    """Raise :class:`SettingsError` (one line naming the file, and the line number when it is a line) when
    ``env_file`` exists but cannot be read, is not UTF-8, or has a line that is not ``NAME=VALUE``, a comment or
    blank. Lines are parsed as python-dotenv (which reads the file) parses them; their text is never shown, as
    it may hold a secret. A missing file or a folder is fine (nothing to read)."""
    from dotenv.parser import parse_stream

    path = Path(env_file)
    try:
        if (not path.exists() and not path.is_symlink()) or path.is_dir():
            return
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{env_file}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{env_file}: not UTF-8 text; save it as UTF-8") from None
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original
        # a binding's text starts with the blank lines before it
        line = original.line + original.string[:len(original.string) - len(original.string.lstrip())].count("\n")
        if binding.error:
            raise SettingsError(f"{env_file}:{line}: cannot parse this line (an unclosed quote, or a space in the "
                                "name?); expected NAME=VALUE")
        if binding.key is not None and binding.value is None:
            raise SettingsError(f"{env_file}:{line}: no '=' in this line; expected NAME=VALUE")


def unknown_names(env_file: str | Path | None, environ: dict[str, str]) -> list[str]:
    """One warning line per ``REPORTER_*`` name in the environment or ``env_file`` that is no setting, with a
    suggestion (``... (did you mean REPORTER_SAMPLE_INTERVAL?)``): typos are otherwise silent."""
    import difflib

    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    names = {k for k in environ if k.startswith(ENV_PREFIX)}
    if env_file is not None and Path(env_file).is_file():
        for line in Path(env_file).read_text(encoding="utf-8", errors="replace").splitlines():
            key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if key.startswith(ENV_PREFIX) and "=" in line:
                names.add(key)
    result = []
    for name in sorted(names - known):
        close = difflib.get_close_matches(name, known, n=1)
        result.append(f"{name} is not a setting and is ignored" + (f" (did you mean {close[0]}?)" if close else ""))
    return result


def mask_value(field: str, value: Any) -> Any:
    """Mask a setting's value for output: secrets become ``***``, URL passwords are hidden."""
    if field in SECRET_FIELDS and value:
        return "***"
    if isinstance(value, str) and "://" in value:
        return mask(value)
    if field in URL_FIELDS and isinstance(value, str) and "@" in value:  # "user:password@host", scheme forgotten
        userinfo, _, host = value.rpartition("@")
        if ":" in userinfo:
            return f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    return value


def masked_items(settings: Settings) -> list[tuple[str, Any]]:
    """(``REPORTER_NAME``, masked value) for every setting, in declaration order."""
    items = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        items.append((f"{ENV_PREFIX}{name.upper()}", mask_value(name, value)))
    return items
