"""model_cold_loads (kind ``increase``): more than 3 loads of the model in an hour, from a history counter column."""

from __future__ import annotations

import pytest

from reporter.alerting.rules import build_rules
from reporter.base.ms import to_ms
from reporter.store.history import SampleRow
from tests.alerting.test_evaluator import evaluator
from tests.snapshots import FEATURES, at, snapshot


def store(history, points: list[tuple[float, float | None]], column: str = "ollama_model_loads") -> None:
    """Rows of ``column`` at T0 + t seconds (``points``: (t, counter value))."""
    for t, value in points:
        history.write_row(SampleRow(ts=to_ms(at(t)), values={column: value}, host=history.host))


def cold(ev, t: float, name: str = "model_cold_loads"):
    ev.evaluate(snapshot(t))
    return [(r.alertname, r.value, r.labels.get("host")) for r in ev.active() if r.rule == name]


def every(minutes: int, values: list[float], start: float = 0.0) -> list[tuple[float, float]]:
    return [(start + i * minutes * 60, v) for i, v in enumerate(values)]


def test_four_loads_in_an_hour_fire_three_do_not(history):
    store(history, every(10, [0, 1, 1, 2, 3, 3]))  # three loads in 50 minutes
    ev = evaluator(history)
    assert cold(ev, 3000) == []
    store(history, [(3300, 4)])
    ev = evaluator(history)
    [(name, value, host)] = cold(ev, 3300)
    assert (name, value, host) == ("model_cold_loads", 4, history.host)
    alert = next(r for r in ev.active() if r.rule == "model_cold_loads")
    assert alert.annotations["summary"] == "Model loaded 4 times in 1h" and alert.labels["severity"] == "warning"


def test_loads_spread_over_more_than_an_hour_do_not_fire(history):
    store(history, every(5, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    store(history, every(20, [1, 2, 3, 4, 5, 6], start=7200 + 60))  # a load every 20 minutes for 2 hours
    ev = evaluator(history)
    for t in range(7200, 7200 + 6 * 1200, 300):
        assert cold(ev, t) == [], t  # at most 3 in any hour


def test_a_counter_reset_counts_the_loads_after_it(history):
    store(history, every(10, [5, 6, 7, 0, 1, 2]))  # the reporter restarted after the third: its count began at 0
    ev = evaluator(history)
    assert cold(ev, 3000) == [("model_cold_loads", 4, history.host)]  # 6, 7, then 1, 2 (0 is the restart)


def test_no_readings_is_no_alert_and_no_no_data(history):
    ev = evaluator(history, no_data_for="1m")
    for t in range(0, 600, 10):
        assert cold(ev, t) == []
    assert [r for r in ev.records.values() if r.labels.get("rule") == "model_cold_loads"] == []


def test_overridden_to_an_app_counter_window_and_threshold(history):
    store(history, every(5, [0, 1, 2]), column="ai_grammar_cold_loads")
    ev = evaluator(history, {"model_cold_loads": {"metric": "ai_grammar_cold_loads", "threshold": 1,
                                                  "window": "30m", "severity": "critical"}})
    assert cold(ev, 600) == [("model_cold_loads", 2, None)]  # app-wide: no host label
    ev = evaluator(history, {"model_cold_loads": {"enabled": False}})
    assert cold(ev, 600) == []


@pytest.mark.parametrize(("override", "message"), [
    ({"window": "0"}, "rules.model_cold_loads.window: must be longer than 0"),
    ({"window": "an hour"}, "rules.model_cold_loads.window: 'an hour' is not a duration"),
    ({"metric": "cpu_percent"}, "rules.model_cold_loads.metric: increase reads a counter column; 'cpu_percent'"),
    ({"metric": "ollama_model_load"}, "rules.model_cold_loads.metric: increase reads a history metric; no metric"),
    ({"threshold": "three"}, "rules.model_cold_loads.threshold: "),
])
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ValueError) as exc:
        build_rules({"model_cold_loads": override}, FEATURES)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_in_a_fleet_each_hosts_counter_is_its_own(pg_schema_url):
    from reporter.store.history import History

    hosts = {name: History(pg_schema_url, FEATURES, host=name) for name in ("lead", "web2", "web3")}
    try:
        for name, values in (("lead", [0, 1, 1]), ("web2", [3, 4, 5, 6, 7]), ("web3", [0, 2])):
            store(hosts[name], every(10, values))
        ev = evaluator(hosts["lead"])
        for t in range(2400, 2410, 10):
            for name in ("web2", "web3"):
                hosts[name].write(snapshot(t, host=name))
            ev.evaluate(snapshot(t))
        assert [(r.value, r.labels["host"]) for r in ev.active() if r.rule == "model_cold_loads"] == [(4, "web2")]
    finally:
        for h in hosts.values():
            h.close()
