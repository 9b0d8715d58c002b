"""Inhibition rules with Alertmanager's semantics (``[[inhibit_rules]]`` in the alerting TOML).

A rule has ``source_matchers``, ``target_matchers`` (Alertmanager matcher syntax, see
:mod:`reporter.alerting.matchers`) and ``equal`` (label names whose values must be the same on source and
target; a label absent on both counts as equal). A *firing* alert matching the source matchers inhibits every
other alert matching the target matchers; an alert matching both never inhibits itself. Built-in defaults:
:data:`DEFAULT_RULES` (Ollama/Redis/database down, host down inhibiting that host's other alerts).

The alerting configuration (``reporter.alerting.config``) holds the defaults followed by the file's rules;
:mod:`reporter.alerting.suppression` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from reporter.alerting.matchers import Matcher

KEYS = ("source_matchers", "target_matchers", "equal")
# the rules that read the AI counters (Redis) and what Ollama serves
AI_COUNTER_RULE_NAMES = ("ai_latency_high|ai_success_low|ai_feature_success_low|ai_error_spike|ai_traffic_anomaly|"
                         "ai_throughput_drop")
AI_RULES = ('alertname=~"model_unavailable|ai_latency_high|ai_success_low|ai_error_spike|ai_traffic_anomaly|'
            'ai_throughput_drop|model_cold_loads"')  # an Ollama restart reloads the model: not a keep_alive issue
AI_COUNTER_RULES = 'alertname=~"ai_latency_high|ai_success_low|ai_error_spike|ai_traffic_anomaly|ai_throughput_drop"'


@dataclass(frozen=True)
class InhibitRule:
    """One inhibition rule; ``name`` is how it is shown in a suppression reason (``inhibit_rules[0]``). Applied
    by :func:`reporter.alerting.suppression.inhibitions`."""

    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


def parse_rule(table: object, where: str) -> InhibitRule:
    """One ``[[inhibit_rules]]`` table → rule; ValueError (one line) naming ``where`` and the field."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown key (use {', '.join(KEYS)})")

    def strings(key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}.{key}: must be a list of strings")
        return value

    matchers: dict[str, tuple[Matcher, ...]] = {}
    for key in ("source_matchers", "target_matchers"):
        items = strings(key)
        if not items:
            raise ValueError(f"{where}.{key}: needs at least one matcher")
        try:
            matchers[key] = tuple(Matcher.parse(text) for text in items)
        except ValueError as exc:
            raise ValueError(f"{where}.{key}: {exc}") from None
    return InhibitRule(where, matchers["source_matchers"], matchers["target_matchers"], tuple(strings("equal")))


def parse_rules(tables: object, where: str = "inhibit_rules") -> list[InhibitRule]:
    """The ``inhibit_rules`` array of tables → rules; ValueError naming ``inhibit_rules[i].field``."""
    if not isinstance(tables, list):
        raise ValueError(f"{where}: must be an array of tables ([[{where}]])")
    return [parse_rule(table, f"{where}[{i}]") for i, table in enumerate(tables)]


DEFAULT_RULES: tuple[InhibitRule, ...] = tuple(
    parse_rule(table, f"default:{name}")
    for name, table in (
        ("ollama_down", {"source_matchers": ["alertname=service_down", "service=ollama"],
                         "target_matchers": [AI_RULES]}),
        ("ollama_down_no_data", {"source_matchers": ["alertname=service_down", "service=ollama"],
                                 "target_matchers": ["alertname=no_data", "rule=ai_throughput_drop"]}),
        ("redis_down", {"source_matchers": ["alertname=service_down", "service=redis"],
                        "target_matchers": [AI_COUNTER_RULES]}),
        ("redis_down_no_data", {"source_matchers": ["alertname=service_down", "service=redis"],
                                "target_matchers": ["alertname=no_data", f'rule=~"{AI_COUNTER_RULE_NAMES}"']}),
        ("database_down", {"source_matchers": ["alertname=service_down", "service=database"],
                           "target_matchers": ["alertname=no_active_users"]}),
        ("database_down_no_data", {"source_matchers": ["alertname=service_down", "service=database"],
                                   "target_matchers": ["alertname=no_data", "rule=no_active_users"]}),
        ("host_down", {"source_matchers": ["alertname=host_down"], "target_matchers": ["alertname!=host_down"],
                       "equal": ["host"]}),
    )
)


def rule_table(rule: InhibitRule) -> dict[str, object]:
    """``rule`` as an ``[[inhibit_rules]]`` table plus its ``name`` (JSON-ready; :func:`rule_of_table` reads it
    back): how the rules in force travel to the report's render child."""
    return {"name": rule.name, "source_matchers": [str(m) for m in rule.source],
            "target_matchers": [str(m) for m in rule.target], "equal": list(rule.equal)}


def rule_of_table(table: dict) -> InhibitRule:
    """The rule :func:`rule_table` wrote; ValueError (one line) when the table is not one."""
    body = {k: v for k, v in table.items() if k != "name"}
    return parse_rule(body, str(table.get("name") or "inhibit_rules"))
