"""Inhibition rules: parsing, equal labels, self-inhibition, built-in defaults."""

import pytest

from reporter.alerting.inhibition import DEFAULT_RULES, parse_rules
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.state import AlertRecord
from reporter.alerting.suppression import inhibitions


def inhibited(firing, candidates, rules):
    """Index in ``candidates`` -> reason, for the candidates that the ``firing`` label sets inhibit."""
    sources = [AlertRecord(fingerprint(labels), "x", labels, state=AlertState.FIRING) for labels in firing]
    targets = [AlertRecord(fingerprint(labels), "x", labels, state=AlertState.PENDING) for labels in candidates]
    known = {r.fingerprint: r for r in targets + sources}  # a firing source listed as a candidate is the source
    found = inhibitions(known.values(), rules)
    return {i: found[t.fingerprint][1] for i, t in enumerate(targets) if t.fingerprint in found}

HOST_RULE = [{"source_matchers": ["alertname=host_down"], "target_matchers": ['severity=~"warning|critical"'],
              "equal": ["host"]}]


def test_source_inhibits_target_with_equal_labels():
    rules = parse_rules(HOST_RULE)
    source = {"alertname": "host_down", "host": "a", "severity": "critical"}
    same = {"alertname": "cpu_high", "host": "a", "severity": "warning"}
    other = {"alertname": "cpu_high", "host": "b", "severity": "warning"}
    reasons = inhibited([source], [source, same, other], rules)
    assert list(reasons) == [1]  # not itself, not the other host
    assert "inhibit_rules[0]" in reasons[1] and "host_down" in reasons[1]


def test_label_missing_on_both_counts_as_equal():
    rules = parse_rules(HOST_RULE)
    assert inhibited([{"alertname": "host_down"}], [{"alertname": "x", "severity": "warning"}], rules) == {
        0: "inhibited by inhibit_rules[0] (source: alertname=host_down)"}


def test_no_firing_source_no_inhibition():
    assert inhibited([], [{"alertname": "model_unavailable"}], DEFAULT_RULES) == {}


@pytest.mark.parametrize("source,target", [
    ({"alertname": "service_down", "service": "ollama"}, {"alertname": "model_unavailable"}),
    ({"alertname": "service_down", "service": "ollama"}, {"alertname": "ai_throughput_drop"}),
    ({"alertname": "service_down", "service": "ollama"}, {"alertname": "model_cold_loads", "host": "h"}),
    ({"alertname": "service_down", "service": "ollama"}, {"alertname": "no_data", "rule": "ai_throughput_drop"}),
    ({"alertname": "service_down", "service": "redis"}, {"alertname": "ai_throughput_drop"}),
    ({"alertname": "service_down", "service": "redis"}, {"alertname": "ai_error_spike"}),
    ({"alertname": "service_down", "service": "database"}, {"alertname": "no_active_users"}),
    ({"alertname": "host_down", "host": "h"}, {"alertname": "disk_full", "host": "h"}),
])
def test_defaults(source, target):
    assert 0 in inhibited([source], [target], DEFAULT_RULES)
    assert inhibited([{"alertname": "service_down", "service": "other"}], [target], DEFAULT_RULES) == {}


@pytest.mark.parametrize("tables,field", [
    ([{"source_matchers": ["a=~("], "target_matchers": ["b=c"]}], "inhibit_rules[0].source_matchers"),
    ([{"source_matchers": ["a=b"], "target_matchers": ["nope"]}], "inhibit_rules[0].target_matchers"),
    ([{"source_matchers": ["a=b"], "target_matchers": ["b=c"], "equl": ["x"]}], "inhibit_rules[0].equl"),
    ([{"source_matchers": ["a=b"], "target_matchers": ["b=c"], "equal": "host"}], "inhibit_rules[0].equal"),
    ([{"target_matchers": ["b=c"]}], "inhibit_rules[0].source_matchers"),
    ({"x": 1}, "inhibit_rules"),
])
def test_parse_errors_name_the_field(tables, field):
    with pytest.raises(ValueError) as info:
        parse_rules(tables)
    assert str(info.value).startswith(field + ":") and "\n" not in str(info.value)


def test_alerts_matching_both_sides_do_not_inhibit_each_other():
    """Alertmanager: an alert matching source and target is not inhibited by another matching both."""
    rules = parse_rules([{"source_matchers": ['severity="critical"'], "target_matchers": ['team="ops"']}])
    a = {"alertname": "a", "severity": "critical", "team": "ops"}
    b = {"alertname": "b", "severity": "critical", "team": "ops"}
    warning = {"alertname": "c", "severity": "warning", "team": "ops"}
    assert inhibited([a, b], [a, b, warning], rules) == {2: "inhibited by inhibit_rules[0] (source: alertname=a,team=ops)"}
