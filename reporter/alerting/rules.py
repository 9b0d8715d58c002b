"""Alert rules: the seed's list on by default, each overridable (or disabled) in the alerting TOML file.

A rule reads one value per instance from the snapshot (a dotted path such as ``system.cpu_percent``) or, for
``predict_linear`` and ``error_spike``, from the history; compares it with ``threshold`` using ``op``; and
fires after the condition has held for ``for``. ``each`` expands placeholders (``{service}``) into one alert
instance per value, with the value as a label. ``clear`` is a hysteresis threshold: a firing alert resolves
only once the value crosses ``clear`` (e.g. CPU fires above 90 and clears below 85); it lies on the resolving
side (``>``/``>=``: clear <= threshold; ``<``/``<=``: clear >= threshold). Overriding a default rule's threshold
without its clear moves the clear with it. ``labels`` are Prometheus label names; ``alertname`` and ``severity``
are set by the rule's fields of those names.

Every alert of a per-host rule carries the label ``host`` (the host whose snapshot it was evaluated on, see
:mod:`reporter.alerting.scope`); templates may use ``{host}`` (empty for an app-wide rule). ``host_down``
(kind ``host_down``) is built in: its value is the age of a host's last sample in sample intervals
(``host.missed_samples``); its templates may use ``{since}`` (the last sample's local time).
``receiver_failing`` (kind ``receiver_failing``) is built in too: one alert per configured receiver, labelled
``receiver``, whose value is the receiver's permanent failures since its last delivery
(``receiver.failures``, :mod:`reporter.alerting.receiver_failing`); its templates may use ``{receiver}``,
``{status_code}``, ``{error}`` and ``{response}`` (the last answer, masked).
"""

from __future__ import annotations

import itertools
import math
import operator
import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")  # a Prometheus label name
RESERVED_LABELS = {"alertname": "alertname", "severity": "severity"}  # label -> the rule field that sets it
HOST_DOWN_METRIC = "host.missed_samples"  # host_down's value: the age of a host's last sample, in sample intervals
RECEIVER_FAILING_METRIC = "receiver.failures"  # receiver_failing's value: permanent failures since the last delivery
BUILT_IN_METRICS = {"host_down": HOST_DOWN_METRIC, "receiver_failing": RECEIVER_FAILING_METRIC}  # kind -> its value
Op = Literal[">", ">=", "<", "<=", "==", "!="]


MAX_DURATION = 3650 * 86400.0  # 10 years: beyond it a time computed from the duration would not be representable
MAX_DURATION_TEXT = "3650d, 10 years"


def parse_duration(value: Any) -> float:
    """``"5m"`` -> 300.0 seconds; numbers are seconds. Units: ms, s, m, h, d. At most :data:`MAX_DURATION`
    (3650d, 10 years). Raises ValueError (not a duration, negative, not finite or too large)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (e.g. 30s, 5m, 4h)")
        seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) and not isinstance(value, str):  # digits too many for a float are too large
        raise ValueError(f"{value!r} is not a finite duration (e.g. 30s, 5m, 4h)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is too large (at most {MAX_DURATION_TEXT})")
    return seconds


COMPARISONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
               "!=": operator.ne}



def duration_text(seconds: float) -> str:
    """A duration as the alerting file writes it (the inverse of :func:`parse_duration` for whole units):
    ``1800`` -> ``30m``, ``7200`` -> ``2h``, ``90`` -> ``90s``, ``0`` -> ``0s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

def compare(op: str, value: float, threshold: float) -> bool:
    """``value <op> threshold``; KeyError for an unknown ``op``."""
    return COMPARISONS[op](value, threshold)


class _Template(string.Formatter):
    """``str.format`` limited to plain names (no attribute or index access into objects)."""

    def get_field(self, field_name, args, kwargs):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field_name):
            raise ValueError(f"template field {{{field_name}}} must be a plain name")
        return kwargs[field_name], field_name


TEMPLATE = _Template()


class Rule(BaseModel):
    """One alert rule. Durations are seconds (TOML may write ``"5m"``); thresholds in the metric's unit."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    name: str
    alertname: str | None = None
    kind: Literal["threshold", "predict_linear", "error_spike", "host_down", "anomaly", "receiver_failing",
                  "increase", "throughput_drop"] = "threshold"
    metric: str
    op: Op = ">"
    threshold: float
    clear: float | None = None
    for_seconds: float = Field(0.0, alias="for")
    severity: Literal["critical", "warning", "info"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = "{alertname}: {value} {op} {threshold}"
    description: str = "{metric} is {value} (threshold {op} {threshold})"
    each: dict[str, list[str]] = Field(default_factory=dict)
    min_count_metric: str | None = None
    min_count: float = 0.0
    # a missing min_count_metric value: missing data ("no_data", the default) or a count of 0 ("false")
    min_count_missing: Literal["no_data", "false"] = "no_data"
    enabled: bool = True
    no_data_for: float | None = None
    # predict_linear: fit over `range` seconds of history, predict `horizon` seconds ahead
    range_seconds: float = Field(6 * 3600.0, alias="range")
    horizon_seconds: float = Field(24 * 3600.0, alias="horizon")
    min_range_seconds: float = Field(3600.0, alias="min_range")
    # error_spike: value >= factor x the error rate of the previous `baseline` seconds; throughput_drop: value <
    # factor (0-1] x the median hourly rate of the last `baseline` seconds, with at least `min_range` of hours
    factor: float = 3.0
    baseline_seconds: float = Field(3600.0, alias="baseline")
    # increase: the growth of a history counter column over the last `window` seconds
    window_seconds: float = Field(3600.0, alias="window")
    # anomaly: median and MAD of the same hour of the week over the last `weeks` weeks, at least `min_weeks`
    weeks: int = Field(4, ge=1, le=52)
    min_weeks: int = Field(3, ge=1, le=52)
    # escalation (reporter.alerting.escalation): wins over the receivers' settings
    escalate_after: float | None = Field(None, gt=0)
    escalate_to: str | None = None

    @field_validator("for_seconds", "no_data_for", "range_seconds", "horizon_seconds", "min_range_seconds",
                     "baseline_seconds", "window_seconds", "escalate_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("window_seconds")
    @classmethod
    def _window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0 (e.g. 1h)")
        return value

    @field_validator("factor")
    @classmethod
    def _factor(cls, value: float, info: ValidationInfo) -> float:
        """A throughput drop fires below ``factor`` x the median: a share in (0, 1]."""
        if info.data.get("kind") == "throughput_drop" and not 0 < value <= 1:
            raise ValueError(f"{value:g} must be in (0, 1] for kind = \"throughput_drop\" (0.5: below half of "
                             f"the median)")
        return value

    @field_validator("escalate_to")
    @classmethod
    def _escalation(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A rule's ``escalate_to`` needs its ``escalate_after`` (an ``escalate_after`` alone changes the delay of
        the receivers' escalations)."""
        if value is not None and info.data.get("escalate_after") is None and "escalate_after" in info.data:
            raise ValueError('needs escalate_after on the rule too (escalate_after = "30m")')
        return value

    @field_validator("name", "alertname")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError(f"{value!r} must match [a-z][a-z0-9_]*")
        return value

    @field_validator("clear")
    @classmethod
    def _clear_side(cls, value: float | None, info: ValidationInfo) -> float | None:
        """Hysteresis lies on the resolving side: for ``>``/``>=`` clear <= threshold, for ``<``/``<=``
        clear >= threshold (otherwise the alert would resolve while the condition still holds)."""
        op, threshold = info.data.get("op"), info.data.get("threshold")
        if value is None or threshold is None:
            return value
        if op in (">", ">=") and value > threshold:
            raise ValueError(f"{value:g} is above the threshold ({op} {threshold:g}); for {op} the alert clears "
                             f"when the value falls to clear, so clear must be <= threshold")
        if op in ("<", "<=") and value < threshold:
            raise ValueError(f"{value:g} is below the threshold ({op} {threshold:g}); for {op} the alert clears "
                             f"when the value rises to clear, so clear must be >= threshold")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name in RESERVED_LABELS:
                raise ValueError(f"{name!r} is set by the rule's {RESERVED_LABELS[name]} field, not by labels; "
                                 f"write {RESERVED_LABELS[name]} = \"...\" in the rule")
            if not LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not "
                                 f"starting with __)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        placeholders = {f for _, f, _, _ in string.Formatter().parse(self.metric) if f}
        if placeholders != set(self.each):
            raise ValueError(f"metric placeholders {sorted(placeholders)} must match 'each' keys {sorted(self.each)}")
        for text in (self.summary, self.description):
            try:
                TEMPLATE.format(text, **{k: "" for k in self.template_names()})
            except (KeyError, ValueError, IndexError) as exc:
                raise ValueError(f"template {text!r}: unknown field {exc}") from None
        if self.clear is not None and self.op in ("==", "!="):
            raise ValueError("'clear' only applies to <, <=, >, >=")
        return self

    def template_names(self) -> set[str]:
        """Names a summary/description template may use."""
        extra = {"host_down": {"since"}, "receiver_failing": {"receiver", "status_code", "error", "response"},
                 "increase": {"window"}, "throughput_drop": {"baseline", "limit"}}.get(self.kind, set())
        return {"alertname", "value", "op", "threshold", "clear", "metric", "for", "severity", "host",
                *extra, *self.each, *self.labels}

    @property
    def alert_name(self) -> str:
        """The ``alertname`` label (defaults to the rule's name)."""
        return self.alertname or self.name

    def instances(self) -> list[tuple[dict[str, str], str, str | None]]:
        """``[(instance labels, metric path, min-count path), ...]`` after expanding ``each``."""
        if not self.each:
            return [({}, self.metric, self.min_count_metric)]
        keys = sorted(self.each)
        result = []
        for values in itertools.product(*(self.each[k] for k in keys)):
            labels = dict(zip(keys, values, strict=True))
            guard = self.min_count_metric.format(**labels) if self.min_count_metric else None
            result.append((labels, self.metric.format(**labels), guard))
        return result

    def still_true(self, value: float) -> bool:
        """For a firing alert: the condition with hysteresis (``clear``) applied."""
        if self.clear is None:
            return compare(self.op, value, self.threshold)
        return value >= self.clear if self.op in (">", ">=") else value <= self.clear


def default_rules(features: list[str], services: tuple[str, ...] = ("database", "redis", "ollama")) -> dict[str, dict]:
    """The seed's alert list as rule definitions (plain dicts, merged with the file's overrides), with the AI
    service's rules of issue 13 (:mod:`reporter.alerting.ai_service_rules`)."""
    from reporter.alerting.ai_service_rules import ai_service_rules

    window = "ai.windows.5m"
    return {
        "cpu_high": dict(metric="system.cpu_percent", op=">", threshold=90, clear=85, **{"for": "5m"},
                         severity="critical", summary="CPU above {threshold}% for 5 minutes",
                         description="CPU is at {value}% (fires above {threshold}%, clears below {clear}%)."),
        "memory_high": dict(metric="system.memory_percent", op=">", threshold=95, **{"for": "2m"},
                            severity="critical", summary="Memory above {threshold}%",
                            description="Memory use is {value}% (threshold {threshold}%)."),
        "disk_high": dict(metric="system.disk_percent", op=">", threshold=90, **{"for": "5m"}, severity="warning",
                          summary="Disk above {threshold}%", description="Disk use is {value}% (threshold {threshold}%)."),
        "service_down": dict(metric="services.{service}.up", op="==", threshold=0, **{"for": "30s"},
                             severity="critical", each={"service": list(services)},
                             summary="{service} is down", description="The {service} probe has failed for 30 s."),
        "ai_latency_high": dict(metric=f"{window}.avg_response_time", op=">", threshold=10, severity="warning",
                                min_count_metric=f"{window}.requests", min_count=5,
                                summary="AI response time above {threshold} s",
                                description="Average AI response time over 5 minutes is {value} s "
                                            "(threshold {threshold} s)."),
        "ai_success_low": dict(metric=f"{window}.success_rate", op="<", threshold=90, severity="critical",
                               min_count_metric=f"{window}.requests", min_count=20,
                               summary="AI success rate below {threshold}%",
                               description="AI success rate over 5 minutes is {value}% (threshold {threshold}%)."),
        "ai_feature_success_low": dict(alertname="ai_success_low", metric=f"{window}.features.{{feature}}.success_rate",
                                       op="<", threshold=90, severity="critical", each={"feature": list(features)},
                                       min_count_metric=f"{window}.features.{{feature}}.requests", min_count=20,
                                       summary="AI success rate of {feature} below {threshold}%",
                                       description="Success rate of {feature} over 5 minutes is {value}% "
                                                   "(threshold {threshold}%)."),
        "model_unavailable": dict(metric="services.ollama.is_available", op="==", threshold=0, **{"for": "1m"},
                                  severity="critical", summary="Model not available in Ollama",
                                  description="The configured model is not listed by Ollama (or Ollama is down)."),
        "ai_error_spike": dict(kind="error_spike", metric=f"{window}.error_rate", op=">=", threshold=10, factor=3,
                               min_count_metric=f"{window}.requests", min_count=20, severity="warning",
                               summary="AI error rate spike",
                               description="AI error rate over 5 minutes is {value}%, at least {threshold}% and 3x "
                                           "the previous hour's."),
        "no_active_users": dict(metric="usage.active_users_1h", op="==", threshold=0, **{"for": "1h"},
                                severity="warning", summary="No active users for an hour",
                                description="No user has been active in the last hour for an hour."),
        "disk_full_soon": dict(kind="predict_linear", metric="disk_percent", op=">=", threshold=100,
                               severity="warning", summary="Disk predicted to fill within 24 h",
                               description="A linear fit over the last 6 h predicts {value}% disk use in 24 h."),
        "memory_full_soon": dict(kind="predict_linear", metric="memory_percent", op=">=", threshold=100,
                                 severity="warning", summary="Memory predicted to fill within 24 h",
                                 description="A linear fit over the last 6 h predicts {value}% memory use in "
                                             "24 h."),
        "ai_traffic_anomaly": dict(kind="anomaly", metric=f"{window}.requests", op=">", threshold=0, factor=3,
                                   weeks=4, min_weeks=3, min_count=10, severity="warning",
                                   summary="Unusual AI traffic: {value} requests in 5 minutes",
                                   description="{value} AI requests in 5 minutes, far from the median of this hour "
                                               "of the week over the last 4 weeks."),
        **ai_service_rules(window),
        "host_down": dict(kind="host_down", metric=HOST_DOWN_METRIC, op=">", threshold=3, severity="critical",
                          summary="{host} is down: no sample since {since}",
                          description="Host {host} has stored no sample for {value} sample intervals (fires "
                                      "above {threshold}); check that its reporter runs and reaches the store."),
        "receiver_failing": dict(kind="receiver_failing", metric=RECEIVER_FAILING_METRIC, op=">=", threshold=3,
                                 severity="warning",
                                 summary="Receiver {receiver} is failing: {error}",
                                 description="Notifications to receiver {receiver} fail permanently: {value} in a "
                                             "row since its last delivery, the last answered {status_code} "
                                             "({response}). They are not retried: check its webhook URL or token, "
                                             "then run `reporter test-alert --receiver {receiver}`."),
    }


def build_rules(overrides: dict[str, dict], features: list[str]) -> list[Rule]:
    """Merge file overrides into the defaults and validate; disabled rules are left out.

    Raises ValueError naming the rule and field (``rules.cpu_high.threshold: ...``), including a metric path
    the snapshot does not have (with the closest one that exists).
    """
    from pydantic import ValidationError

    from reporter.base.validation import field_error

    merged = default_rules(features)
    for name, override in overrides.items():
        if not isinstance(override, dict):
            raise ValueError(f"rules.{name}: must be a table ([rules.{name}] with metric, op, threshold...)")
        merged[name] = {**merged.get(name, {}), **override}
        default = default_rules(features).get(name, {})
        if "clear" in default and "clear" not in override and {"threshold", "op"} & override.keys():
            merged[name]["clear"] = _moved_clear(default, merged[name])
    rules = []
    for name, definition in merged.items():
        if definition.get("kind") == "throughput_drop":  # its limit is factor x the baseline median
            for field in ("threshold", "op", "clear"):
                if field in overrides.get(name, {}):
                    raise ValueError(f"rules.{name}.{field}: not read by kind = \"throughput_drop\" (it fires "
                                     f"below factor x the baseline median; set factor)")
            definition = {"threshold": 0, "op": "<", **definition}
        try:
            rule = Rule(name=name, **definition)
        except ValidationError as exc:
            field, reason = field_error(exc, Rule.model_fields)
            raise ValueError(f"rules.{name}.{field or '(rule)'}: {reason}") from None
        except TypeError as exc:
            raise ValueError(f"rules.{name}: {exc}") from None
        if rule.enabled:
            check_paths(rule, features)
            rules.append(rule)
    return rules


def _moved_clear(default: dict, merged: dict) -> Any:
    """A default rule's ``clear`` once the file changed its threshold or op but not its clear: it keeps its
    distance to the threshold (cpu_high: fires above 90, clears below 85; threshold = 70 clears below 65); a
    changed direction (``>`` to ``<``) drops it. Non-numbers are left for validation to report."""
    threshold, op = merged.get("threshold"), merged.get("op", ">")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        return default["clear"]
    above = default.get("op", ">") in (">", ">=")
    if (op in (">", ">=")) != above or op in ("==", "!="):
        return None
    return threshold - (default["threshold"] - default["clear"])


def check_paths(rule: Rule, features: list[str]) -> None:
    """Raise ValueError when ``rule`` reads a value that does not exist: a snapshot path (threshold and
    error_spike rules, after expanding ``each``) or a history metric (predict_linear)."""
    from reporter.alerting.paths import snapshot_paths, unknown_path_message

    for kind, metric in BUILT_IN_METRICS.items():
        if rule.kind == kind or rule.metric == metric:
            if rule.kind != kind or rule.metric != metric:
                raise ValueError(f"rules.{rule.name}.metric: {metric!r} is the value of kind = \"{kind}\" rules "
                                 f"only (and they read no other)")
            return
    if rule.kind in ("predict_linear", "increase"):
        from reporter.catalog import catalog

        metrics = catalog(features)
        known = list(metrics)
        if rule.metric not in known:
            close = [m for m in known if m == rule.metric.rpartition(".")[2]
                     or metrics[m].path == rule.metric]
            hint = f"did you mean {close[0]!r}?" if close else f"history metrics: {', '.join(known)}"
            raise ValueError(f"rules.{rule.name}.metric: {rule.kind} reads a history metric; no metric "
                             f"{rule.metric!r}; {hint}")
        if rule.kind == "increase":
            from reporter.alerting.increase import counter_problem

            if (problem := counter_problem(metrics[rule.metric])) is not None:
                raise ValueError(f"rules.{rule.name}.metric: {problem}")
        return
    known = snapshot_paths(features)
    for labels, path, guard in rule.instances():
        where = f" ({', '.join(f'{k}={v}' for k, v in labels.items())})" if labels else ""
        if path not in known:
            raise ValueError(f"rules.{rule.name}.metric{where}: {unknown_path_message(path, known)}")
        if guard is not None and guard not in known:
            raise ValueError(f"rules.{rule.name}.min_count_metric{where}: {unknown_path_message(guard, known)}")
