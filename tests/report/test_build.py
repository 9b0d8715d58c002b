"""The report's figures, computed again here independently from the samples the test inserts."""

import math
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report.build import build_report, day_bounds
from reporter.store.history import History, to_ms

BERLIN = ZoneInfo("Europe/Berlin")
FEATURES = ["grammar", "quiz"]


@pytest.fixture
def history(tmp_path):
    h = History(f"sqlite:///{tmp_path / 'h.db'}", FEATURES)
    yield h
    h.close()


def insert(history, rows):
    names = list(history.metrics)
    with history.engine.begin() as conn:
        conn.execute(history.samples.insert(), [{"ts": r["ts"], **{n: r.get(n) for n in names}} for r in rows])


def day_rows(day, tz, interval=60, seed=3, skip=()):
    """Samples over ``day`` with random values; counters reset once; redis down for a while."""
    rng = random.Random(seed)
    start, end = day_bounds(day, tz)
    t, rows, total, req, ok, spent, n = start - timedelta(minutes=2), [], 0.0, 0.0, 0.0, 0.0, 0
    while t < end:
        n += 1
        if n == 500:  # a Redis flush
            total = req = ok = spent = 0.0
        add = rng.randint(0, 5)
        req += add
        ok += rng.randint(0, add)
        spent += add * rng.uniform(0.5, 3)
        total += add
        row = {"ts": to_ms(t), "cpu_percent": round(rng.uniform(0, 100), 2), "memory_percent": 50.0,
               "disk_percent": 30.0, "redis_up": 0.0 if 300 <= n < 320 else 1.0, "database_up": 1.0,
               "ollama_up": 1.0, "ai_total_requests": total, "ai_total_time_seconds": round(spent, 3),
               "ai_quiz_requests": req, "ai_quiz_success": ok, "ai_quiz_time_seconds": round(spent, 3),
               "ai_grammar_requests": 0.0, "ai_grammar_success": 0.0, "ai_grammar_time_seconds": 0.0}
        if n not in skip:
            rows.append(row)
        t += timedelta(seconds=interval)
    return rows


def expected_increase(values):
    total = 0.0
    for a, b in zip(values, values[1:], strict=False):
        total += b - a if b >= a else b
    return total


def test_dst_days_have_23_and_25_hours_with_the_right_samples(history):
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    rows = {r["ts"]: r for day in (date(2026, 3, 28), spring, autumn) for r in day_rows(day, BERLIN)}
    insert(history, list(rows.values()))
    r_spring = build_report(history, spring, BERLIN, sample_interval=60, host="h")
    r_autumn = build_report(history, autumn, BERLIN, sample_interval=60, host="h")
    assert r_spring.hours == 23 and r_autumn.hours == 25
    assert r_spring.samples == 23 * 60 and r_spring.expected_samples == 23 * 60
    assert r_autumn.samples == 25 * 60
    assert r_spring.start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert r_autumn.end == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


def test_figures_match_an_independent_computation(history):
    day = date(2026, 11, 10)
    rows = day_rows(day, BERLIN, skip=set(range(700, 720)))
    insert(history, rows)
    report = build_report(history, day, BERLIN, sample_interval=60, host="h")
    start, end = day_bounds(day, BERLIN)
    inside = [r for r in rows if to_ms(start) <= r["ts"] < to_ms(end)]
    base = [r for r in rows if r["ts"] < to_ms(start)][-1]
    cpu = sorted(r["cpu_percent"] for r in inside)
    assert report.system["cpu_percent"].avg == pytest.approx(sum(cpu) / len(cpu))
    assert report.system["cpu_percent"].max == cpu[-1] and report.system["cpu_percent"].min == cpu[0]
    k = (len(cpu) - 1) * 0.95
    assert report.system["cpu_percent"].p95 == pytest.approx(cpu[math.floor(k)] + (cpu[math.ceil(k)] - cpu[math.floor(k)])
                                                             * (k - math.floor(k)))
    series = [base] + inside
    requests = expected_increase([r["ai_total_requests"] for r in series])
    assert report.ai.requests == pytest.approx(requests)
    spent = expected_increase([r["ai_total_time_seconds"] for r in series])
    assert report.ai.avg_response_time == pytest.approx(spent / requests)
    ok = expected_increase([r["ai_quiz_success"] for r in series])
    assert report.ai.success_rate == pytest.approx(ok / expected_increase([r["ai_quiz_requests"] for r in series]) * 100)
    redis = [s for s in report.services if s.name == "redis"][0]
    ups = [r["redis_up"] for r in inside]
    assert redis.availability == pytest.approx(sum(ups) / len(ups) * 100)
    assert len(redis.outages) == 1 and redis.outages[0].seconds == 20 * 60
    assert report.samples == len(inside) and report.expected_samples == 24 * 60
    holes = [(a["ts"], b["ts"]) for a, b in zip(inside, inside[1:], strict=False) if b["ts"] - a["ts"] > 150_000]
    assert len(holes) == 1 and holes[0][1] - holes[0][0] == 21 * 60_000
    assert [(to_ms(g.start), to_ms(g.end)) for g in report.gaps] == holes


def test_empty_day_is_all_none_with_one_gap(history):
    report = build_report(history, date(2026, 11, 11), BERLIN, sample_interval=10, host="h")
    assert report.empty and report.samples == 0
    assert report.system["cpu_percent"].avg is None and report.ai.requests is None
    assert len(report.gaps) == 1 and report.gaps[0].seconds == 24 * 3600


def test_build_from_synthetic_history_is_quick(history):
    from reporter.store.synthetic import generate

    generate(history, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC), interval=60)
    report = build_report(history, date(2026, 11, 2), UTC, sample_interval=60, host="h")
    assert report.samples == 1440 and report.ai.requests > 0 and report.top_users
