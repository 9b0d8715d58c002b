"""Alerts of a fleet: every alert carries its host, app-wide rules once, host_down, legacy alerts, takeover."""

from __future__ import annotations

import json
import logging
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertStore
from reporter.base.ms import to_ms
from reporter.snapshot import AISection
from reporter.store.alert_schema import alert_events, alerts
from reporter.store.history import History
from tests.snapshots import FEATURES, at, snapshot

TZ = ZoneInfo("Europe/Berlin")


def evaluator(history, overrides=None, **defaults) -> Evaluator:
    return Evaluator(build_rules(overrides or {}, FEATURES), Defaults(**defaults), AlertStore(history.engine),
                     history, TZ, FEATURES)


def follower(t, **values):
    """A follower's snapshot: the app-wide sections are the leader's (ai all None, usage None)."""
    return snapshot(t, ai=AISection(model="mistral:7b", error="sampled by the leader"), usage=None, **values)


def firing(ev):
    return sorted((r.alertname, r.labels.get("host"), dict(r.labels).get("service"))
                  for r in ev.active() if r.state == AlertState.FIRING)


def events(engine):
    with engine.connect() as conn:
        rows = conn.execute(select(alert_events.c.state, alert_events.c.labels)
                            .order_by(alert_events.c.id)).all()
    return [(state, json.loads(labels).get("alertname"), json.loads(labels).get("host")) for state, labels in rows
            if state != "pending"]


@pytest.fixture
def fleet(pg_schema_url):
    """The leader's history (host ``lead``) and two other hosts writing into the same PostgreSQL schema."""
    histories = {name: History(pg_schema_url, FEATURES, host=name) for name in ("lead", "web2", "web3")}
    yield histories
    for h in histories.values():
        h.close()


def test_single_host_alerts_carry_the_host_name_and_app_wide_ones_none(tmp_path):
    h = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES, host="solo")
    try:
        ev = evaluator(h, {"no_active_users": {"for": 0}})
        for t in range(0, 310, 10):
            ev.evaluate(snapshot(t, cpu=95, active_1h=0))
        records = {r.alertname: r for r in ev.active()}
        assert records["cpu_high"].labels["host"] == "solo"
        assert records["cpu_high"].fingerprint == fingerprint(records["cpu_high"].labels)
        assert "host" not in records["no_active_users"].labels  # app-wide
        assert "{host}" not in records["cpu_high"].annotations["summary"]
    finally:
        h.close()


def test_leader_evaluates_every_hosts_snapshot_and_app_wide_rules_once(fleet):
    lead, web2, web3 = fleet["lead"], fleet["web2"], fleet["web3"]
    ev = evaluator(lead, {"no_active_users": {"for": 0}}, no_data_for="1m")
    for t in range(0, 310, 10):
        web2.write(follower(t, cpu=97, down=("redis",)))
        web3.write(follower(t, cpu=20))
        lead.write(snapshot(t, cpu=20, active_1h=0))
        ev.evaluate(snapshot(t, cpu=20, active_1h=0))
    assert firing(ev) == [("cpu_high", "web2", None), ("no_active_users", None, None),
                          ("service_down", "web2", "redis")]
    # the followers' app-wide values are missing on purpose: no no_data for them, on any host
    assert not [r for r in ev.records.values() if r.alertname == "no_data"]


def test_stale_host_is_not_evaluated_and_host_down_fires_once_then_resolves(fleet, caplog):
    lead, web2 = fleet["lead"], fleet["web2"]
    ev = evaluator(lead)
    for t in range(0, 310, 10):
        web2.write(follower(t, cpu=97))
        ev.evaluate(snapshot(t, cpu=20))
    assert firing(ev) == [("cpu_high", "web2", None)]
    for t in range(310, 600, 10):  # web2 stops writing at 300: down once its last sample is > 30 s old
        ev.evaluate(snapshot(t, cpu=20))
        if t == 330:
            assert firing(ev) == [("cpu_high", "web2", None)]
        if t == 340:
            assert firing(ev) == [("cpu_high", "web2", None), ("host_down", "web2", None)]
    down = next(r for r in ev.active() if r.alertname == "host_down")
    assert down.labels == {"alertname": "host_down", "severity": "critical", "host": "web2"}
    assert down.annotations["summary"] == "web2 is down: no sample since 2026-11-02 09:05:00 CET"
    web2.write(follower(600, cpu=10))  # back, healthy
    ev.evaluate(snapshot(600, cpu=20))
    assert firing(ev) == []
    assert events(lead.engine) == [("firing", "cpu_high", "web2"), ("firing", "host_down", "web2"),
                                   ("resolved", "cpu_high", "web2"), ("resolved", "host_down", "web2")]


def test_host_down_never_for_the_leader_itself(fleet):
    lead = fleet["lead"]
    ev = evaluator(lead)
    lead.write(snapshot(0, cpu=20))  # the leader's own row grows old: it is evaluated from memory
    for t in range(0, 200, 10):
        ev.evaluate(snapshot(t, cpu=20))
    assert ev.active() == []


def test_a_stale_hosts_firing_alert_neither_resolves_nor_repeats(fleet):
    lead, web2 = fleet["lead"], fleet["web2"]
    ev = evaluator(lead, {"host_down": {"enabled": False}})
    for t in range(0, 40, 10):
        web2.write(follower(t, down=("redis",)))
        ev.evaluate(snapshot(t))
    assert firing(ev) == [("service_down", "web2", "redis")]
    for t in range(40, 300, 10):
        ev.evaluate(snapshot(t))
    assert firing(ev) == [("service_down", "web2", "redis")]
    assert [r for r in ev.records.values() if r.alertname == "no_data"] == []


def test_predict_linear_reads_each_hosts_own_series(fleet):
    lead, web2 = fleet["lead"], fleet["web2"]
    ev = evaluator(lead)
    for i, t in enumerate(range(0, 7200 + 1, 300)):
        web2.write(follower(t, disk=50 + i))  # + 12 %/h: full within 24 h
        lead.write(snapshot(t, disk=30))
    ev.evaluate(snapshot(7200, disk=30))
    assert [(r.alertname, r.labels.get("host")) for r in ev.active()] == [("disk_full_soon", "web2")]


def test_host_down_is_configurable(fleet):
    lead, web2 = fleet["lead"], fleet["web2"]
    ev = evaluator(lead, {"host_down": {"threshold": 10, "severity": "warning"}})
    web2.write(follower(0))
    for t in range(0, 110, 10):
        ev.evaluate(snapshot(t))
    assert firing(ev) == []
    ev.evaluate(snapshot(110))
    assert [(r.alertname, r.labels["severity"]) for r in ev.active()] == [("host_down", "warning")]


def test_a_forgotten_hosts_alerts_end_once_and_it_is_monitored_again_when_it_comes_back(fleet, caplog):
    from reporter.fleet.forget import forget

    caplog.set_level(logging.INFO, logger="reporter.alerting.fleet")
    lead, web2, web3 = fleet["lead"], fleet["web2"], fleet["web3"]
    ev = evaluator(lead)
    for t in range(0, 310, 10):
        web2.write(follower(t, cpu=97))
        web3.write(follower(t, cpu=20))
        ev.evaluate(snapshot(t, cpu=20))
    for t in range(310, 360, 10):  # web2 stopped at 300: host_down fires, cpu_high stays firing
        web3.write(follower(t, cpu=20, down=("redis",) if t >= 330 else ()))  # service_down pending (for 30s)
        ev.evaluate(snapshot(t, cpu=20))
    assert firing(ev) == [("cpu_high", "web2", None), ("host_down", "web2", None)]
    assert [r.alertname for r in ev.active() if r.state == AlertState.PENDING] == ["service_down"]

    forget(lead.engine, "web2")
    forget(lead.engine, "web3")
    ev.evaluate(snapshot(360, cpu=20))
    assert ev.active() == []
    assert "host web2 is no longer in the fleet (forgotten); its alerts end: cpu_high, host_down" in caplog.text
    for t in range(370, 420, 10):  # nothing starts again, nothing is resolved twice
        ev.evaluate(snapshot(t, cpu=20))
    expected = [("firing", "cpu_high", "web2"), ("firing", "host_down", "web2"),
                ("resolved", "cpu_high", "web2"), ("resolved", "host_down", "web2")]
    assert events(lead.engine) == expected  # the pending service_down of web3 was dropped, never sent
    assert [r.alertname for r in ev.records.values()] == ["cpu_high", "host_down"]  # resolved, owed to receivers

    web2.write(follower(420, cpu=97))  # web2 starts again: a new row, its rules are evaluated again
    for t in range(420, 730, 10):
        web2.write(follower(t, cpu=97))
        ev.evaluate(snapshot(t, cpu=20))
    assert firing(ev) == [("cpu_high", "web2", None)]
    assert events(lead.engine) == [*expected, ("firing", "cpu_high", "web2")]


def test_a_new_leader_ends_the_alerts_of_a_host_forgotten_while_none_led(fleet):
    from reporter.fleet.forget import forget

    lead, web2 = fleet["lead"], fleet["web2"]
    first = evaluator(lead)
    for t in range(0, 310, 10):
        web2.write(follower(t, cpu=97))
        first.evaluate(snapshot(t, cpu=20))
    assert firing(first) == [("cpu_high", "web2", None)]
    forget(lead.engine, "web2")  # the leader stopped before its next evaluation
    second = evaluator(lead)  # the next leader loads the firing alert of a host no longer there
    assert firing(second) == [("cpu_high", "web2", None)]
    second.evaluate(snapshot(320, cpu=20))
    assert firing(second) == []
    assert events(lead.engine) == [("firing", "cpu_high", "web2"), ("resolved", "cpu_high", "web2")]


def test_unreadable_hosts_end_no_alert(fleet):
    lead, web2 = fleet["lead"], fleet["web2"]
    ev = evaluator(lead)
    for t in range(0, 310, 10):
        web2.write(follower(t, cpu=97))
        ev.evaluate(snapshot(t, cpu=20))
    assert ev.fleet is not None
    ev.fleet.registry = None  # type: ignore[assignment]  # reading the hosts fails (logged): nothing ends
    ev.evaluate(snapshot(310, cpu=20))
    assert firing(ev) == [("cpu_high", "web2", None)]


def store_legacy(engine, rule, labels, state, active_at, fired_at=None):
    """An alert record as a version without hosts stored it (no host label)."""
    fp = fingerprint(labels)
    with engine.begin() as conn:
        conn.execute(insert(alerts).values(
            fingerprint=fp, rule=rule, labels=json.dumps(labels, sort_keys=True), annotations="{}", state=state,
            active_at=to_ms(active_at), fired_at=to_ms(fired_at) if fired_at else None, resolved_at=None,
            value=95.0, updated_at=to_ms(active_at)))
    return fp


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_alerts_stored_before_hosts_continue_under_their_old_fingerprint(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'h.db'}" if kind == "sqlite" else request.getfixturevalue("pg_schema_url")
    h = History(url, FEATURES, host="solo")
    try:
        cpu = {"alertname": "cpu_high", "severity": "critical"}
        disk = {"alertname": "disk_high", "severity": "warning"}
        old_cpu = store_legacy(h.engine, "cpu_high", cpu, "firing", at(0), at(300))
        old_disk = store_legacy(h.engine, "disk_high", disk, "pending", at(100))
        ev = evaluator(h)
        for t in range(310, 400, 10):  # still high: no new alert, no second notification
            h.write(snapshot(t, cpu=95, disk=95))
            changed = ev.evaluate(snapshot(t, cpu=95, disk=95))
            assert [r.fingerprint for r in changed if r.state == AlertState.FIRING] == \
                ([old_disk] if t == 400 else [])
        assert sorted(r.fingerprint for r in ev.active()) == sorted([old_cpu, old_disk])
        ev.evaluate(snapshot(400, cpu=95, disk=95))  # disk_high pending since 100: fires at 400 (5 min)
        assert ev.records[old_disk].state == AlertState.FIRING
        changed = ev.evaluate(snapshot(410, cpu=50, disk=50))  # resolves under the fingerprint that fired
        assert sorted(r.fingerprint for r in changed) == sorted([old_cpu, old_disk])
        assert all(r.resolved_at is not None and "host" not in r.labels for r in changed)
        for t in range(420, 730, 10):  # the next episode carries the host
            ev.evaluate(snapshot(t, cpu=95))
        assert [r.labels for r in ev.active()] == [{**cpu, "host": "solo"}]
    finally:
        h.close()


def test_alerts_stored_before_hosts_end_when_the_original_host_is_forgotten(fleet):
    from reporter.fleet.forget import forget

    lead, web2 = fleet["lead"], fleet["web2"]
    lead.set_meta("history_host", "web2")  # the history's original host, whose alerts have no host label
    web2.write(follower(300, cpu=95))
    old_cpu = store_legacy(lead.engine, "cpu_high", {"alertname": "cpu_high", "severity": "critical"}, "firing",
                           at(0), at(300))
    app = store_legacy(lead.engine, "no_active_users", {"alertname": "no_active_users", "severity": "warning"},
                       "firing", at(0), at(300))
    ev = evaluator(lead, {"no_active_users": {"for": 0}})
    ev.evaluate(snapshot(310, cpu=20, active_1h=0))
    assert {r.fingerprint for r in ev.active()} == {old_cpu, app}
    forget(lead.engine, "web2")
    changed = ev.evaluate(snapshot(320, cpu=20, active_1h=0))
    assert [(r.fingerprint, r.state) for r in changed] == [(old_cpu, AlertState.INACTIVE)]
    assert [r.fingerprint for r in ev.active()] == [app]  # app-wide: no host, not ended


def test_second_evaluator_continues_a_pending_window_and_does_not_refire(fleet):
    lead, web2 = fleet["lead"], fleet["web2"]
    first = evaluator(lead)
    for t in range(0, 40, 10):  # web2's redis down fires (30 s); web2's cpu pending since 0
        web2.write(follower(t, cpu=97, down=("redis",)))
        lead.write(snapshot(t))
        first.evaluate(snapshot(t))
    assert firing(first) == [("service_down", "web2", "redis")]
    # the leader dies; another node takes over with its own evaluator on the same store
    second = Evaluator(build_rules({}, FEATURES), Defaults(), AlertStore(web2.engine), web2, TZ, FEATURES,
                       host="web2")
    second.records = {}
    second.reload()
    pending = [r for r in second.records.values() if r.state == AlertState.PENDING]
    assert [(r.alertname, r.labels["host"], r.active_at) for r in pending] == [("cpu_high", "web2", at(0))]
    fired = []
    for t in range(40, 310, 10):
        web2.write(follower(t, cpu=97, down=("redis",)))
        lead.write(snapshot(t))
        fired += [(t, r.alertname) for r in second.evaluate(follower(t, cpu=97, down=("redis",)))
                  if r.state == AlertState.FIRING]
    assert fired == [(300, "cpu_high")]  # 5 min after 0, not after the takeover; service_down not again
    assert events(lead.engine).count(("firing", "service_down", "web2")) == 1


def test_error_spike_baseline_reads_the_counters_another_host_stored_as_leader(fleet):
    from datetime import timedelta

    lead, web2 = fleet["lead"], fleet["web2"]
    lead.partitions.ensure_for(to_ms(at(-3900)))
    with lead.engine.begin() as conn:  # the previous leader (lead) stored the counters: 5 % errors on grammar
        for i in range(61):
            conn.execute(lead._insert, {"host": "lead", "ts": to_ms(at(-3900) + timedelta(minutes=i)),
                                        "ai_grammar_requests": 20.0 * i, "ai_grammar_success": 19.0 * i,
                                        "app": True})  # what History.write marks app-wide rows with
    ev = evaluator(web2)  # web2 leads now
    spike = next(r for r in ev.rules if r.kind == "error_spike")
    assert ev.values.baseline_error_rate(spike, at(0), FEATURES, 300.0) == pytest.approx(5.0)


def test_per_host_history_reads_are_bounded_per_evaluation_and_deferred_ones_change_nothing(fleet):
    lead, web2, web3 = fleet["lead"], fleet["web2"], fleet["web3"]
    for i, t in enumerate(range(0, 7200 + 1, 300)):
        for h in (web2, web3):
            h.write(follower(t, disk=50 + i))  # both fill within 24 h
        lead.write(snapshot(t, disk=30))
    ev = evaluator(lead)
    ev.values.budget_seconds = 0.0  # one history read per evaluation
    ev.values.batch_hosts = 1  # of one host's series
    ev.evaluate(snapshot(7200, disk=30))
    assert len(ev.values._cache) == 1  # the leader's own; the others deferred: no alert, no no_data
    assert ev.active() == []
    ev.evaluate(snapshot(7210, disk=30))
    ev.evaluate(snapshot(7220, disk=30))
    assert sorted(r.labels["host"] for r in ev.active()) == ["web2", "web3"]


def test_a_no_data_alert_stored_before_hosts_resolves_under_its_old_fingerprint(tmp_path):
    h = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES, host="solo")
    try:
        labels = {"alertname": "no_data", "rule": "cpu_high", "severity": "warning"}
        old = store_legacy(h.engine, "cpu_high", labels, "firing", at(0), at(600))
        ev = evaluator(h)
        assert ev.evaluate(snapshot(610, cpu=None)) == []  # still missing: still the old alert, nothing new
        assert [r.fingerprint for r in ev.active()] == [old]
        [resolved] = ev.evaluate(snapshot(620, cpu=20))
        assert resolved.fingerprint == old and resolved.resolved_at == at(620)
        for t in range(630, 1300, 10):  # missing again: the next no_data names the host
            ev.evaluate(snapshot(t, cpu=None))
        assert [r.labels for r in ev.active()] == [{**labels, "host": "solo"}]
    finally:
        h.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("slope, fires", [(1, True), (0, False)])  # +1 % per 5 min: + 12 %/h; flat
def test_memory_full_soon_fires_on_a_rising_series_not_a_flat_one(backend, slope, fires, tmp_path, pg_schema_url):
    url = f"sqlite:///{tmp_path / 'h.db'}" if backend == "sqlite" else pg_schema_url
    h = History(url, FEATURES, host="solo")
    try:
        for i, t in enumerate(range(0, 7200 + 1, 300)):
            h.write(snapshot(t, memory=50 + slope * i))
        ev = evaluator(h)
        ev.evaluate(snapshot(7200, memory=50 + slope * 24))
        assert [(r.alertname, r.labels.get("host")) for r in ev.active()] == ([("memory_full_soon", "solo")]
                                                                              if fires else [])
    finally:
        h.close()
