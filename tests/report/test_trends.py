"""AI and usage over the period (``Report.trends``): every figure recomputed here independently from the samples and
the application rows the test inserts, for a week with a DST change (one 25 h day) and a month with a counter
reset, in Europe/Berlin; the period lists read from a real application database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from reporter.base.ms import to_ms
from reporter.report.attachments import csv_attachments
from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.period import Period
from reporter.report.usage_trends import short_id
from reporter.settings import load_settings
from tests.appdb import DDL

BERLIN = ZoneInfo("Europe/Berlin")
FEATURES = ["grammar", "quiz"]
WEEK = "2026-W43"  # Monday 19 to Sunday 25 October 2026: the clocks go back on the 25th (a 25 h day)
MONTH = "2026-03"  # March 2026: the clocks go forward on the 29th (a 23 h day)


@pytest.fixture
def history_features():
    return FEATURES


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(UTC)


def samples(start: datetime, end: datetime, interval: int, seed: int, reset_at: int | None = None,
            skip: range = range(0)) -> list[dict]:
    """Rows every ``interval`` s from 5 min before ``start`` to ``end``: random AI traffic on two features, the
    counters reset at sample ``reset_at``, the model unavailable now and then, active users every 6th sample."""
    rng = random.Random(seed)
    c = defaultdict(float)
    rows, t, n = [], start - timedelta(minutes=5), 0
    while t < end:
        n += 1
        if n == reset_at:
            c.clear()
        for f in FEATURES:
            add = rng.randint(0, 6)
            c[f"ai_{f}_requests"] += add
            c[f"ai_{f}_success"] += rng.randint(max(0, add - 2), add)
            spent = add * rng.uniform(0.4, 4.0)
            c[f"ai_{f}_time_seconds"] += spent
            c["ai_total_requests"] += add
            c["ai_total_time_seconds"] += spent
            c["ai_cache_hits"] += rng.randint(0, add)
        row = {"ts": to_ms(t), "cpu_percent": 20.0, "memory_percent": 40.0, "disk_percent": 50.0,
               "ollama_up": 1.0, "ollama_model_available": 0.0 if rng.random() < 0.05 else 1.0,
               **{k: round(v, 3) for k, v in c.items()}}
        if n % 6 == 0:
            row["usage_active_users_24h"] = float(rng.randint(10, 500))
            row["usage_total_users"] = float(1000 + n // 6)
        if n not in skip:
            rows.append(row)
        t += timedelta(seconds=interval)
    return rows


def insert(history, rows):
    names = list(history.metrics)
    with history.engine.begin() as conn:
        conn.execute(history.samples.insert(), [{"ts": r["ts"], **{n: r.get(n) for n in names}} for r in rows])


# ---- the independent computation ---------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    """The p-th percentile, linear between closest ranks."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def increase(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return b - a if b >= a else b  # a reset: counted from zero


def expected_days(rows: list[dict], period: Period) -> dict[date, dict]:
    """Per local day (by the sample's local date in Berlin): requests, p50/p95, success, cache, model."""
    start, end = to_ms(period.start), to_ms(period.end)
    days: dict[date, dict] = defaultdict(lambda: defaultdict(list))
    for a, b in itertools.pairwise(rows):
        if not start <= b["ts"] < end:
            continue
        day = datetime.fromtimestamp(b["ts"] / 1000, BERLIN).date()
        d = days[day]
        r = increase(a.get("ai_total_requests"), b.get("ai_total_requests"))
        s = increase(a.get("ai_total_time_seconds"), b.get("ai_total_time_seconds"))
        d["req"].append(r)
        if r:
            d["times"].append(s / r)
        d["cache"].append(increase(a.get("ai_cache_hits"), b.get("ai_cache_hits")))
        for f in FEATURES:
            d["ok"].append(increase(a.get(f"ai_{f}_success"), b.get(f"ai_{f}_success")))
            d["asked"].append(increase(a.get(f"ai_{f}_requests"), b.get(f"ai_{f}_requests")))
    for r in rows:
        if start <= r["ts"] < end:
            days[datetime.fromtimestamp(r["ts"] / 1000, BERLIN).date()]["model"].append(r["ollama_model_available"])
    out = {}
    for day, d in days.items():
        req = sum(d["req"])
        out[day] = {"requests": req, "p50": pct(d["times"], 50), "p95": pct(d["times"], 95),
                    "success": sum(d["ok"]) / sum(d["asked"]) * 100, "cache": sum(d["cache"]) / req * 100,
                    "model": sum(d["model"]) / len(d["model"]) * 100}
    return out


def feature_totals(rows: list[dict], period: Period) -> dict[str, tuple[float, float, float]]:
    """Per feature over the period: requests, success rate, average time."""
    start, end = to_ms(period.start), to_ms(period.end)
    out = {}
    for f in FEATURES:
        req = ok = spent = 0.0
        for a, b in itertools.pairwise(rows):
            if start <= b["ts"] < end and a[f"ai_{f}_requests"] is not None:
                req += increase(a[f"ai_{f}_requests"], b[f"ai_{f}_requests"])
                ok += increase(a[f"ai_{f}_success"], b[f"ai_{f}_success"])
                spent += increase(a[f"ai_{f}_time_seconds"], b[f"ai_{f}_time_seconds"])
        out[f] = (req, ok / req * 100, spent / req)
    return out


def check_ai(report, rows: list[dict]) -> None:
    """The AI buckets and per-feature changes of ``report`` against ``rows`` (this and the previous period's)."""
    period = report.period
    expected = expected_days(rows, period)
    buckets = report.trends.ai.buckets
    assert report.trends.ai.bucket == "day"
    assert [b.start.astimezone(BERLIN).date() for b in buckets] == period.local_days
    assert sum(b.requests for b in buckets) == pytest.approx(report.ai.requests)
    for b in buckets:
        want = expected[b.start.astimezone(BERLIN).date()]
        assert b.requests == pytest.approx(want["requests"])
        assert b.p50 == pytest.approx(want["p50"]) and b.p95 == pytest.approx(want["p95"])
        assert b.success_rate == pytest.approx(want["success"])
        assert b.cache_hit_rate == pytest.approx(want["cache"])
        assert b.model_availability == pytest.approx(want["model"])
    now, before = feature_totals(rows, period), feature_totals(rows, period.previous())
    for f in report.trends.ai.features:
        (req, ok, avg), (p_req, p_ok, p_avg) = now[f.name], before[f.name]
        assert f.requests == pytest.approx(req) and f.success_rate == pytest.approx(ok)
        assert f.requests_change == pytest.approx((req - p_req) / p_req * 100)
        assert f.success_change == pytest.approx(ok - p_ok)
        assert f.time_change == pytest.approx((avg - p_avg) / p_avg * 100)


def last_per_day(rows: list[dict], name: str, period: Period) -> dict[date, float]:
    out = {}
    for r in rows:  # oldest first: the last reading of each local day wins
        when = datetime.fromtimestamp(r["ts"] / 1000, BERLIN)
        if r.get(name) is not None and period.start <= when < period.end:
            out[when.date()] = r[name]
    return out


# ---- tests ---------------------------------------------------------------------------------------------------


def test_a_week_with_a_25_hour_day(history):
    period = Period.parse(WEEK, BERLIN)
    rows = samples(period.previous().start, period.end, 120, seed=2, skip=range(6000, 6030))  # an hour's gap
    insert(history, rows)
    report = build_report(history, period, sample_interval=120, host="h")
    last = report.trends.ai.buckets[-1]
    assert (last.end - last.start) == timedelta(hours=25) and last.start == local_midnight(date(2026, 10, 25))
    check_ai(report, rows)
    active = last_per_day(rows, "usage_active_users_24h", period)
    assert [(d.day, d.active_users) for d in report.trends.usage.days] == [(d, active[d]) for d in period.local_days]
    html = render_html(report)
    assert "Sun 25 Oct <span class=\"muted small\">(25 h)</span>" in html
    assert 'class="chart"' in section(html, "ai") and "AI requests per day" in html


def test_a_month_with_a_counter_reset_and_a_23_hour_day(history):
    period = Period.parse(MONTH, BERLIN)
    rows = samples(period.previous().start, period.end, 600, seed=4, reset_at=6000)  # a Redis flush in March
    insert(history, rows)
    report = build_report(history, period, sample_interval=600, host="h")
    days = report.trends.ai.buckets
    assert len(days) == 31 and days[28].end - days[28].start == timedelta(hours=23)  # Sunday 29 March
    check_ai(report, rows)
    # the flush's day counts from zero after it (a negative step would make it far smaller than the next day)
    flush = datetime.fromtimestamp(rows[5999]["ts"] / 1000, BERLIN).date()
    assert flush.month == 3 and rows[5999]["ai_total_requests"] < rows[5998]["ai_total_requests"]
    assert 0 < days[flush.day - 1].requests < 2 * days[flush.day].requests


def test_an_hourly_day_report_has_25_buckets_on_the_autumn_change(history):
    period = Period.day(date(2026, 10, 25), BERLIN)
    rows = samples(period.start, period.end, 60, seed=5)
    insert(history, rows)
    report = build_report(history, period, sample_interval=60, host="h")
    hours = report.trends.ai.buckets
    assert report.trends.ai.bucket == "hour" and len(hours) == 25
    by_hour: dict[datetime, float] = defaultdict(float)
    for a, b in itertools.pairwise(rows):
        if period.start <= datetime.fromtimestamp(b["ts"] / 1000, UTC) < period.end:
            hour = datetime.fromtimestamp(b["ts"] / 1000, UTC).replace(minute=0, second=0, microsecond=0)
            by_hour[hour] += increase(a["ai_total_requests"], b["ai_total_requests"])
    assert [(h.start, h.requests) for h in hours] == [(k, pytest.approx(v)) for k, v in sorted(by_hour.items())]
    # the two local 02:00 hours (CEST, then CET) are two buckets
    assert [h.start.astimezone(BERLIN).strftime("%H %Z") for h in hours[2:4]] == ["02 CEST", "02 CET"]


def test_a_week_with_no_data(history):
    report = build_report(history, Period.parse(WEEK, BERLIN), sample_interval=60, host="h")
    assert report.previous is None and len(report.trends.ai.buckets) == 7
    assert all(b.requests is None and b.p95 is None and b.model_availability is None for b in report.trends.ai.buckets)
    assert [f.requests_change for f in report.trends.ai.features] == [None, None]
    assert all(d.active_users is None for d in report.trends.usage.days) and report.trends.usage.new_users is None
    html = render_html(report)
    assert "No data for this week" in html and "Over the week" not in html


# ---- the application's database ------------------------------------------------------------------------------


def app_rows(period: Period) -> dict:
    """Users, scenarios and activity around ``period``; the figures the report must find (by hand)."""
    start, end = period.start.replace(tzinfo=None), period.end.replace(tzinfo=None)
    users = [  # id, email, created_at
        ("user_a", "ann.example@example.com", start - timedelta(days=40)),
        ("user_b", "anton.example@example.com", start + timedelta(hours=2)),  # two emails masked alike: a***
        ("user_c", "<script>alert(1)</script>@example.com", start + timedelta(days=6, hours=23)),  # on the 25 h day
        ("user_d", "dora.example@example.com", start - timedelta(seconds=1)),  # the week before
        ("user_e", "emil.example@example.com", end),  # the week after
    ]
    scenarios = [("s1", "<script>alert('scenario')</script>"), ("s2", "Hotel Check-in"), ("s3", "Old one")]
    conversations = [  # id, user, scenario, started, completed
        (1, "user_a", "s1", start + timedelta(hours=1), True),
        (2, "user_a", "s1", start + timedelta(days=1), False),
        (3, "user_b", "s2", start + timedelta(days=2), True),
        (4, "user_c", "s1", end - timedelta(seconds=1), True),
        (5, "user_a", "s3", start - timedelta(seconds=1), True),  # before the period
        (6, "user_c", "s3", end, True),  # after it
    ]
    quizzes = [(1, "user_b", start + timedelta(days=3)), (2, "user_b", start + timedelta(days=4)),
               (3, "user_b", start + timedelta(days=5)), (4, "user_a", start - timedelta(days=2))]
    checks = [(1, "user_c", start + timedelta(days=6))]
    return {"users": users, "scenarios": scenarios, "conversations": conversations, "quizzes": quizzes,
            "checks": checks,
            # in the period: user_b 1 conversation + 3 quizzes = 4; user_a 2; user_c 1 + 1 = 2
            "top": [("user_b", "a***@example.com", 4), ("user_a", "a***@example.com", 2),
                    ("user_c", "<***@example.com", 2)],
            "scenarios_expected": [("s1", 3, 2 / 3 * 100), ("s2", 1, 100.0)],
            "new_per_day": [1, 0, 0, 0, 0, 0, 1]}


def create_app_db(url: str, data: dict) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for ddl in DDL:
            conn.execute(text(ddl))
        conn.execute(text("INSERT INTO users VALUES (:i, :e, :c, :c)"),
                     [{"i": i, "e": e, "c": c} for i, e, c in data["users"]])
        conn.execute(text("INSERT INTO scenarios VALUES (:i, :n)"), [{"i": i, "n": n} for i, n in data["scenarios"]])
        conn.execute(text("INSERT INTO conversations VALUES (:i, :u, :s, :t, NULL, :c)"),
                     [dict(zip("iustc", c, strict=True)) for c in data["conversations"]])
        conn.execute(text("INSERT INTO quiz_attempts VALUES (:i, :u, :t, 0.5)"),
                     [dict(zip("iut", q, strict=True)) for q in data["quizzes"]])
        conn.execute(text("INSERT INTO grammar_checks VALUES (:i, :u, :t)"),
                     [dict(zip("iut", g, strict=True)) for g in data["checks"]])
    engine.dispose()


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_period_lists_come_from_the_application_database(history, tmp_path, request, backend):
    url = f"sqlite:///{tmp_path / 'app.db'}" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    period = Period.parse(WEEK, BERLIN)
    data = app_rows(period)
    create_app_db(url, data)
    insert(history, samples(period.start, period.end, 600, seed=6))
    settings = load_settings(None, app_database_url=url, timezone="Europe/Berlin", ai_features="grammar,quiz")
    report = build_report(history, period, sample_interval=600, host="h", settings=settings)
    usage = report.trends.usage
    assert usage.lists == "period" and usage.error is None
    assert [(u.short, u.email, u.activity) for u in usage.top_users] == [
        (short_id(i), email, n) for i, email, n in data["top"]]
    assert usage.top_users[0].short != usage.top_users[1].short  # same masked email, told apart
    assert [(s.scenario_id, s.starts) for s in usage.scenarios] == [(i, n) for i, n, _ in data["scenarios_expected"]]
    assert [s.completion for s in usage.scenarios] == pytest.approx([c for *_, c in data["scenarios_expected"]])
    assert usage.new_users == 2 and usage.new_users_source == "created"
    assert [d.new_users for d in usage.days] == data["new_per_day"]
    html = render_html(report)
    part = section(html, "usage")
    assert "Activity in this week" in part and "Top users in this week" in part and "lifetime" not in part
    assert "<script" not in html  # every name from the data stays text
    assert "&lt;script&gt;alert(&#39;scenario&#39;)&lt;/script&gt;" in part
    assert "&lt;***@example.com" in part and short_id("user_c") in part
    # the CSV files hold the same lists as the HTML (the period's), every row of them
    files = csv_attachments(report)
    assert files["top_users"].splitlines()[0] == "user_id_short,email,activity_in_period,last_activity_in_period"
    assert [line.split(",")[0] for line in files["top_users"].splitlines()[1:]] == [u.short for u in usage.top_users]
    assert files["popular_scenarios"].splitlines()[0].startswith("scenario_id,name,starts_in_period")
    report.top_n = 1  # cut in the HTML: the note names the file, which has them all
    cut = section(render_html(report), "usage")
    assert "more in 2026-W" in cut and "top_users.csv" in cut
    assert set(csv_attachments(report, capped_only=True)) >= {"top_users", "popular_scenarios"}


def test_without_the_application_database_the_lifetime_lists_are_labelled(history, tmp_path):
    period = Period.parse(WEEK, BERLIN)
    rows = samples(period.previous().start, period.end, 600, seed=7)
    insert(history, rows)
    with history.engine.begin() as conn:
        conn.execute(history.usage_lists.insert(), {
            "kind": "top_users", "ts": to_ms(period.end - timedelta(hours=1)),
            "body": '[{"user_id": "u1", "email": "<script>x</script>", "activity_count": 99, "last_active": null}]'})
    missing = tmp_path / "absent.db"  # opened read-only: never created
    settings = load_settings(None, app_database_url=f"sqlite:///{missing}", timezone="Europe/Berlin",
                             ai_features="grammar,quiz")
    report = build_report(history, period, sample_interval=600, host="h", settings=settings)
    usage = report.trends.usage
    assert usage.lists == "lifetime" and usage.error and not missing.exists()
    assert [(u.short, u.activity) for u in usage.top_users] == [(short_id("u1"), 99)]
    part = section(render_html(report), "usage")
    assert "Top users (lifetime)" in part and "Activity (lifetime)" in part
    assert "&lt;script&gt;x&lt;/script&gt;" in part and "<script>" not in part
    # new users: the net change of the user count (the last reading against the previous week's last)
    assert usage.new_users_source == "net" and "net change of the user count" in part
    readings = [(datetime.fromtimestamp(r["ts"] / 1000, BERLIN), r["usage_total_users"]) for r in rows
                if r.get("usage_total_users") is not None]
    ends = [[v for t, v in readings if t < local_midnight(d + timedelta(days=1))][-1]
            for d in [period.first_day - timedelta(days=1), *period.local_days]]
    assert [d.new_users for d in usage.days] == [b - a for a, b in itertools.pairwise(ends)]
    assert usage.new_users == ends[-1] - ends[0] == sum(d.new_users for d in usage.days)


def test_the_monthly_pdf(history, tmp_path):
    from reporter.report.pdf import write_pdf

    period = Period.parse(MONTH, BERLIN)
    insert(history, samples(period.previous().start, period.end, 900, seed=8, reset_at=1500))
    report = build_report(history, period, sample_interval=900, host="h")
    result = write_pdf(render_html(report), tmp_path / "month.pdf")
    from pypdf import PdfReader

    pages = "".join(p.extract_text() for p in PdfReader(str(result.path)).pages)
    assert "AI requests per day" in pages and "Sun 29 Mar (23 h)" in pages and math.isfinite(report.ai.requests)


def test_the_change_of_a_usage_figure_finds_the_previous_period_s_last_reading_days_back(history):
    """build.last_readings reads back from the period's start in growing windows (1 h, 1 day, the rest)."""
    period = Period.parse(WEEK, BERLIN)
    previous = period.previous()
    rows = [{"ts": to_ms(previous.start + timedelta(hours=h)), "cpu_percent": 1.0, "usage_total_users": 100.0 + h}
            for h in (1, 2)]  # the previous week's last readings: on its Monday
    rows += [{"ts": to_ms(previous.end - timedelta(minutes=30)), "cpu_percent": 1.0, "usage_total_users": None,
              "usage_active_users_24h": 7.0}]  # its last half hour: another figure only
    rows += [{"ts": to_ms(period.start + timedelta(hours=5)), "cpu_percent": 1.0, "usage_total_users": 130.0,
              "usage_active_users_24h": 9.0}]
    insert(history, rows)
    report = build_report(history, period, sample_interval=600, host="h")
    figures = {u.name: (u.value, u.change) for u in report.usage}
    assert figures["total_users"] == (130.0, 28.0) and figures["active_users_24h"] == (9.0, 2.0)
    assert figures["total_scenarios"] == (None, None)


def test_the_periods_lists_cut_huge_names_from_the_application():
    """The report's own queries on the application's database: a 100,000-character scenario name or email is
    cut to 200 characters, as in the snapshot (reporter.collect.usage.clip)."""
    from reporter.report.usage_trends import _scenarios, _users

    (scenario,) = _scenarios([{"scenario_id": "s" * 300, "name": "Z" * 100_000, "start_count": 4,
                               "completed_count": 1}])
    assert len(scenario.scenario_id) == len(scenario.name) == 200 and scenario.name.endswith("…")
    (user,) = _users([{"user_id": "u1", "email": "a" * 5000 + "@example.com", "activity_count": 3}], True)
    assert len(user.email) == 200
