"""Synthetic alert episodes: deterministic, and each fingerprint's events alternate firing / resolved as the
evaluator writes them, so the report reads them as whole episodes."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from reporter.report.build import alert_episodes
from reporter.store.alert_schema import alert_events
from reporter.store.history import History
from reporter.store.synthetic_alerts import generate_alerts

END = datetime(2026, 12, 1, tzinfo=UTC)


def events(history):
    with history.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(alert_events).order_by(alert_events.c.at)).mappings()]


def test_episodes_alternate_per_fingerprint_and_repeat_for_a_seed(tmp_path):
    first = History(f"sqlite:///{tmp_path / 'a.db'}", ["grammar"])
    second = History(f"sqlite:///{tmp_path / 'b.db'}", ["grammar"])
    count = generate_alerts(first, END - timedelta(days=14), END)
    assert count == generate_alerts(second, END - timedelta(days=14), END) >= 10
    rows = events(first)
    assert [(r["at"], r["fingerprint"], r["state"]) for r in rows] == \
        [(r["at"], r["fingerprint"], r["state"]) for r in events(second)]
    state: dict[str, str] = {}
    for row in rows:
        assert state.get(row["fingerprint"], "resolved") != row["state"], row  # never firing twice in a row
        state[row["fingerprint"]] = row["state"]
    assert sum(r["state"] == "firing" for r in rows) == count
    episodes = alert_episodes(first, END - timedelta(days=14), END)
    assert len(episodes) == count and {e.severity for e in episodes} >= {"critical", "warning"}
    assert all(e.end is None or e.end > e.start for e in episodes)
