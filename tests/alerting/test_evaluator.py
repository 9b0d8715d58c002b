import pytest

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.model import AlertState
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertStore
from reporter.store.history import History
from tests.alerting.helpers import FEATURES, snapshot, window


@pytest.fixture
def history(tmp_path):
    h = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES)
    yield h
    h.close()


def evaluator(history, overrides=None, **defaults):
    rules = build_rules(overrides or {}, FEATURES)
    return Evaluator(rules, Defaults(**defaults), AlertStore(history.engine), history,
                     __import__("zoneinfo").ZoneInfo("Europe/Berlin"), FEATURES)


def events(changes):
    return [(c.alertname, str(c.state)) for c in changes if c.state != AlertState.PENDING]


def run(ev, samples):
    """Evaluate (t, snapshot) pairs; return [(t, alertname, state)] for firing/resolved transitions."""
    out = []
    for t, snap in samples:
        for record in ev.evaluate(snap):
            if record.state == AlertState.FIRING:
                out.append((t, record.alertname, "firing"))
            elif record.resolved_at is not None and record.resolved_at == snap.timestamp:
                out.append((t, record.alertname, "resolved"))
    return out


def test_cpu_flapping_never_fires_then_fires_once_and_clears_below_85(history):
    ev = evaluator(history)
    samples = [(t, snapshot(t, cpu=91 if (t // 30) % 2 == 0 else 89)) for t in range(0, 1200, 10)]
    assert run(ev, samples) == []  # 91/89 every 30 s for 20 min
    samples = [(t, snapshot(t, cpu=95)) for t in range(1200, 1200 + 360, 10)]
    assert run(ev, samples) == [(1500, "cpu_high", "firing")]  # 5 min after the first 95
    assert run(ev, [(t, snapshot(t, cpu=88)) for t in range(1560, 1700, 10)]) == []  # between 85 and 90
    assert run(ev, [(1700, snapshot(1700, cpu=80))]) == [(1700, "cpu_high", "resolved")]


def test_one_true_sample_neither_fires_nor_resolves(history):
    ev = evaluator(history)
    assert run(ev, [(0, snapshot(0, cpu=99)), (10, snapshot(10, cpu=10))]) == []
    assert ev.active() == []


def test_missing_value_neither_starts_nor_resolves_then_no_data(history):
    ev = evaluator(history, no_data_for="10m")
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 310, 10)])
    assert [a.alertname for a in ev.active() if a.state == "firing"] == ["cpu_high"]
    out = run(ev, [(t, snapshot(t, cpu=None)) for t in range(310, 910, 10)])
    assert out == []  # missing: cpu_high keeps firing, no_data not yet (10 min)
    out = run(ev, [(910, snapshot(910, cpu=None))])
    assert out == [(910, "no_data", "firing")]
    no_data = [a for a in ev.active() if a.alertname == "no_data"][0]
    assert no_data.labels["rule"] == "cpu_high"
    out = run(ev, [(920, snapshot(920, cpu=10))])
    assert sorted(out) == [(920, "cpu_high", "resolved"), (920, "no_data", "resolved")]


def test_service_down_one_alert_per_service(history):
    ev = evaluator(history)
    out = run(ev, [(t, snapshot(t, down=("redis", "ollama"))) for t in range(0, 40, 10)])
    assert sorted(out) == [(30, "model_unavailable", "firing")] * 0 + [(30, "service_down", "firing")] * 2
    services = sorted(a.labels["service"] for a in ev.active() if a.alertname == "service_down")
    assert services == ["ollama", "redis"]


def test_ai_latency_needs_five_requests(history):
    ev = evaluator(history)
    assert run(ev, [(0, snapshot(0, window=window(3, avg_time=12)))]) == []
    assert run(ev, [(10, snapshot(10, window=window(5, avg_time=12)))]) == [(10, "ai_latency_high", "firing")]
    latency = [a for a in ev.active() if a.alertname == "ai_latency_high"][0]
    assert "12 s" in latency.annotations["description"] and "10 s" in latency.annotations["description"]


def test_ai_success_low_overall_and_per_feature(history):
    ev = evaluator(history)
    low = window(100, success_rate=85, features={"quiz": (60, 85.0), "voice": (40, 85.0), "grammar": (5, 0.0)})
    run(ev, [(0, snapshot(0, window=low))])
    fired = [(a.alertname, a.labels.get("feature")) for a in ev.active()]
    assert ("ai_success_low", None) in fired
    assert ("ai_success_low", "quiz") in fired and ("ai_success_low", "voice") in fired
    assert ("ai_success_low", "grammar") not in fired  # 5 requests: below the 20-request minimum


def test_restart_inside_for_window_continues(history):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 200, 10)])
    ev = evaluator(history)  # restart: state comes back from the database
    assert [a.state for a in ev.active()] == ["pending"]
    assert run(ev, [(t, snapshot(t, cpu=95)) for t in range(200, 310, 10)]) == [(300, "cpu_high", "firing")]


def test_removed_rule_drops_its_alerts(history):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 310, 10)])
    ev = evaluator(history, {"cpu_high": {"enabled": False}})
    assert ev.active() == []
