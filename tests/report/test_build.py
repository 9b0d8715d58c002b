"""The report's figures, computed again here independently from the samples the test inserts."""

import itertools
import math
import random
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.base.ms import to_ms
from reporter.report.build import build_report, day_bounds
from reporter.report.period import Period

BERLIN = ZoneInfo("Europe/Berlin")
FEATURES = ["grammar", "quiz"]


@pytest.fixture
def history_features():
    return FEATURES


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
    for a, b in itertools.pairwise(values):
        total += b - a if b >= a else b
    return total


def test_dst_days_have_23_and_25_hours_with_the_right_samples(history):
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    rows = {r["ts"]: r for day in (date(2026, 3, 28), spring, autumn) for r in day_rows(day, BERLIN)}
    insert(history, list(rows.values()))
    r_spring = build_report(history, Period.day(spring, BERLIN), sample_interval=60, host="h")
    r_autumn = build_report(history, Period.day(autumn, BERLIN), sample_interval=60, host="h")
    assert r_spring.hours == 23 and r_autumn.hours == 25
    assert r_spring.samples == 23 * 60 and r_spring.expected_samples == 23 * 60
    assert r_autumn.samples == 25 * 60
    assert r_spring.start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert r_autumn.end == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


def test_figures_match_an_independent_computation(history):
    day = date(2026, 11, 10)
    rows = day_rows(day, BERLIN, skip=set(range(700, 720)))
    insert(history, rows)
    report = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h")
    start, end = day_bounds(day, BERLIN)
    inside = [r for r in rows if to_ms(start) <= r["ts"] < to_ms(end)]
    base = [r for r in rows if r["ts"] < to_ms(start)][-1]
    cpu = sorted(r["cpu_percent"] for r in inside)
    assert report.system["cpu_percent"].avg == pytest.approx(sum(cpu) / len(cpu))
    assert report.system["cpu_percent"].max == cpu[-1] and report.system["cpu_percent"].min == cpu[0]
    k = (len(cpu) - 1) * 0.95
    assert report.system["cpu_percent"].p95 == pytest.approx(cpu[math.floor(k)] + (cpu[math.ceil(k)] - cpu[math.floor(k)])
                                                             * (k - math.floor(k)))
    series = [base, *inside]
    requests = expected_increase([r["ai_total_requests"] for r in series])
    assert report.ai.requests == pytest.approx(requests)
    spent = expected_increase([r["ai_total_time_seconds"] for r in series])
    assert report.ai.avg_response_time == pytest.approx(spent / requests)
    ok = expected_increase([r["ai_quiz_success"] for r in series])
    assert report.ai.success_rate == pytest.approx(ok / expected_increase([r["ai_quiz_requests"] for r in series]) * 100)
    redis = next(s for s in report.services if s.name == "redis")
    ups = [r["redis_up"] for r in inside]
    assert redis.availability == pytest.approx(sum(ups) / len(ups) * 100)
    assert len(redis.outages) == 1 and redis.outages[0].seconds == 20 * 60
    assert report.samples == len(inside) and report.expected_samples == 24 * 60
    holes = [(a["ts"], b["ts"]) for a, b in itertools.pairwise(inside) if b["ts"] - a["ts"] > 150_000]
    assert len(holes) == 1 and holes[0][1] - holes[0][0] == 21 * 60_000
    assert [(to_ms(g.start), to_ms(g.end)) for g in report.gaps] == holes


def test_empty_day_is_all_none_with_one_gap(history):
    report = build_report(history, Period.day(date(2026, 11, 11), BERLIN), sample_interval=10, host="h")
    assert report.empty and report.samples == 0
    assert report.system["cpu_percent"].avg is None and report.ai.requests is None
    assert len(report.gaps) == 1 and report.gaps[0].seconds == 24 * 3600


def test_build_from_synthetic_history_is_quick(history):
    from reporter.store.synthetic import generate

    generate(history, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC), interval=60)
    report = build_report(history, Period.day(date(2026, 11, 2), UTC), sample_interval=60, host="h")
    assert report.samples == 1440 and report.ai.requests > 0 and report.top_users


# ---- the current day ends at "now" (item 17); alert episodes (item 19) ----------------------------------------


def insert_events(history, events):
    """Alert state changes: (at, state, fingerprint, labels)."""
    import json

    from reporter.store.alert_schema import alert_events

    with history.engine.begin() as conn:
        conn.execute(alert_events.insert(), [{"at": to_ms(at), "fingerprint": fp, "rule": labels["alertname"],
                                              "state": state, "value": 1.0, "labels": json.dumps(labels)}
                                             for at, state, fp, labels in events])


def steady_rows(start, end, interval=60):
    rows, t = [], start
    while t < end:
        rows.append({"ts": to_ms(t), "cpu_percent": 20.0, "memory_percent": 50.0, "disk_percent": 30.0,
                     "redis_up": 1.0, "database_up": 1.0, "ollama_up": 1.0, "ai_total_requests": 0.0})
        t += timedelta(seconds=interval)
    return rows


def test_the_current_day_ends_at_now(history):
    from reporter.report.html import render_html
    from tests.report.test_render import section, text

    day = date(2026, 11, 12)
    start, midnight = day_bounds(day, BERLIN)
    now = start + timedelta(hours=14, minutes=30, seconds=20)
    insert(history, steady_rows(start, now))
    insert_events(history, [
        (start + timedelta(hours=3), "firing", "r1", {"alertname": "redis_down", "severity": "critical"}),
        (start + timedelta(hours=3, minutes=5), "resolved", "r1", {"alertname": "redis_down", "severity": "critical"}),
        (now - timedelta(minutes=7), "firing", "c1", {"alertname": "cpu_high", "severity": "warning"}),
    ])
    report = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h", now=now)
    assert report.start == start and report.end == now and report.midnight == midnight and report.partial
    assert report.hours == 24 and report.period_hours == pytest.approx(14.5056, abs=1e-3)
    assert report.samples == 14 * 60 + 31 and report.expected_samples == 870 and report.coverage == 100.0
    assert report.gaps == []  # no gap from now to midnight
    still = [a for a in report.alerts if a.firing]
    assert [(a.alertname, a.seconds) for a in still] == [("cpu_high", 420.0)]  # 7 min, not until midnight
    html = render_html(report)
    assert "2026-11-12 00:00 to 14:30 (the day so far)" in text(html)
    alerts = text(section(html, "incidents"))
    assert "cpu_high WARNING" in alerts.upper() or "cpu_high" in alerts
    assert "14:23 still firing 7 min" in alerts and not re.search(r"\d h \d", alerts)  # no duration in hours
    coverage = text(section(html, "coverage"))
    assert "No gap in the data." in coverage and "over 14.51 h (the day until 14:30)" in coverage
    # the same day rendered after midnight is the whole day, its end 24:00
    whole = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h", now=midnight + timedelta(hours=1))
    assert whole.end == midnight and not whole.partial and whole.gaps[-1].end == midnight
    assert [a.seconds for a in whole.alerts if a.firing] == [(midnight - (now - timedelta(minutes=7))).total_seconds()]


def test_alert_episodes_one_row_each_clipped_to_the_day_most_severe_first(history):
    from reporter.report.attachments import csv_attachments
    from reporter.report.html import render_html
    from tests.report.test_render import section, text

    day = date(2026, 3, 29)  # a 23 h day in Berlin
    start, end = day_bounds(day, BERLIN)
    insert(history, steady_rows(start, end))
    h = timedelta(hours=1)

    def labels(name, severity, **more):
        return {"alertname": name, "severity": severity, **more}

    insert_events(history, [
        (start - 30 * h, "firing", "old", labels("no_data", "warning", service="voice")),  # over before the day
        (start - 29 * h, "resolved", "old", labels("no_data", "warning", service="voice")),
        (start - 4 * h, "firing", "nd-redis", labels("no_data", "warning", service="redis")),  # all day, on
        (start - 2 * h, "firing", "cpu", labels("cpu_high", "critical")),  # from the day before
        (start + 1 * h, "firing", "nd-db", labels("no_data", "critical", service="database")),
        (start + 2 * h, "firing", "nd-ollama", labels("no_data", "warning", service="ollama")),
        (start + 2 * h + timedelta(minutes=10), "resolved", "nd-ollama", labels("no_data", "warning",
                                                                                service="ollama")),
        (start + 3 * h, "resolved", "cpu", labels("cpu_high", "critical")),
        (start + 5 * h, "resolved", "nd-db", labels("no_data", "critical", service="database")),
        (start + 6 * h, "firing", "nd-ollama", labels("no_data", "warning", service="ollama")),  # again
        (start + 7 * h, "resolved", "nd-ollama", labels("no_data", "warning", service="ollama")),
        (start + 8 * h, "firing", "info", labels("usage_spike", "info")),
    ])
    report = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h", top_n=4)
    assert report.hours == 23
    got = [(a.alertname, a.severity, a.labels.get("service"), a.seconds / 3600) for a in report.alerts]
    assert got == [
        ("no_data", "critical", "database", 4.0),  # critical first, the longest first
        ("cpu_high", "critical", None, 3.0),  # clipped: 5 h long, 3 h of them in the day
        ("no_data", "warning", "redis", 23.0),  # clipped to the 23 h day (began the day before, still firing)
        ("no_data", "warning", "ollama", 1.0),
        ("no_data", "warning", "ollama", 1 / 6),
        ("usage_spike", "info", None, 15.0),
    ]
    assert all(0 <= a.seconds <= report.hours * 3600 for a in report.alerts)
    html = render_html(report)
    alerts = section(html, "incidents")
    rows = [text(r) for r in re.findall(r"<tr class=[^>]*>(.*?)</tr>", alerts, re.S)]
    assert len(rows) == 4  # capped at top_n, the rest in the CSV
    assert rows[0].startswith("no_data service=database critical h ")  # then severity, host
    assert rows[1].startswith("cpu_high critical")
    assert rows[1].endswith("2026-03-28 22:00 CET 04:00 CEST 3 h 00 min \N{EN DASH}")  # nobody acknowledged
    assert rows[2].startswith("no_data service=redis warning") and rows[2].endswith("still firing 23 h 00 min \N{EN DASH}")
    assert rows[3].startswith("no_data service=ollama warning") and rows[3].endswith("1 h 00 min \N{EN DASH}")
    assert not any(" d " in row for row in rows)  # no episode longer than the day (their total may be)
    assert "Showing 4 of 6 episodes" in text(alerts) and "2026-03-29.alerts.csv" in text(alerts)
    csv_rows = csv_attachments(report)["alerts"].splitlines()
    assert len(csv_rows) == 7 and csv_rows[1].startswith("no_data,critical,") and csv_rows[-1].startswith(
        "usage_spike,info,")
    assert [int(r.split(",")[4]) for r in csv_rows[1:]] == [round(a.seconds) for a in report.alerts]


def test_more_successes_than_requests_leaves_the_success_rates_out(history, caplog):
    """issue 8 item 18: inconsistent counters gave success rates above 100 %; in the report too."""
    import logging

    day = date(2026, 11, 10)
    start, _ = day_bounds(day, BERLIN)
    rows = []
    for i in range(60):
        ts = start + timedelta(minutes=i)
        rows.append({"ts": to_ms(ts), "ai_total_requests": 4.0 * i, "ai_cache_hits": 9.0 * i, "ai_quiz_requests": 2.0 * i,
                     "ai_quiz_success": 5.0 * i, "ai_grammar_requests": 2.0 * i, "ai_grammar_success": 1.0 * i})
    insert(history, rows)
    with caplog.at_level(logging.WARNING):
        report = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h")
    by_name = {f.name: f for f in report.ai.features}
    assert by_name["quiz"].success_rate is None and by_name["grammar"].success_rate == pytest.approx(50.0)
    assert report.ai.success_rate is None and report.ai.cache_hit_rate is None
    assert "ai_quiz_success > ai_quiz_requests" in caplog.text and "grammar" not in caplog.text
    assert "ai_cache_hits > ai_total_requests" in caplog.text


def test_a_receiver_failing_episode_and_each_receivers_notifications_are_in_the_report(history):
    """A ``receiver_failing`` episode is listed among the alerts as any other; a Receivers line counts each
    receiver's notifications queued during the day by outcome (from the outbox)."""
    from reporter.report.html import render_html
    from reporter.report.text import render_text
    from reporter.store.alert_schema import outbox
    from tests.report.test_render import section, text

    day = date(2026, 11, 12)
    start, end = day_bounds(day, BERLIN)
    insert(history, steady_rows(start, end))
    h = timedelta(hours=1)
    failing = {"alertname": "receiver_failing", "severity": "warning", "receiver": "chat"}
    insert_events(history, [(start + 2 * h, "firing", "rf", failing), (start + 5 * h, "resolved", "rf", failing)])
    rows = [("chat", "failed", 2), ("chat", "failed", 3), ("chat", "delivered", 6), ("ops", "delivered", 1),
            ("ops", "delivered", 2), ("ops", "pending", 23), ("ops", "delivered", -2), ("ops", "expired", 25)]
    with history.engine.begin() as conn:
        conn.execute(outbox.insert(), [
            {"id": f"msg_{i}", "receiver": r, "created_at": to_ms(start + hours * h), "status": status, "body": b"{}",
             "alert_count": 1, "attempts": 1, "next_attempt_at": to_ms(start + hours * h)}
            for i, (r, status, hours) in enumerate(rows)])  # -2 h: the day before; 25 h: the day after
    report = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h")
    [episode] = report.alerts
    assert (episode.alertname, episode.distinguishing_labels, episode.seconds) == ("receiver_failing",
                                                                                  {"receiver": "chat"}, 3 * 3600)
    summary = render_text(report)
    assert "WARNING receiver_failing receiver=chat: 02:00 to 05:00, 3 h 00 min" in summary
    assert "Receivers:     chat 1 delivered, 2 failed; ops 2 delivered, 1 waiting" in summary
    alerts = text(section(render_html(report), "incidents"))
    assert "receiver_failing" in alerts and "receiver=chat" in alerts
    assert "Notifications by receiver: chat 1 delivered, 2 failed ; ops 2 delivered, 1 waiting ." in alerts


def test_alert_episodes_say_who_acknowledged_them(history):
    from reporter.report.attachments import csv_attachments
    from reporter.report.html import render_html
    from reporter.report.text import render_text
    from reporter.store.alert_schema import acks
    from tests.report.test_render import section

    day = date(2026, 3, 30)
    start, end = day_bounds(day, BERLIN)
    insert(history, steady_rows(start, end))
    h, m = timedelta(hours=1), timedelta(minutes=1)
    cpu = {"alertname": "cpu_high", "severity": "critical"}
    insert_events(history, [
        (start + 1 * h - 5 * m, "pending", "cpu", cpu), (start + 1 * h, "firing", "cpu", cpu),
        (start + 2 * h, "resolved", "cpu", cpu),
        (start + 5 * h - 5 * m, "pending", "cpu", cpu), (start + 5 * h, "firing", "cpu", cpu),  # again, not acked
        (start + 6 * h, "resolved", "cpu", cpu),
    ])
    with history.engine.begin() as conn:
        conn.execute(acks.insert(), [
            {"fingerprint": "cpu", "starts_at": to_ms(start - 20 * h), "acked_by": "old", "comment": "",
             "at": to_ms(start - 19 * h)},  # an earlier episode's
            {"fingerprint": "cpu", "starts_at": to_ms(start + 1 * h - 5 * m), "acked_by": "ann <ops>",
             "comment": "on it", "at": to_ms(start + 1 * h + 10 * m)}])
    report = build_report(history, Period.day(day, BERLIN), sample_interval=60, host="h")
    got = sorted((a.start, a.acknowledged_by, a.acknowledged_at) for a in report.alerts)
    assert got == [(start + 1 * h, "ann <ops>", start + 1 * h + 10 * m), (start + 5 * h, "", None)]
    assert re.search(r"<bdi[^>]*>ann &lt;ops&gt;</bdi><br><span class=\"muted small\">01:10</span>",
                     section(render_html(report), "incidents"))
    assert "01:00 to 02:00, 1 h 00 min, acknowledged by ann <ops> at 01:10" in render_text(report)
    csv_rows = csv_attachments(report)["alerts"].splitlines()
    assert csv_rows[0].endswith(",summary,acknowledged_by,acknowledged_at,inhibited_by")
    assert ",ann <ops>,2026-03-30T01:10:00+02:00" in "\n".join(csv_rows)


def test_a_percentile_of_an_array_is_the_one_of_its_list():
    # the AI p95 response time of a month is taken from an array (never a list of 259,200 floats): same value
    import numpy as np

    from reporter.report.build import percentile

    rng = random.Random(7)
    for n in (1, 2, 3, 20, 1001, 259_200):
        values = [rng.lognormvariate(0.0, 1.5) for _ in range(n)]
        for p in (0, 50, 95, 99.9, 100):
            assert percentile(np.array(values), p) == percentile(values, p)
    assert percentile(np.array([]), 95) is None and percentile([], 95) is None
