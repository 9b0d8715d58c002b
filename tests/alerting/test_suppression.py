"""Inhibition in the alerting path: an inhibited alert is never sent while its source fires, is sent when the source
resolves first, and is listed as suppressed with the reason; silences and inhibitions side by side."""

from datetime import timedelta

import pytest

from reporter.alerting.inhibition import DEFAULT_RULES, parse_rules
from reporter.alerting.loading import AlertingConfigError, load_alerting
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.silences import Matcher, SilenceStore
from reporter.alerting.state import AlertRecord
from reporter.alerting.suppression import suppressions
from reporter.settings import Settings
from tests.alerting.helpers import Pipeline, webhook
from tests.snapshots import at


def sent(receiver, count):
    return [(a["labels"]["alertname"], a["status"]) for r in receiver.wait_for(count, 5) for a in r.json()["alerts"]]


def test_ollama_down_inhibits_model_unavailable_until_it_resolves_first(history, receiver):
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 130, 10), down=("ollama",))  # service_down from 30, model_unavailable from 60
    assert {a.alertname: a.state for a in p.evaluator.active()} == {"service_down": AlertState.FIRING,
                                                                     "model_unavailable": AlertState.FIRING}
    assert len(p.dispatch(130)) == 1  # service_down only
    p.deliver()
    assert sent(receiver, 1) == [("service_down", "firing")]
    # Ollama answers again but the model is still missing: the source resolves, the target fires on
    p.feed([140, 150], model=False)
    assert len(p.dispatch(160)) == 2
    p.deliver()
    assert sorted(sent(receiver, 3)[1:]) == [("model_unavailable", "firing"), ("service_down", "resolved")]


def test_without_the_default_rules_both_are_sent(history, receiver):
    p = Pipeline(history, [webhook(receiver)], inhibit_rules=())
    p.feed(range(0, 130, 10), down=("ollama",))
    assert len(p.dispatch(130)) == 2
    p.deliver()
    assert sorted(sent(receiver, 2)) == [("model_unavailable", "firing"), ("service_down", "firing")]


def record(labels, state=AlertState.FIRING):
    return AlertRecord(fingerprint(labels), labels["alertname"], labels, state=state)


def test_host_down_inhibits_that_hosts_alerts_only_and_reasons_say_why(history):
    down = record({"alertname": "host_down", "host": "web2", "severity": "critical"})
    disk = record({"alertname": "disk_high", "host": "web2", "severity": "warning"})
    other = record({"alertname": "disk_high", "host": "web1", "severity": "warning"})
    app = record({"alertname": "ai_latency_high", "severity": "warning"}, AlertState.PENDING)
    found = suppressions([down, disk, other, app], at(0), SilenceStore(history.engine), DEFAULT_RULES)
    assert list(found) == [disk.fingerprint]
    assert found[disk.fingerprint].inhibited_by == [down.fingerprint]
    assert found[disk.fingerprint].reason == "inhibited by default:host_down (source: alertname=host_down,host=web2)"


def test_a_pending_source_does_not_inhibit(history):
    source = record({"alertname": "service_down", "service": "redis"}, AlertState.PENDING)
    target = record({"alertname": "ai_error_spike", "severity": "warning"})
    assert suppressions([source, target], at(0), None, DEFAULT_RULES) == {}


def test_silence_and_inhibition_together_give_both_reasons(history):
    source = record({"alertname": "service_down", "service": "redis", "severity": "critical"})
    target = record({"alertname": "ai_success_low", "severity": "critical"})
    silence = SilenceStore(history.engine).add([Matcher.parse("alertname=ai_success_low")], 600, "deploy", "ops",
                                               at(0))
    found = suppressions([source, target], at(60), SilenceStore(history.engine), DEFAULT_RULES)
    assert found[target.fingerprint].silenced_by == [silence.id]
    assert found[target.fingerprint].reason == (
        f"silenced by {silence.id}; inhibited by default:redis_down (source: alertname=service_down,service=redis)")
    later = suppressions([source, target], at(0) + timedelta(seconds=700), SilenceStore(history.engine),
                         DEFAULT_RULES)
    assert later[target.fingerprint].silenced_by == []  # the silence ended; the inhibition goes on


def test_redis_down_inhibits_the_no_data_of_the_ai_rules(history):
    source = record({"alertname": "service_down", "service": "redis"})
    no_data = record({"alertname": "no_data", "rule": "ai_latency_high", "severity": "warning"})
    cpu_no_data = record({"alertname": "no_data", "rule": "cpu_high", "severity": "warning"})
    assert list(suppressions([source, no_data, cpu_no_data], at(0), None, DEFAULT_RULES)) == [no_data.fingerprint]


def write(tmp_path, text):
    path = tmp_path / "alerting.toml"
    path.write_text(text)
    return Settings(_env_file=None, alerting_file=str(path))


def test_file_rules_follow_the_defaults_and_the_defaults_can_be_turned_off(tmp_path):
    rule = '[[inhibit_rules]]\nsource_matchers = ["alertname=cpu_high"]\ntarget_matchers = ["alertname=memory_high"]\n'
    config = load_alerting(write(tmp_path, rule))
    assert [r.name for r in config.inhibit_rules] == [r.name for r in DEFAULT_RULES] + ["inhibit_rules[0]"]
    config = load_alerting(write(tmp_path, "[defaults]\ndefault_inhibit_rules = false\n" + rule))
    assert config.inhibit_rules == parse_rules([{"source_matchers": ["alertname=cpu_high"],
                                                 "target_matchers": ["alertname=memory_high"]}])


def test_a_bad_inhibit_rule_is_one_line_naming_the_field(tmp_path):
    with pytest.raises(AlertingConfigError) as info:
        load_alerting(write(tmp_path, '[[inhibit_rules]]\nsource_matchers = ["a=~("]\ntarget_matchers = ["b=c"]\n'))
    assert "alerting.toml: inhibit_rules[0].source_matchers:" in str(info.value) and "\n" not in str(info.value)
