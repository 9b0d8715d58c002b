"""ai_throughput_drop: tokens per second below half of the 7-day median of hourly rates, written into a real
history (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from reporter.alerting.rules import build_rules
from reporter.base.ms import to_ms
from reporter.store.history import History, SampleRow
from tests.alerting.test_evaluation_cost import statements
from tests.alerting.test_hosts import evaluator
from tests.snapshots import FEATURES, at, snapshot, window

HOUR = 3600
DAYS = 7
NOW = DAYS * 24 * HOUR + 1800  # the middle of an hour, seven days after the first stored one


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'h.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_schema_url"))
    h = History(url, FEATURES, host="solo")
    yield h
    h.close()


def store_hours(h: History, rates: list[tuple[float, float]], end: float = NOW, reset_at: int | None = None) -> None:
    """The token counters of ``grammar`` and ``quiz`` over the hours before ``end``'s hour (``rates``: (tokens per
    second, requests per hour) of each hour, oldest first), a row every 20 minutes; each feature carries half.
    ``reset_at``: the index of an hour whose counters start again from 0 (Redis flushed)."""
    first = end - end % HOUR - len(rates) * HOUR
    total = {"tokens": 1e6, "seconds": 1e4, "requests": 500.0}
    rows = []
    for i, (rate, requests) in enumerate(rates):
        for m in (0, 20, 40):
            if i == reset_at and m == 20:  # within the hour, so that the hour's increase crosses it
                total = {"tokens": 0.0, "seconds": 0.0, "requests": 0.0}
            if m:
                seconds = 60.0 * requests / 2 / 2  # 60 s of generation per request, split over two steps
                total = {"tokens": total["tokens"] + rate * seconds, "seconds": total["seconds"] + seconds,
                         "requests": total["requests"] + requests / 2}
            values = {f"ai_{f}_{k}": v / 2 for f in ("grammar", "quiz") for k, v in (
                ("completion_tokens", total["tokens"]), ("generation_seconds", total["seconds"]),
                ("requests", total["requests"]))}
            rows.append(SampleRow(ts=to_ms(at(first + i * HOUR + m * 60)), values=values, host="solo"))
    h.write_rows(rows)


def now_window(tokens_per_second: float | None, requests: float = 20):
    return window(requests).model_copy(update={"tokens_per_second": tokens_per_second})


def drops(ev, tokens_per_second, requests=20, t=NOW):
    """Evaluate 8 samples ending at ``t`` (the baseline is read a day per evaluation at first); the alerts."""
    for s in range(t - 70, t + 10, 10):
        ev.evaluate(snapshot(s, window=now_window(tokens_per_second, requests)))
    return [(r.alertname, r.value) for r in ev.active() if r.rule == "ai_throughput_drop"]


WEEK_AT_40 = [(40.0, 30.0)] * (DAYS * 24)  # 40 tokens/s, 30 requests an hour, for 7 days


def test_a_drop_below_half_the_median_fires_and_carries_no_host(history):
    store_hours(history, WEEK_AT_40)
    ev = evaluator(history)
    assert drops(ev, 15) == [("ai_throughput_drop", 15)]
    [alert] = [r for r in ev.active() if r.rule == "ai_throughput_drop"]
    assert "host" not in alert.labels and alert.labels["severity"] == "warning"
    assert "below 20 tokens/s" in alert.annotations["description"]
    assert "median of 40 tokens/s" in alert.annotations["description"]


def test_above_half_the_median_does_not_fire(history):
    store_hours(history, WEEK_AT_40)
    assert drops(evaluator(history), 25) == []


def test_too_few_requests_in_the_window_does_not_fire(history):
    store_hours(history, WEEK_AT_40)
    assert drops(evaluator(history), 2, requests=5) == []  # under min_count = 10


def test_without_baseline_no_alert_and_no_no_data(history):
    ev = evaluator(history, no_data_for="1m")
    for t in range(NOW, NOW + 600, 10):
        assert drops(ev, 1, t=t) == []
    assert [r for r in ev.records.values() if r.rule == "ai_throughput_drop"] == []
    store_hours(history, WEEK_AT_40[:20])  # 20 hours: under min_range = 24h
    assert drops(evaluator(history), 1) == []


def test_quiet_hours_are_left_out_of_the_baseline(history):
    # busy hours at 40 tokens/s, more quiet ones (3 requests an hour, under min_count) at 10 tokens/s
    hours = [(40.0, 30.0) if i % 7 < 2 else (10.0, 3.0) for i in range(DAYS * 24)]
    store_hours(history, hours)
    assert drops(evaluator(history), 15) == [("ai_throughput_drop", 15)]  # against 40, not 10


def test_a_counter_reset_in_the_baseline_is_handled(history):
    store_hours(history, WEEK_AT_40, reset_at=100)
    assert drops(evaluator(history), 25) == []  # a reset read as a fall would make a negative or huge rate
    assert drops(evaluator(history), 15) == [("ai_throughput_drop", 15)]


def test_factor_min_count_and_disable_are_overridable(history):
    store_hours(history, WEEK_AT_40)
    assert drops(evaluator(history, {"ai_throughput_drop": {"factor": 0.3}}), 15) == []  # under 12 only
    assert drops(evaluator(history, {"ai_throughput_drop": {"min_count": 50}}), 15) == []
    assert drops(evaluator(history, {"ai_throughput_drop": {"enabled": False}}), 15) == []


def test_the_baseline_is_read_once_per_hour(history):
    store_hours(history, WEEK_AT_40)
    ev = evaluator(history)
    with statements(history.engine, "AI_GRAMMAR_COMPLETION_TOKENS") as sent:
        for t in range(NOW, NOW + 600, 10):
            ev.evaluate(snapshot(t, window=now_window(25)))
    assert len(sent) == DAYS  # a day per evaluation at first, then nothing more within the hour
    with statements(history.engine, "AI_GRAMMAR_COMPLETION_TOKENS") as sent:
        ev.evaluate(snapshot(NOW + HOUR, window=now_window(25)))
    assert len(sent) == 1  # the next hour reads the hour just ended only


def test_the_first_evaluations_read_a_day_each_inactive_meanwhile(history):
    store_hours(history, WEEK_AT_40)
    ev = evaluator(history)
    for t in range(NOW, NOW + 10 * (DAYS - 1), 10):
        ev.evaluate(snapshot(t, window=now_window(15)))
        assert [r for r in ev.records.values() if r.rule == "ai_throughput_drop"] == []
    ev.evaluate(snapshot(NOW + 10 * DAYS, window=now_window(15)))
    assert [r.alertname for r in ev.active() if r.rule == "ai_throughput_drop"] == ["ai_throughput_drop"]


@pytest.mark.parametrize(("override", "message"), [
    ({"factor": 2}, "rules.ai_throughput_drop.factor: 2 must be in (0, 1]"),
    ({"factor": 0}, "rules.ai_throughput_drop.factor: 0 must be in (0, 1]"),
    ({"threshold": 5}, "rules.ai_throughput_drop.threshold: not read by kind"),
    ({"baseline": "a week"}, "rules.ai_throughput_drop.baseline: 'a week' is not a duration"),
    ({"min_count": "ten"}, "rules.ai_throughput_drop.min_count: "),
])
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ValueError) as exc:
        build_rules({"ai_throughput_drop": override}, FEATURES)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_an_hourly_rate_across_a_counter_reset_equals_the_counted_growth():
    from reporter.alerting.throughput import hourly_rates

    base = 3_600_000 * 100
    rows = [(base, 1000.0, 100.0, 5.0), (base + 1_200_000, 1400.0, 110.0, 10.0),  # +400 tokens in 10 s
            (base + 2_400_000, 400.0, 10.0, 5.0)]  # reset, then +400 tokens in 10 s
    assert hourly_rates(rows, 1, min_requests=10) == {base: 40.0}
    assert hourly_rates(rows, 1, min_requests=11) == {}  # 5 + 5 requests: under min_count


def test_a_rule_of_its_own_kind_needs_no_threshold(history):
    store_hours(history, WEEK_AT_40)
    ev = evaluator(history, {"ai_throughput_drop": {"enabled": False},
                             "tokens_slow": {"kind": "throughput_drop", "metric": "ai.windows.5m.tokens_per_second",
                                             "min_count_metric": "ai.windows.5m.requests", "min_count": 5,
                                             "factor": 0.8, "baseline": "7d", "min_range": "24h"}})
    assert drops(ev, 30) == [] and [r.alertname for r in ev.active()] == ["tokens_slow"]  # under 0.8 x 40
