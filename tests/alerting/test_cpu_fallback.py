"""model_cpu_fallback: the configured model loaded with part of it outside GPU memory for 5 minutes (critical)."""

from __future__ import annotations

import pytest

from reporter.alerting.model import AlertState
from reporter.alerting.rules import build_rules
from reporter.snapshot import OllamaHealth, ServiceHealth, Services
from tests.alerting.test_evaluator import evaluator, run
from tests.snapshots import FEATURES, snapshot


def ollama(loaded: bool | None, ratio: float | None, up: bool = True) -> Services:
    """Services with Ollama's /api/ps view of the configured model: ``loaded`` and its CPU-offload ``ratio``."""
    return Services(database=ServiceHealth(up=True), redis=ServiceHealth(up=True),
                    ollama=OllamaHealth(model="mistral:7b", up=up, is_available=up, model_loaded=loaded,
                                        model_cpu_offload_ratio=ratio))


def fallback(t: float, loaded: bool | None = True, ratio: float | None = 0.4):
    return t, snapshot(t, services=ollama(loaded, ratio))


def ours(ev, name="model_cpu_fallback"):
    return [(r.alertname, str(r.state)) for r in ev.records.values()
            if r.rule == name and (r.state != AlertState.INACTIVE or r.alertname == "no_data")]


def test_fires_after_five_minutes_then_resolves_when_back_on_the_gpu(history):
    ev = evaluator(history)
    assert run(ev, [fallback(t) for t in range(0, 300, 10)]) == []  # pending for 290 s
    assert ours(ev) == [("model_cpu_fallback", "pending")]
    assert run(ev, [fallback(300)]) == [(300, "model_cpu_fallback", "firing")]
    [alert] = [r for r in ev.active() if r.alertname == "model_cpu_fallback"]
    assert alert.labels["severity"] == "critical" and alert.labels["host"] == history.host
    assert alert.value == 0.4 and "0.4 outside GPU memory" in alert.annotations["description"]
    assert run(ev, [fallback(t) for t in range(310, 600, 10)]) == []
    assert run(ev, [fallback(600, ratio=0.0)]) == [(600, "model_cpu_fallback", "resolved")]


def test_a_short_fallback_does_not_fire(history):
    ev = evaluator(history)
    samples = [fallback(t) for t in range(0, 200, 10)] + [fallback(t, ratio=0.0) for t in range(200, 900, 10)]
    assert run(ev, samples) == []
    assert ours(ev) == []


def test_resolves_when_the_model_is_unloaded(history):
    ev = evaluator(history)
    assert run(ev, [fallback(t) for t in range(0, 310, 10)]) == [(300, "model_cpu_fallback", "firing")]
    assert run(ev, [fallback(310, loaded=False, ratio=None)]) == [(310, "model_cpu_fallback", "resolved")]


def test_a_model_not_loaded_is_no_alert_and_no_no_data(history):
    ev = evaluator(history, no_data_for="1m")
    assert run(ev, [fallback(t, loaded=False, ratio=None) for t in range(0, 1800, 10)]) == []
    assert ours(ev) == [] and [r for r in ev.records.values() if r.labels.get("rule") == "model_cpu_fallback"] == []


def test_ollama_down_or_ps_unreadable_is_no_alert_and_no_no_data(history):
    """model_loaded unknown counts as not loaded (min_count_missing = "false"): Ollama down is service_down's."""
    ev = evaluator(history, no_data_for="1m")
    run(ev, [(t, snapshot(t, services=ollama(None, None, up=False))) for t in range(0, 900, 10)])
    assert ours(ev) == [] and [r for r in ev.records.values() if r.labels.get("rule") == "model_cpu_fallback"] == []
    assert "service_down" in [r.alertname for r in ev.active()]


def test_a_loaded_model_without_its_ratio_is_no_data(history):
    """The guard is the model's presence, not the ratio: a loaded model whose ratio is unreadable is missing."""
    ev = evaluator(history, no_data_for="1m")
    run(ev, [fallback(t, ratio=None) for t in range(0, 70, 10)])
    assert ("no_data", "firing") in ours(ev)


def test_overrides_threshold_for_severity_and_disable(history):
    ev = evaluator(history, {"model_cpu_fallback": {"threshold": 0.5, "for": "1m", "severity": "warning"}})
    assert run(ev, [fallback(t, ratio=0.4) for t in range(0, 600, 10)]) == []  # 0.4 is under 0.5 now
    assert run(ev, [fallback(t, ratio=0.9) for t in range(600, 670, 10)]) == [(660, "model_cpu_fallback", "firing")]
    assert [r.labels["severity"] for r in ev.active()] == ["warning"]
    ev = evaluator(history, {"model_cpu_fallback": {"enabled": False}})
    assert run(ev, [fallback(t, ratio=0.9) for t in range(0, 900, 10)]) == []


@pytest.mark.parametrize(("override", "message"), [
    ({"threshold": "some"}, "rules.model_cpu_fallback.threshold: "),
    ({"for": "soon"}, "rules.model_cpu_fallback.for: 'soon' is not a duration"),
    ({"severity": "page"}, "rules.model_cpu_fallback.severity: "),
    ({"min_count_missing": "maybe"}, "rules.model_cpu_fallback.min_count_missing: Input should be 'no_data' or"),
])
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ValueError) as exc:
        build_rules({"model_cpu_fallback": override}, FEATURES)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
