"""What one evaluation costs: its state changes are written in a few statements, whatever their number, with the
same rows and events as one statement per change; each alert is matched against the inhibition rules once."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event, select

from reporter.alerting.config import Defaults
from reporter.alerting.evaluator import Evaluator
from reporter.alerting.inhibition import DEFAULT_RULES, parse_rules
from reporter.alerting.matchers import Matcher
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.rules import build_rules
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.alerting.suppression import inhibitions
from reporter.alerting.values import threshold_value
from reporter.store.alert_schema import alerts
from reporter.store.history import History
from tests.alerting.test_hosts import TZ, follower
from tests.snapshots import FEATURES, at, snapshot


@contextlib.contextmanager
def statements(engine, containing: str = ""):
    """The SQL statements the engine sends while the block runs (one per round trip: an executemany is one): their
    first word, of those ``containing`` the text (upper case) only."""
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if containing in " ".join(statement.upper().split()):
            sent.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def record(n: int, state: AlertState, **times) -> AlertRecord:
    labels = {"alertname": "cpu_high", "severity": "warning", "host": f"web{n:03d}.example.com"}
    return AlertRecord(fingerprint=fingerprint(labels), rule="cpu_high", labels=labels, state=state,
                       annotations={"summary": f"CPU high on web{n:03d}"}, value=float(n), **times)


def test_many_changes_are_saved_in_a_few_statements_with_the_same_rows_and_events(history):
    store = AlertStore(history.engine)
    first = [(record(n, AlertState.PENDING, active_at=at(0)), "pending") for n in range(300)]
    store.save(first, at(0))
    # then: 100 fire (update), 100 reset (delete), 100 new ones go pending (insert), one resolves unseen before
    second = ([(record(n, AlertState.FIRING, active_at=at(0), fired_at=at(60)), "firing") for n in range(100)]
              + [(record(n, AlertState.INACTIVE), None) for n in range(100, 200)]
              + [(record(n, AlertState.PENDING, active_at=at(60)), "pending") for n in range(300, 400)]
              + [(record(999, AlertState.INACTIVE, active_at=at(0), fired_at=at(10), resolved_at=at(60)),
                  "resolved")])
    with statements(history.engine) as sent:
        store.save(second, at(60))
    assert len([s for s in sent if s not in ("BEGIN", "COMMIT")]) <= 6, sent

    stored = store.load()
    assert len(stored) == 100 + 100 + 100 + 1
    assert stored[record(5, AlertState.FIRING).fingerprint].state == AlertState.FIRING
    assert stored[record(5, AlertState.FIRING).fingerprint].fired_at == at(60)
    assert record(150, AlertState.INACTIVE).fingerprint not in stored
    assert stored[record(250, AlertState.PENDING).fingerprint].active_at == at(0)  # untouched
    assert stored[record(350, AlertState.PENDING).fingerprint].annotations == {"summary": "CPU high on web350"}
    assert stored[record(999, AlertState.INACTIVE).fingerprint].resolved_at == at(60)
    later = [(e["state"], e["labels"]["host"]) for e in store.events(at(60), at(61))]
    assert later == ([("firing", f"web{n:03d}.example.com") for n in range(100)]
                     + [("pending", f"web{n:03d}.example.com") for n in range(300, 400)]
                     + [("resolved", "web999.example.com")])


def test_the_last_change_of_an_alert_in_held_batches_wins(history):
    store = AlertStore(history.engine)
    pending = record(1, AlertState.PENDING, active_at=at(0))
    reset = record(1, AlertState.INACTIVE)
    again = record(1, AlertState.PENDING, active_at=at(20))
    store.save_batches([([(pending, "pending")], at(0)), ([(reset, None)], at(10)), ([(again, "pending")], at(20))])
    assert store.load()[pending.fingerprint].active_at == at(20)
    store.save_batches([([(record(1, AlertState.PENDING, active_at=at(30)), "pending"), (reset, None)], at(30))])
    assert store.load() == {}
    with history.engine.connect() as conn:
        assert conn.execute(select(alerts)).all() == []


def test_an_alert_is_matched_against_the_inhibition_rules_once_across_passes(monkeypatch):
    rules = [*DEFAULT_RULES, *parse_rules([{"source_matchers": ['team="t1"', 'severity="critical"'],
                                            "target_matchers": ['severity=~"warning|info"'], "equal": ["host"]}])]
    records = [AlertRecord(fingerprint(labels), "r", labels, state=AlertState.FIRING) for labels in (
        {"alertname": "cpu_high", "team": "t1", "severity": "critical", "host": f"web{n}.example.com"} if n % 2 else
        {"alertname": "disk_high", "team": "t2", "severity": "warning", "host": f"web{n + 1}.example.com"}
        for n in range(200))]
    calls = []
    real = Matcher.matches
    monkeypatch.setattr(Matcher, "matches", lambda self, labels: calls.append(1) or real(self, labels))
    first = inhibitions(records, rules)
    assert len(first) == 100 and calls
    calls.clear()
    assert inhibitions(records, rules) == first
    assert calls == []  # the second pass matched nothing again
    # an alert whose labels changed under the same fingerprint is matched again
    records[0].labels = {**records[0].labels, "severity": "critical"}
    assert records[0].fingerprint not in inhibitions(records, rules)
    assert calls


def test_a_fleets_predict_linear_series_are_read_together_with_the_same_predictions(pg_schema_url):
    names = ["lead", "web2", "web3", "web4"]
    histories = {name: History(pg_schema_url, FEATURES, host=name) for name in names}
    try:
        for i, t in enumerate(range(0, 7200 + 1, 300)):
            for k, name in enumerate(names):
                values = {"disk": 50 + i * k / 2, "memory": 40 + i * k / 3}
                histories[name].write(snapshot(t, **values) if name == "lead" else follower(t, **values))
        predictions = []
        for batch in (1, 10):
            ev = Evaluator(build_rules({}, FEATURES), Defaults(), AlertStore(histories["lead"].engine),
                           histories["lead"], TZ, FEATURES)
            ev.values.batch_hosts = batch
            with statements(histories["lead"].engine, "_PERCENT FROM SAMPLES") as reads:  # the series
                ev.evaluate(snapshot(7200, disk=50, memory=40))
            predictions.append(sorted((r.alertname, r.labels["host"], r.value, str(r.state)) for r in ev.active()))
            assert len(reads) == (8 if batch == 1 else 2)  # disk_full_soon, memory_full_soon: 4 hosts each
        assert predictions[0] == predictions[1]
        assert {(name, host) for name, host, _, _ in predictions[1]} == {
            (rule, host) for rule in ("disk_full_soon", "memory_full_soon") for host in ("web2", "web3", "web4")}
    finally:
        for h in histories.values():
            h.close()


OPS = [">", ">=", "<", "<=", "==", "!="]


@pytest.mark.parametrize("cpu, load", [(95.0, 2.0), (95.0, 0.5), (95.0, None), (None, 2.0), (90.0, 1.0), (10.0, 3.0)])
def test_per_host_thresholds_decide_as_threshold_value_guard_and_missing_included(history, cpu, load):
    """The per-host loop reads each path once per host and decides without a call per rule: the same alerts as
    :func:`threshold_value` gives, for every operator, with and without a guard (``min_count``)."""
    overrides = {f"cpu_{n}_{guarded}": {"metric": "system.cpu_percent", "op": op, "threshold": 90, "for": 0,
                                        **({"min_count_metric": "system.load_1m", "min_count": 1} if guarded else {})}
                 for n, op in enumerate(OPS) for guarded in (0, 1)}
    ev = Evaluator(build_rules(overrides, FEATURES), Defaults(no_data_for=0), AlertStore(history.engine), history,
                   TZ, FEATURES)
    snap = snapshot(0, cpu=cpu, system=snapshot(0).system.model_copy(update={"cpu_percent": cpu, "load_1m": load}))
    ev.evaluate(snap)
    data = snap.model_dump(mode="python", include={"system", "services", "ai", "usage"})
    expected = set()
    for rule in ev.rules:
        if rule.name in overrides:
            _, condition = threshold_value(rule, data, rule.metric, rule.min_count_metric)
            if condition is None:
                expected.add(("no_data", rule.name))
            elif condition:
                expected.add((rule.name, ""))
    assert {(r.alertname, r.labels.get("rule", "")) for r in ev.active()
            if r.rule in overrides or r.labels.get("rule") in overrides} == expected
    assert expected  # each case raises something


def test_the_evaluation_time_is_stored_in_the_transaction_of_the_state_changes(history):
    ev = Evaluator(build_rules({}, FEATURES), Defaults(), AlertStore(history.engine), history, TZ, FEATURES)
    commits: list[int] = []

    def count(conn):
        commits.append(1)

    event.listen(history.engine, "commit", count)
    try:
        assert [r.alertname for r in ev.evaluate(snapshot(0, cpu=95))] == ["cpu_high"]  # pending
        assert len(commits) == 1
        assert history.get_meta("alerts_evaluated_at") == at(0).isoformat()
        commits.clear()
        assert ev.evaluate(snapshot(10, cpu=95)) == []  # still pending: no change, the time alone
        assert len(commits) == 1
        assert history.get_meta("alerts_evaluated_at") == at(10).isoformat()
    finally:
        event.remove(history.engine, "commit", count)
