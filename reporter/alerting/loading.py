"""Reading the alerting file (``REPORTER_ALERTING_FILE``) and the receiver settings into an
:class:`reporter.alerting.config.AlertingConfig` (the file's shape is documented in :mod:`reporter.alerting.config`).

Every problem is reported as one line naming the file, table and field (:class:`AlertingConfigError`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from reporter.alerting.config import (
    MIN_TOLERANCE_INTERVALS,
    TABLES,
    AlertingConfig,
    AlertingConfigError,
    Defaults,
    Receiver,
    first_error,
)
from reporter.alerting.inhibition import DEFAULT_RULES, parse_rules
from reporter.alerting.intervals import IntervalError, parse_time_intervals
from reporter.alerting.rules import Rule, build_rules
from reporter.masking import register_secrets
from reporter.notify.receivers.registry import known_types, receiver_type
from reporter.settings import Settings

if TYPE_CHECKING:
    from reporter.notify.templates import TemplateSet

__all__ = ["AlertingConfigError", "load_alerting"]


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _read(path: Path) -> dict[str, Any]:
    """The TOML file as a dict; a leading UTF-8 byte-order mark is ignored (editors on Windows write one)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise AlertingConfigError(f"REPORTER_ALERTING_FILE: cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise AlertingConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AlertingConfigError(f"{path}: not valid TOML ({_one_line(exc)})") from None
    except RecursionError:
        raise AlertingConfigError(f"{path}: not valid TOML (arrays or tables nested too deeply)") from None


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


class _FieldError(Exception):
    """A receiver table's problem: ``field`` (dotted, "" for the table) and ``reason`` (one line)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _receiver(item: dict[str, Any], settings: Settings, templates: TemplateSet | None = None) -> Receiver:
    """One ``[[receivers]]`` table as a Receiver: its type from the registry (unknown: the known types are
    named), the type's own fields validated by the type's ``Options``, then the common fields; the type gets the
    settings (and refuses what it cannot work without). Raises _FieldError."""
    if "type" not in item:
        raise _FieldError("type", f"missing; one of {', '.join(known_types())}")
    try:
        kind = receiver_type(item["type"])
    except ValueError as exc:
        raise _FieldError("type", str(exc)) from None
    own = {k: v for k, v in item.items() if k not in Receiver.model_fields}
    try:
        options = kind.Options.model_validate(own)
    except ValidationError as exc:
        raise _FieldError(*first_error(exc, "", [*kind.Options.model_fields, *Receiver.model_fields])
                          .removeprefix(".").split(": ", 1)) from None
    common = {k: v for k, v in item.items() if k in Receiver.model_fields and k != "options"}
    try:
        return Receiver.model_validate({**common, "options": options},
                                       context={"settings": settings, "templates": templates})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise _FieldError(field, err["msg"].removeprefix("Value error, ")) from None
    except TypeError as exc:
        raise _FieldError("", str(exc)) from None


def _check_escalations(where: str, rules: list[Rule], receivers: list[Receiver]) -> None:
    """Every ``escalate_to`` names a configured receiver; raises AlertingConfigError naming the table."""
    names = [r.name for r in receivers]
    known = ", ".join(names) or "none configured"
    for index, receiver in enumerate(receivers):
        if receiver.escalate_to is not None and receiver.escalate_to not in names:
            raise AlertingConfigError(f"{where}: receivers[{index}] ({receiver.name}).escalate_to: no receiver "
                                      f"{receiver.escalate_to!r} (receivers: {known})")
    for rule in rules:
        if rule.escalate_to is not None and rule.escalate_to not in names:
            raise AlertingConfigError(f"{where}: rules.{rule.name}.escalate_to: no receiver {rule.escalate_to!r} "
                                      f"(receivers: {known})")


def load_alerting(settings: Settings) -> AlertingConfig:
    """Read ``settings.alerting_file`` (if set) and the receiver settings; raise AlertingConfigError."""
    try:
        return _load(settings)
    except AlertingConfigError as exc:
        raise AlertingConfigError(_one_line(exc)) from None
    except RecursionError:  # a value nested too deeply for validation (the TOML parser's own limit is caught)
        where = settings.alerting_file or "alerting"
        raise AlertingConfigError(f"{where}: a value is nested too deeply") from None


def _load(settings: Settings) -> AlertingConfig:
    data: dict[str, Any] = {}
    where = "alerting"
    if settings.alerting_file:
        path = Path(settings.alerting_file)
        where = str(path)
        data = _read(path)
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise AlertingConfigError(f"{where}: unknown table(s) {unknown}; expected {', '.join(TABLES)}")
    templates = _templates(data.get("templates"), where, settings)
    try:
        intervals = parse_time_intervals(data.get("time_intervals", []))
    except IntervalError as exc:
        raise AlertingConfigError(f"{where}: {exc}") from None
    defaults_data = data.get("defaults", {})
    if not isinstance(defaults_data, dict):
        raise AlertingConfigError(f"{where}: defaults: must be a table ([defaults] with group_wait = \"10s\", ...), "
                                  f"not {_kind(defaults_data)}")
    try:
        defaults = Defaults(**defaults_data)
    except (ValidationError, ValueError) as exc:
        message = first_error(exc, "defaults", Defaults.model_fields) if isinstance(exc, ValidationError) \
            else f"defaults: {exc}"
        raise AlertingConfigError(f"{where}: {message}") from None
    tolerance, least = defaults.for_outage_tolerance, MIN_TOLERANCE_INTERVALS * settings.sample_interval
    if tolerance is not None and tolerance < least:
        raise AlertingConfigError(
            f"{where}: defaults.for_outage_tolerance: {tolerance:g} s is shorter than {MIN_TOLERANCE_INTERVALS} "
            f"sample intervals (REPORTER_SAMPLE_INTERVAL = {settings.sample_interval:g} s), so every sample would "
            f"restart pending `for` windows; the minimum is {least:g}s")
    rules_data = data.get("rules", {})
    if isinstance(rules_data, list) and all(isinstance(item, dict) for item in rules_data):
        raise AlertingConfigError(f"{where}: rules: must be a table of rules, one [rules.NAME] each "
                                  f"(e.g. [rules.cpu_high]), not an array{' ([[rules]])' if rules_data else ''}")
    if not isinstance(rules_data, dict):
        raise AlertingConfigError(f"{where}: rules: must be a table of rules, one [rules.NAME] each "
                                  f"(e.g. [rules.cpu_high]), not {_kind(rules_data)}")
    try:
        rules = build_rules(rules_data, settings.ai_features)
    except ValueError as exc:
        raise AlertingConfigError(f"{where}: {exc}") from None
    receivers_data = data.get("receivers", [])
    if not isinstance(receivers_data, list):
        raise AlertingConfigError(f"{where}: receivers: must be an array of tables, one [[receivers]] each, "
                                  f"not {_kind(receivers_data)}")
    receivers_data = list(receivers_data)
    env: dict[int, dict[str, str]] = {}  # receivers made from settings: field -> the setting that gave it
    if settings.slack_webhook_url:
        env[len(receivers_data)] = {"url": "REPORTER_SLACK_WEBHOOK_URL"}
        receivers_data.append({"name": "slack", "type": "slack", "url": settings.slack_webhook_url})
    if settings.webhook_url:
        env[len(receivers_data)] = {"url": "REPORTER_WEBHOOK_URL", "secret": "REPORTER_WEBHOOK_SECRET"}
        receivers_data.append({"name": "webhook", "type": "webhook", "url": settings.webhook_url,
                               "secret": settings.webhook_secret})
    receivers = []
    for index, item in enumerate(receivers_data):
        if not isinstance(item, dict):
            raise AlertingConfigError(f"{where}: receivers[{index}]: must be a table ([[receivers]] with name, "
                                      f"type and the type's fields), not {_kind(item)}")
        label = f"receivers[{index}]" + (f" ({item.get('name')})" if item.get("name") else "")
        try:
            receivers.append(_receiver(item, settings, templates))
        except _FieldError as exc:
            setting = env.get(index, {}).get(exc.field)
            raise AlertingConfigError(f"{setting}: {exc.reason}" if setting else
                                      f"{where}: {label}{'.' + exc.field if exc.field else ''}: {exc.reason}") \
                from None
        try:
            receivers[-1].bind_intervals(intervals)
        except ValueError as exc:
            raise AlertingConfigError(f"{where}: {label}.{exc}") from None
        backoff_max = receivers[-1].backoff_max
        if backoff_max is not None and backoff_max > defaults.max_age:
            raise AlertingConfigError(f"{where}: {label}.backoff_max: {backoff_max:g} s must not exceed "
                                      f"defaults.max_age ({defaults.max_age:g} s)")
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise AlertingConfigError(f"{where}: receiver names repeat: {names}")
    try:
        inhibit_rules = parse_rules(data.get("inhibit_rules", []))
    except ValueError as exc:
        raise AlertingConfigError(f"{where}: {exc}") from None
    _check_escalations(where, rules, receivers)
    for receiver in receivers:
        register_secrets(receiver.secret_values())
    return AlertingConfig(defaults=defaults, rules=rules, receivers=receivers,
                          inhibit_rules=[*(DEFAULT_RULES if defaults.default_inhibit_rules else ()), *inhibit_rules],
                          templates=templates, time_intervals=intervals)


def _templates(table: Any, where: str, settings: Settings) -> TemplateSet | None:
    """The ``[templates]`` table's folder loaded and checked (None without the table); ``dir`` relative to the
    alerting file's folder. Raises AlertingConfigError naming the field, or the template file and line."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise AlertingConfigError(f"{where}: templates: must be a table ([templates] with dir = \"...\"), "
                                  f"not {_kind(table)}")
    unknown = sorted(set(table) - {"dir"})
    if unknown:
        raise AlertingConfigError(f"{where}: templates: unknown field(s) {unknown}; expected dir")
    folder = table.get("dir")
    if not isinstance(folder, str) or not folder.strip():
        shown = "missing" if folder is None else f"must be a folder's path, not {_kind(folder)}"
        raise AlertingConfigError(f"{where}: templates.dir: {shown}")
    from reporter.notify.templates import TemplateError, TemplateSet  # loads Jinja2: only with templates

    path = Path(folder).expanduser()
    if not path.is_absolute() and settings.alerting_file:
        path = Path(settings.alerting_file).resolve().parent / path
    try:
        return TemplateSet.load(path, settings.tz)
    except TemplateError as exc:
        raise AlertingConfigError(f"{where}: templates.dir: {exc}") from None
