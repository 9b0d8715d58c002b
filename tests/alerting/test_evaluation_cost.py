"""What one evaluation costs: its state changes are written in a few statements, whatever their number, with the
same rows and events as one statement per change; each alert is matched against the inhibition rules once."""

from __future__ import annotations

import contextlib

from sqlalchemy import event, select

from reporter.alerting.inhibition import DEFAULT_RULES, parse_rules
from reporter.alerting.matchers import Matcher
from reporter.alerting.model import AlertState, fingerprint
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.alerting.suppression import inhibitions
from reporter.store.alert_schema import alerts
from tests.snapshots import at


@contextlib.contextmanager
def statements(engine):
    """The SQL statements the engine sends while the block runs (one per round trip: an executemany is one)."""
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
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
