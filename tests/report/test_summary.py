"""The verdict and the key figures of weekly and monthly reports (issue 12 item 2), recomputed independently from
the inserted samples and alert events: a week with a DST change (2026-W43, 169 h in Europe/Berlin), a month with
an AI counter reset (November 2026, compared with October, which has the DST change), a week without data; the
text part and the HTML and PDF top."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.period import Period
from reporter.report.summary import FIGURES, Figure, key_figures, objectives_clause, verdict
from reporter.report.text import render_text
from tests.report.period_history import expected, insert_events, insert_rows, sample_rows
from tests.report.test_render import section, text

BERLIN = ZoneInfo("Europe/Berlin")
INTERVAL = 600
H, M = timedelta(hours=1), timedelta(minutes=1)


@pytest.fixture
def history_features():
    return ["grammar", "quiz"]


def local(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def by_key(figures: list[Figure]) -> dict[str, Figure]:
    return {f.key: f for f in figures}


def relative(now: float, before: float) -> float:
    return (now - before) / before * 100


def labels(name: str, severity: str, **more: str) -> dict[str, str]:
    return {"alertname": name, "severity": severity, **more}


# ---- a week with a DST change -------------------------------------------------------------------------------


WEEK = Period.parse("2026-W43", BERLIN)  # Mon 19 - Sun 25 October 2026; the clocks go back on the 25th


@pytest.fixture
def week(history):
    """Two weeks of samples (W42, W43) every 10 min; W42's responses twice as slow; the database down 30 min in
    W42, redis 60 min in W43, a 100 min gap in W43; 4 alert episodes firing in W42, 3 in W43."""
    before = WEEK.previous()
    rows = sample_rows(before.start, WEEK.end, interval=INTERVAL, seed=7, slow=2.0, slow_until=WEEK.start,
                       down={"database": (200, 202), "redis": (1100, 1105)}, skip=range(1300, 1310))
    insert_rows(history, rows)
    disk, cpu, redis = labels("disk_full", "critical"), labels("cpu_high", "warning"), labels("redis_down", "critical")
    insert_events(history, [
        (local(2026, 10, 13, 9, 0), "firing", "d1", disk), (local(2026, 10, 13, 9, 30), "resolved", "d1", disk),
        (local(2026, 10, 14, 9, 0), "firing", "c1", cpu), (local(2026, 10, 14, 9, 10), "resolved", "c1", cpu),
        (local(2026, 10, 15, 9, 0), "firing", "c1", cpu), (local(2026, 10, 15, 9, 20), "resolved", "c1", cpu),
        # from Sunday 23:00 to Monday 01:00: in both weeks, resolved in W43 (2 h to resolve)
        (local(2026, 10, 18, 23, 0), "firing", "c1", cpu), (local(2026, 10, 19, 1, 0), "resolved", "c1", cpu),
        (local(2026, 10, 21, 9, 0), "firing", "r1", redis), (local(2026, 10, 21, 9, 15), "resolved", "r1", redis),
        (local(2026, 10, 25, 14, 0), "firing", "c1", cpu),  # still firing at the week's end
    ])
    return rows


def test_a_dst_week_s_key_figures_and_their_changes_match_an_independent_computation(history, week):
    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web-1")
    assert report.hours == 169 and report.previous is not None and report.previous.period.key == "2026-W42"
    figures = by_key(key_figures(report))
    assert [f.key for f in figures.values()] == [k for k, *_ in FIGURES]
    now, then = expected(week, WEEK.start, WEEK.end, INTERVAL), expected(week, WEEK.previous().start,
                                                                         WEEK.start, INTERVAL)
    assert now["coverage"] == pytest.approx((1014 - 10) / 1014 * 100)  # 169 h of 10 min, 10 samples missing
    for key in ("availability", "ai_requests", "ai_p95", "ai_success", "cache_hit_rate", "active_users",
                "coverage"):
        f = figures[key]
        assert f.value == pytest.approx(now[key]), key
        assert f.previous == pytest.approx(then[key]), key
        if f.unit == "percent":  # a percentage changes in points
            assert f.change == pytest.approx(now[key] - then[key]) and f.change_unit == "pts", key
        else:
            assert f.change == pytest.approx(relative(now[key], then[key])) and f.change_unit == "%", key
    assert figures["availability"].note == "redis"
    assert figures["availability"].value == pytest.approx(100 - 6 / (1014 - 10) * 100)
    # alert episodes: 4 firing during W42 (one of them into W43), 3 during W43 (one still firing)
    alerts, mttr = figures["alerts"], figures["mttr"]
    assert (alerts.value, alerts.previous, alerts.note) == (3, 4, "1 critical")
    assert alerts.change == pytest.approx(-25.0) and alerts.change_text == "▼ -25 %" and alerts.tone == "good"
    assert mttr.value == pytest.approx((2 * 3600 + 15 * 60) / 2) and mttr.previous == pytest.approx(
        (30 + 10 + 20) * 60 / 3)  # whole durations of the episodes resolved in each week
    assert mttr.change == pytest.approx(relative(4050, 1200)) and mttr.change_text == "▲ +238 %"
    assert mttr.tone == "bad" and mttr.verdict_word == "worse"
    p95 = figures["ai_p95"]  # twice as fast as the week before: lower is better
    assert p95.change < -30 and p95.tone == "good" and p95.change_text.startswith("▼ -")
    assert figures["ai_requests"].better is None and figures["ai_requests"].tone in ("neutral", "na")
    want_p95 = round(abs(relative(now["ai_p95"], then["ai_p95"])))
    rest = f"3 alerts (1 critical, {_firing_time(report)}, 1 still firing); AI p95 {p95.value_text}, {want_p95} % " \
           "faster than last week."
    # the objectives of slo.py (defaults): redis down 1 h of 169 (99.41 %), the random success rate under 90 %
    assert verdict(report).startswith("2 of 6 objectives missed (redis availability, AI success rate), 1 at risk")
    assert verdict(report).endswith("; " + rest)
    report.objectives = []  # without objectives: the services
    assert verdict(report) == f"Lowest availability redis {figures['availability'].value_text}; {rest}"


def _firing_time(report) -> str:
    from reporter.report.html import fmt_duration

    return fmt_duration(sum(a.seconds for a in report.alerts))


def test_the_weekly_html_and_text_open_with_the_verdict_and_key_figures(history, week, tmp_path):
    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web-1")
    html = render_html(report)
    top = section(html, "summary")
    assert html.index('<section id="summary"') < html.index('<section id="incidents"') < html.index(
        '<section id="system"')
    assert '<table class="kpis">' not in html and "Fleet-wide alerts" not in html
    assert verdict(report) in text(top)
    cards = re.findall(r'<li class="kf kf-(\w+)">(.*?)</li>', top, re.S)
    assert len(cards) == len(FIGURES)
    mttr = next(text(body) for tone, body in cards if "Mean time to resolve" in body)
    assert "▲ +238 % worse" in mttr and "last week: 20 min" in mttr
    assert dict((text(body).split(" ")[0], tone) for tone, body in cards)["Alerts"] == "good"
    assert "A 169 h week: the clocks went back one hour." in html
    summary = render_text(report)
    lines = summary.splitlines()
    assert "Key figures (change vs last week; pts = percentage points):" in lines
    assert " ".join(lines[2:lines.index("", 2)]) == verdict(report)  # wrapped under the title line
    assert " ".join(summary.split()).count(" ".join(verdict(report).split())) == 1
    assert any(re.fullmatch(r"  Alerts +3 \(1 critical\) +▼ -25 %, better", line) for line in lines)
    assert all(len(line) <= 80 for line in lines[1:lines.index("Key figures (change vs last week; pts = percentage "
                                                                "points):") + len(FIGURES) + 1])


def test_a_weekly_pdf_has_the_verdict_and_every_key_figure_on_page_one(history, week, tmp_path):
    from pypdf import PdfReader

    from reporter.report.pdf import write_pdf

    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web-1")
    result = write_pdf(render_html(report), tmp_path / f"{WEEK.key}.pdf")
    first = " ".join(PdfReader(str(result.path)).pages[0].extract_text().split())
    assert " ".join(verdict(report).split()) in first
    for _, label, _, _ in FIGURES:
        assert label.upper() in first.upper(), label


# ---- a month with an AI counter reset ----------------------------------------------------------------------


def test_a_month_with_a_counter_reset_compared_with_last_month(history):
    month = Period.parse("2026-11", BERLIN)
    october = month.previous()
    interval = 1200
    # October: 745 h (the clocks go back) = 2235 samples after the base one; the counters restart in November
    rows = sample_rows(october.start, month.end, interval=interval, seed=11, reset_at=3000,
                       down={"ollama": (2500, 2502)})
    assert rows[3000]["ai_total_requests"] < rows[2999]["ai_total_requests"]
    insert_rows(history, rows)
    report = build_report(history, month, sample_interval=interval, host="web-1")
    assert report.previous is not None and report.previous.period.key == "2026-10"
    figures = by_key(key_figures(report))
    now, then = expected(rows, month.start, month.end, interval), expected(rows, october.start, month.start,
                                                                           interval)
    naive = rows[-1]["ai_total_requests"] - [r for r in rows if r["ts"] < now_ms(month.start)][-1][
        "ai_total_requests"]
    assert now["ai_requests"] > naive  # the reset's increase counted, not a negative step
    for key in ("availability", "ai_requests", "ai_p95", "ai_success", "cache_hit_rate", "active_users",
                "coverage"):
        assert figures[key].value == pytest.approx(now[key]), key
        assert figures[key].previous == pytest.approx(then[key]), key
    assert figures["availability"].note == "ollama"
    assert figures["availability"].change == pytest.approx(now["availability"] - then["availability"])
    assert figures["ai_requests"].change == pytest.approx(relative(now["ai_requests"], then["ai_requests"]))
    assert (figures["alerts"].value, figures["alerts"].previous, figures["alerts"].change_text) == (0, 0, "±0")
    assert figures["mttr"].change_text == "n/a"  # nothing resolved on either side
    assert verdict(report).startswith("1 of 6 objectives missed (AI success rate); no alerts; ")
    report.objectives = []
    assert verdict(report).startswith(f"Lowest availability ollama {figures['availability'].value_text}; no alerts; "
                                      f"AI p95 {figures['ai_p95'].value_text}")
    assert "than last month" in verdict(report) or "as fast as last month" in verdict(report)
    assert "Key figures (change vs last month; pts = percentage points):" in render_text(report)


def now_ms(moment: datetime) -> int:
    from reporter.base.ms import to_ms

    return to_ms(moment)


# ---- no data ----------------------------------------------------------------------------------------------


def test_a_week_without_data_has_every_figure_na_and_says_so(history):
    insert_rows(history, sample_rows(WEEK.start - timedelta(days=30), WEEK.start - timedelta(days=20)))
    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web-1")
    assert report.empty and report.previous is not None and report.previous.empty
    figures = key_figures(report)
    assert [(f.value_text, f.change_text, f.tone) for f in figures] == [("n/a", "n/a", "na")] * len(FIGURES)
    assert verdict(report) == "No data for this week: the history holds no samples for it."
    summary = render_text(report)
    assert "No data for this week: the history holds no samples for it." in summary
    assert summary.count("n/a") == 2 * len(FIGURES)
    html = render_html(report)
    top = text(section(html, "summary"))
    # said once, with the period's bounds; no card of nine "n/a" when neither week has data
    assert top.startswith("No data for this week") and "n/a" not in top and "nodata-banner" not in html


# ---- objectives -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """The fields of reporter/report/slo.py's objectives that the verdict reads."""

    name: str
    status: str
    attainment: float | None = None
    target: float = 99.5
    unit: str = "%"


def test_the_verdict_names_the_objectives_when_there_are_some(history, week):
    report = build_report(history, WEEK, sample_interval=INTERVAL, host="web-1")
    report.objectives = []  # none: the services instead
    assert verdict(report).startswith("Lowest availability redis")
    report.objectives = [Objective("redis availability", "met"), Objective("AI p95 latency", "met")]
    assert verdict(report).startswith("All 2 objectives met; 3 alerts (1 critical, ")
    report.objectives = [Objective("redis availability", "missed"), Objective("AI p95 latency", "at_risk"),
                         Objective("AI success rate", "met"), Objective("sampling coverage", "no_data")]
    assert verdict(report).startswith("1 of 4 objectives missed (redis availability), 1 at risk (AI p95 latency), "
                                      "1 without data; 3 alerts")
    assert objectives_clause([Objective("x", "no_data")]) == "no objective could be measured (1 without data)"
    assert objectives_clause([Objective("a", "met"), Objective("b", "no_data")]) == "1 of 2 objectives met, " \
                                                                                    "1 without data"
    assert objectives_clause([Objective("a", "at_risk"), Objective("b", "met")]) == "1 of 2 at risk (a)"


# ---- the figure's arithmetic ------------------------------------------------------------------------------


def test_a_figure_changes_in_points_or_percent_coloured_by_its_direction():
    pct = Figure("x", "X", 99.2, 99.95, "percent", "higher")
    assert pct.change_text == "▼ -0.75 pts" and pct.tone == "bad" and pct.verdict_word == "worse"
    p95 = Figure("p", "P", 2.5, 3.0, "seconds", "lower")
    assert p95.change_text == "▼ -17 %" and p95.tone == "good"
    assert Figure("a", "A", 3, 0, "count", "lower").change_text == "▲ +3"  # from 0: the difference
    assert Figure("t", "T", 3900, 0, "duration", "lower").change_text == "▲ +1 h 05 min"
    assert Figure("t", "T", 0, 3900, "duration", "lower").change_text == "▼ -100 %"
    assert Figure("a", "A", 0, 0, "count", "lower").change_text == "±0" and \
        Figure("a", "A", 0, 0, "count", "lower").tone == "neutral"
    assert Figure("r", "R", 120, 100, "count", None).tone == "neutral"  # more requests: neither good nor bad
    assert Figure("r", "R", None, 100, "count", None).change_text == "n/a"
    assert Figure("p", "P", 2.85, 3.0, "seconds", "lower").change_text == "▼ -5.0 %"  # under 10 %: 1 decimal
    assert Figure("r", "R", 100.001, 100, "count", "higher").change_text == "±0 %"  # rounds to 0: unchanged
    assert date(2026, 10, 19) == WEEK.first_day
