"""ai_traffic_anomaly on synthetic weeks of AI counters stored in a real history (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reporter.base.ms import to_ms
from reporter.store.history import History, SampleRow
from tests.alerting.test_hosts import evaluator
from tests.snapshots import FEATURES, at, snapshot, window

WEEK = 7 * 24 * 3600


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'h.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_schema_url"))
    h = History(url, FEATURES, host="solo")
    yield h
    h.close()


def store_weeks(h: History, now: float, per_hour: list[float]) -> None:
    """The ai_total_requests counter over the hour of ``now`` in each past week (oldest first): a sample every
    10 minutes of that hour, growing by ``per_hour`` requests per hour."""
    hour = now - now % 3600
    for k, rate in zip(range(len(per_hour), 0, -1), per_hour, strict=True):
        for m in range(0, 60, 10):
            t = hour - k * WEEK + m * 60
            h.write_row(SampleRow(ts=to_ms(at(t)), values={"ai_total_requests": 1000 + rate * m / 60},
                                  host="solo"))


def fired(h: History, now: float, requests: float) -> list[str]:
    ev = evaluator(h, {"ai_traffic_anomaly": {}})
    ev.evaluate(snapshot(now, window=window(requests)))
    return [r.alertname for r in ev.active() if r.alertname == "ai_traffic_anomaly"]


NOW = 4 * WEEK + 1800  # the middle of an hour, four weeks after the first stored one
NORMAL = [1200, 1140, 1260, 1188]  # requests per hour: ~100 per 5 minutes


def test_a_spike_fires_and_carries_no_host(history):
    store_weeks(history, NOW, NORMAL)
    ev = evaluator(history)
    ev.evaluate(snapshot(NOW, window=window(600)))
    [alert] = [r for r in ev.active() if r.alertname == "ai_traffic_anomaly"]
    assert "host" not in alert.labels and alert.value == 600


def test_a_drop_to_near_zero_fires(history):
    store_weeks(history, NOW, NORMAL)
    assert fired(history, NOW, 2) == ["ai_traffic_anomaly"]


def test_a_normal_week_does_not_fire(history):
    store_weeks(history, NOW, NORMAL)
    assert fired(history, NOW, 105) == []
    assert fired(history, NOW, 85) == []


def test_too_little_history_stays_inactive(history):
    store_weeks(history, NOW, NORMAL[-2:])  # two weeks of the four: under min_weeks = 3
    ev = evaluator(history, {"ai_traffic_anomaly": {"severity": "info"}})  # refused without the rule's defaults
    ev.evaluate(snapshot(NOW, window=window(600)))
    assert [r for r in ev.records.values() if r.alertname in ("ai_traffic_anomaly", "no_data")] == []


def test_quiet_hours_do_not_fire_on_a_drop(history):
    store_weeks(history, NOW, [12, 0, 24, 6])  # usually ~1 request per 5 minutes: no traffic is normal
    assert fired(history, NOW, 0) == []


def test_the_baseline_is_read_once_per_hour(history):
    store_weeks(history, NOW, NORMAL)
    ev = evaluator(history)
    reads = []
    real = history.app_rows
    history.app_rows = lambda *a: reads.append(a) or real(*a)  # count the history reads
    for t in range(0, 600, 10):
        ev.evaluate(snapshot(NOW + t, window=window(100)))
    assert len([r for r in reads if r[0] == ["ai_total_requests"]]) == 4
    assert timedelta(hours=1) == reads[0][2] - reads[0][1]
