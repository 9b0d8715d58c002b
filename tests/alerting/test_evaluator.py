import logging

import pytest

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.model import AlertState
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertStore
from reporter.snapshot import NOT_PROBED, OllamaHealth, ServiceHealth
from reporter.store.history import History
from tests.conftest import fill
from tests.snapshots import FEATURES, at, snapshot, window


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
    no_data = next(a for a in ev.active() if a.alertname == "no_data")
    assert no_data.labels["rule"] == "cpu_high"
    out = run(ev, [(920, snapshot(920, cpu=10))])
    assert sorted(out) == [(920, "cpu_high", "resolved"), (920, "no_data", "resolved")]


def test_service_down_one_alert_per_service(history):
    ev = evaluator(history)
    out = run(ev, [(t, snapshot(t, down=("redis", "ollama"))) for t in range(0, 40, 10)])
    assert sorted(out) == [(30, "service_down", "firing")] * 2  # model_unavailable's `for` is 1 minute
    services = sorted(a.labels["service"] for a in ev.active() if a.alertname == "service_down")
    assert services == ["ollama", "redis"]


def test_a_service_not_probed_on_the_host_raises_neither_service_down_nor_no_data(history):
    ev = evaluator(history, no_data_for="10m")
    unprobed = snapshot(0).services.model_copy(update={
        "database": ServiceHealth(error=NOT_PROBED), "ollama": OllamaHealth(model="mistral:7b", error=NOT_PROBED)})
    out = run(ev, [(t, snapshot(t, services=unprobed)) for t in range(0, 1300, 10)])
    assert out == [] and ev.active() == []  # 20 min: no service_down, no model_unavailable, no no_data


@pytest.mark.parametrize("rule, field, threshold, for_s", [
    ("memory_high", "memory", 95, 120), ("disk_high", "disk", 90, 300)])
def test_memory_and_disk_high_fire_after_their_for_and_not_at_the_threshold(history, rule, field, threshold, for_s):
    ev = evaluator(history)
    at_threshold = [(t, snapshot(t, **{field: threshold})) for t in range(0, for_s + 120, 10)]
    assert run(ev, at_threshold) == []  # `>`: the threshold itself is not above it
    start = for_s + 120
    above = [(t, snapshot(t, **{field: threshold + 0.5})) for t in range(start, start + for_s + 10, 10)]
    assert run(ev, above) == [(start + for_s, rule, "firing")]  # not one sample before its `for`
    end = start + for_s + 10
    assert run(ev, [(end, snapshot(end, **{field: threshold - 1}))]) == [(end, rule, "resolved")]


def test_model_unavailable_fires_after_a_minute_and_resolves_when_listed_again(history):
    ev = evaluator(history)
    assert run(ev, [(t, snapshot(t, model=True)) for t in range(0, 120, 10)]) == []
    out = run(ev, [(t, snapshot(t, model=False)) for t in range(120, 190, 10)])
    assert out == [(180, "model_unavailable", "firing")]  # Ollama up, the model not listed, for 1 minute
    assert state_of(ev, "service_down") is None
    assert run(ev, [(190, snapshot(190, model=True))]) == [(190, "model_unavailable", "resolved")]


def test_model_unavailable_does_not_fire_on_a_shorter_gap(history):
    ev = evaluator(history)
    samples = [(t, snapshot(t, model=(t // 60) % 2 == 1)) for t in range(0, 600, 10)]  # 50 s missing, 60 s back
    assert [e for e in run(ev, samples) if e[1] == "model_unavailable"] == []


def test_ai_error_spike_fires_at_ten_percent_of_twenty_requests_without_a_baseline(history):
    ev = evaluator(history)
    assert run(ev, [(0, snapshot(0, window=window(20, success_rate=90.5)))]) == []  # 9.5 % errors
    assert run(ev, [(10, snapshot(10, window=window(19, success_rate=80)))]) == []  # too few requests
    assert run(ev, [(20, snapshot(20, window=window(20, success_rate=90)))]) == [(20, "ai_error_spike", "firing")]
    spike = next(a for a in ev.active() if a.alertname == "ai_error_spike")
    assert "10" in spike.annotations["description"]
    assert run(ev, [(30, snapshot(30, window=window(20, success_rate=99)))]) == [(30, "ai_error_spike", "resolved")]


def test_ai_latency_needs_five_requests(history):
    ev = evaluator(history)
    assert run(ev, [(0, snapshot(0, window=window(3, avg_time=12)))]) == []
    assert run(ev, [(10, snapshot(10, window=window(5, avg_time=12)))]) == [(10, "ai_latency_high", "firing")]
    latency = next(a for a in ev.active() if a.alertname == "ai_latency_high")
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


def state_of(ev, name):
    return {a.alertname: str(a.state) for a in ev.active()}.get(name)


def test_pending_window_restarts_after_25_min_of_downtime(history):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 200, 10)])  # pending since 0
    ev = evaluator(history)  # restarted 25 min after the last sample
    assert run(ev, [(1690, snapshot(1690, cpu=95))]) == []  # unobserved time does not count as held
    assert state_of(ev, "cpu_high") == "pending" and ev.active()[0].active_at == at(1690)
    assert run(ev, [(t, snapshot(t, cpu=95)) for t in range(1700, 2000, 10)]) == [(1990, "cpu_high", "firing")]
    events = [(e["state"], e["at"]) for e in ev.store.events(at(0), at(3000)) if e["rule"] == "cpu_high"]
    assert events == [("pending", at(0)), ("firing", at(1990))]


def test_restart_of_a_few_seconds_keeps_the_pending_window(history):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 200, 10)])
    ev = evaluator(history)  # back 5 s after the sample due at 200
    assert run(ev, [(t, snapshot(t, cpu=95)) for t in range(205, 315, 10)]) == [(305, "cpu_high", "firing")]
    assert ev.active()[0].active_at == at(0)


def test_gap_in_sampling_without_restart_restarts_the_pending_window(history):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 110, 10)])
    assert run(ev, [(1600, snapshot(1600, cpu=95))]) == []  # sampling hung for 25 min
    assert ev.active()[0].active_at == at(1600)
    ev = evaluator(history)  # the restarted window is what is stored
    assert ev.active()[0].active_at == at(1600)


def test_gap_of_three_intervals_keeps_the_window_and_the_tolerance_is_a_default(history):
    ev = evaluator(history)
    run(ev, [(0, snapshot(0, cpu=95)), (30, snapshot(30, cpu=95))])  # one gap of 3 x 10 s: kept
    assert ev.active()[0].active_at == at(0)
    ev = Evaluator(build_rules({}, FEATURES), Defaults(), AlertStore(history.engine), history,
                   __import__("zoneinfo").ZoneInfo("UTC"), FEATURES, sample_interval=60)
    assert ev.gap_tolerance == 180
    assert evaluator(history).gap_tolerance == 30
    assert Evaluator(build_rules({}, FEATURES), Defaults(), AlertStore(history.engine), history,
                     __import__("zoneinfo").ZoneInfo("UTC"), FEATURES, sample_interval=1).gap_tolerance == 10
    run(ev, [(210, snapshot(210, cpu=95))])  # 180 s after the last sample at 30
    assert ev.active()[0].active_at == at(0)
    ev = evaluator(history, for_outage_tolerance="30m")  # a restart after 25 min then keeps it
    assert run(ev, [(1710, snapshot(1710, cpu=95))]) == [(1710, "cpu_high", "firing")]


def test_firing_alert_stays_firing_across_downtime(history):
    ev = evaluator(history)
    assert run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 310, 10)]) == [(300, "cpu_high", "firing")]
    ev = evaluator(history)
    assert run(ev, [(1800, snapshot(1800, cpu=95))]) == []
    assert state_of(ev, "cpu_high") == "firing" and ev.active()[0].fired_at == at(300)
    assert run(ev, [(1810, snapshot(1810, cpu=10))]) == [(1810, "cpu_high", "resolved")]


def test_downtime_is_measured_from_the_stored_samples_of_an_older_history(history):
    ev = evaluator(history)
    for t in (0, 10, 20):  # as the daemon does: store the sample, then evaluate it
        history.write(snapshot(t, cpu=95))
        run(ev, [(t, snapshot(t, cpu=95))])
    with history.engine.begin() as conn:  # a history written before the evaluation time was stored
        conn.execute(history.meta.delete())
    ev = evaluator(history)
    assert run(ev, [(1520, snapshot(1520, cpu=95))]) == []
    assert ev.active()[0].active_at == at(1520)


@pytest.mark.parametrize("step", [600, -600])
def test_clock_step_moves_the_pending_window(history, step):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 110, 10)])
    ev.shift_clock(step)  # the wall clock stepped between the samples at 100 and 110
    out = run(ev, [(t + step, snapshot(t + step, cpu=95)) for t in range(110, 400, 10)])
    assert out == [(300 + step, "cpu_high", "firing")]  # 300 real seconds after the first 95
    assert ev.active()[0].active_at == at(step)
    assert evaluator(history).active()[0].active_at == at(step)  # stored moved


def test_downtime_counts_from_the_earlier_of_stored_samples_and_evaluation_time(history):
    ev = evaluator(history)
    for t in (0, 10, 20):
        history.write(snapshot(t, cpu=95))
        run(ev, [(t, snapshot(t, cpu=95))])
    history.set_meta("alerts_evaluated_at", at(1500).isoformat())  # later than any stored sample
    ev = evaluator(history)
    assert run(ev, [(1520, snapshot(1520, cpu=95))]) == []  # 1500 s after the last stored sample
    assert ev.active()[0].active_at == at(1520)


def test_full_disk_evaluation_goes_on_and_changes_are_saved_in_order_when_writable(tmpfs, caplog):
    """The history on a real filesystem that fills up: state changes are kept in memory, then saved oldest
    first with their own times by the first evaluation that can write; one log line each way."""
    caplog.set_level(logging.INFO, "reporter")
    history = History(f"sqlite:///{tmpfs / 'h.db'}", FEATURES)
    try:
        ev = evaluator(history)
        assert run(ev, [(t, snapshot(t, cpu=95)) for t in range(0, 310, 10)]) == [(300, "cpu_high", "firing")]
        filler = fill(tmpfs)
        assert ev.evaluate(snapshot(310, cpu=80)) == []  # resolved, in memory only
        assert ev.evaluate(snapshot(320, cpu=95)) == []  # a new episode starts, in memory only
        assert [(a.alertname, str(a.state)) for a in ev.active()] == [("cpu_high", "pending")]
        assert "database or disk is full" in history.health.error and str(tmpfs) in history.health.error
        for t in range(330, 400, 10):
            assert ev.evaluate(snapshot(t, cpu=95)) == []
        stored = AlertStore(history.engine).load()
        assert [str(r.state) for r in stored.values() if r.rule == "cpu_high"] == ["firing"]  # not writable yet
        filler.unlink()
        saved = ev.evaluate(snapshot(400, cpu=95))
        assert [(r.resolved_at, str(r.state)) for r in saved if r.rule == "cpu_high"] == [
            (at(310), "inactive"), (None, "pending")]
        assert history.health.error is None
        events = [(e["state"], e["at"]) for e in AlertStore(history.engine).events(at(0), at(1000))
                  if e["rule"] == "cpu_high"]
        assert events == [("pending", at(0)), ("firing", at(300)), ("resolved", at(310)), ("pending", at(320))]
        assert str(AlertStore(history.engine).load()[saved[-1].fingerprint].state) == "pending"
    finally:
        history.close()
    failing = [r for r in caplog.records if "history: cannot write" in r.getMessage()]
    assert len(failing) == 1 and failing[0].levelname == "ERROR" and failing[0].exc_info is None
    assert len([r for r in caplog.records if "history: recovered after" in r.getMessage()]) == 1


def test_pending_window_later_than_the_clock_after_a_restart_starts_again_now(history, caplog):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(3600, 3700, 10)])  # pending since 09:00
    ev = evaluator(history)  # restarted under a clock one hour earlier (stepped back while it was down)
    with caplog.at_level(logging.INFO, logger="reporter"):
        assert run(ev, [(0, snapshot(0, cpu=95))]) == []
    assert ev.active()[0].active_at == at(0)  # not 1 h in the future
    said = [r.getMessage() for r in caplog.records if "stepped back" in r.getMessage()]
    assert len(said) == 1 and "cpu_high" in said[0] and "3600 s" in said[0]
    assert evaluator(history).active()[0].active_at == at(0)  # stored
    assert run(ev, [(t, snapshot(t, cpu=95)) for t in range(10, 310, 10)]) == [(300, "cpu_high", "firing")]


def test_firing_time_later_than_the_clock_after_a_restart_becomes_now(history):
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, cpu=95)) for t in range(3600, 3910, 10)])  # firing since 09:05
    ev = evaluator(history)
    assert run(ev, [(0, snapshot(0, cpu=95))]) == []
    assert ev.active()[0].state == AlertState.FIRING and ev.active()[0].fired_at == at(0)
    assert evaluator(history).active()[0].fired_at == at(0)
    assert run(ev, [(10, snapshot(10, cpu=10))]) == [(10, "cpu_high", "resolved")]


def test_ai_error_spike_needs_three_times_the_previous_hours_error_rate(history):
    from datetime import timedelta

    from reporter.base.ms import to_ms

    with history.engine.begin() as conn:  # the hour before the 5-minute window: 5 % errors on grammar
        for i in range(61):
            conn.execute(history._insert, {"ts": to_ms(at(-3900) + timedelta(minutes=i)),
                                           "ai_grammar_requests": 20.0 * i, "ai_grammar_success": 19.0 * i})
    ev = evaluator(history)

    def spikes(t, success_rate):
        return [e for e in run(ev, [(t, snapshot(t, window=window(100, success_rate=success_rate)))])
                if e[1] == "ai_error_spike"]

    assert spikes(0, 86) == []  # 14 % errors: above 10 % but under 3 x the hour's 5 %
    assert spikes(10, 84) == [(10, "ai_error_spike", "firing")]  # 16 %


def test_firing_and_resolved_log_lines_name_the_alert_labels(history, caplog):
    """Two services down (or two hosts in a fleet) give two alerts of one rule: each log line names its labels,
    so "alert service_down firing" says which service and host."""
    caplog.set_level(logging.INFO, "reporter.alerting.evaluator")
    ev = evaluator(history)
    run(ev, [(t, snapshot(t, down=("redis", "ollama"))) for t in range(0, 40, 10)])
    run(ev, [(40, snapshot(40))])
    lines = sorted(r.getMessage() for r in caplog.records if r.getMessage().startswith("alert service_down"))
    assert [line.split(":")[0] for line in lines] == [
        "alert service_down{host=localhost, service=ollama} firing",
        "alert service_down{host=localhost, service=ollama} resolved",
        "alert service_down{host=localhost, service=redis} firing",
        "alert service_down{host=localhost, service=redis} resolved"]
