"""The incidents of weekly and monthly reports (issue 12 item 4): every alert episode of the period, most severe
first, with host and acknowledgement; count, MTTR, the longest and the firing time against the previous period;
the noisiest rules. Recomputed here independently from the alert events the tests insert."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.base.ms import to_ms
from reporter.report.build import build_report
from reporter.report.html import fmt_duration, render_html
from reporter.report.incidents import Incidents
from reporter.report.period import Period
from reporter.report.summary import incident_figures
from reporter.report.text import render_text
from reporter.store.alert_schema import acks
from tests.report.period_history import insert_events, insert_rows, sample_rows
from tests.report.test_render import section, text

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
SCRIPT = "<script>alert(1)</script>"
RANK = {"critical": 0, "warning": 2}


@pytest.fixture
def history_features():
    return ["grammar", "quiz"]


def local(*args, tz=BERLIN) -> datetime:
    return datetime(*args, tzinfo=tz)


# (rule, severity, host, fingerprint, fired, resolved or None)
Episode = tuple[str, str, str, str, datetime, datetime | None]


def events_of(episodes: list[Episode]) -> list:
    out = []
    for name, severity, host, fp, fired, resolved in episodes:
        labels = {"alertname": name, "severity": severity, "host": host}
        out.append((fired, "firing", fp, labels))
        if resolved is not None:
            out.append((resolved, "resolved", fp, labels))
    return out


def recompute(episodes: list[Episode], period: Period) -> dict:
    """The incident figures of ``period`` from the episodes themselves: those firing during it, their time
    within it, the whole durations of those resolved in it, the rules by episode count."""
    inside = []
    for name, severity, host, _fp, fired, resolved in episodes:
        end = resolved or period.end
        if fired < period.end and end > period.start and (resolved is None or resolved >= period.start):
            seconds = (min(end, period.end) - max(fired, period.start)).total_seconds()
            closed = resolved is not None and resolved < period.end
            inside.append((name, severity, host, fired, resolved if closed else None, seconds))
    whole = [(r - f).total_seconds() for _n, _s, _h, f, r, _sec in inside if r is not None]
    rules = Counter(n for n, *_ in inside)
    return {
        "count": len(inside),
        "critical": sum(1 for e in inside if e[1] == "critical"),
        "mttr": sum(whole) / len(whole) if whole else None,
        "longest": max((e[5] for e in inside), default=None),
        "seconds": sum(e[5] for e in inside),
        "order": [(e[0], e[3]) for e in sorted(inside, key=lambda e: (RANK[e[1]], -e[5], e[3]))],
        "rules": rules,
        "rule_seconds": {n: sum(e[5] for e in inside if e[0] == n) for n in rules},
    }


WEEK = Period.parse("2026-W48", BERLIN)  # Mon 23 - Sun 29 November 2026
WEEK_EPISODES: list[Episode] = [
    ("disk_full", "critical", "web-1", "d1", local(2026, 11, 17, 10, 0), local(2026, 11, 17, 10, 40)),  # W47
    ("cpu_high", "warning", "web-1", "c1", local(2026, 11, 18, 10, 0), local(2026, 11, 18, 10, 20)),  # W47
    ("cpu_high", "warning", "web-1", "c1", local(2026, 11, 22, 23, 30), local(2026, 11, 23, 0, 30)),  # both
    (SCRIPT, "critical", "web-2", "x1", local(2026, 11, 24, 14, 5), local(2026, 11, 24, 14, 19)),
    ("cpu_high", "warning", "web-1", "c2", local(2026, 11, 25, 8, 0), local(2026, 11, 25, 11, 0)),
    ("cpu_high", "warning", "web-1", "c1", local(2026, 11, 26, 9, 0), local(2026, 11, 26, 9, 5)),
    ("disk_full", "critical", "web-1", "d1", local(2026, 11, 29, 22, 0), None),  # still firing at the end
]


@pytest.fixture
def week_report(history):
    insert_rows(history, sample_rows(WEEK.previous().start, WEEK.end, interval=1800))
    insert_events(history, events_of(WEEK_EPISODES))
    with history.engine.begin() as conn:
        conn.execute(acks.insert(), [{"fingerprint": "x1", "starts_at": to_ms(local(2026, 11, 24, 14, 5)),
                                      "acked_by": "ops@example.com", "comment": "", "at": to_ms(local(2026, 11, 24,
                                                                                                      14, 7))}])
    return build_report(history, WEEK, sample_interval=1800, host="web-1")


def test_a_week_s_incidents_match_an_independent_computation(week_report):
    found = week_report.incidents
    assert isinstance(found, Incidents)  # filled by build_report
    now, then = recompute(WEEK_EPISODES, WEEK), recompute(WEEK_EPISODES, WEEK.previous())
    assert (found.count, found.critical, found.firing, found.resolved) == (now["count"], now["critical"], 1, 4) \
        == (5, 2, 1, 4)
    assert found.mttr == pytest.approx(now["mttr"]) == (3600 + 840 + 3 * 3600 + 300) / 4  # whole durations
    assert found.longest is not None and found.longest.alertname == "cpu_high"
    assert found.longest_seconds == now["longest"] == 3 * 3600
    assert found.seconds == pytest.approx(now["seconds"])
    assert [(e.alertname, e.start) for e in found.episodes] == now["order"]
    assert [(r.name, r.episodes, r.seconds, r.previous) for r in found.noisiest] == [
        (name, now["rules"][name], pytest.approx(now["rule_seconds"][name]), then["rules"][name])
        for name in ("cpu_high", "disk_full", SCRIPT)]
    assert [r.previous for r in found.noisiest] == [2, 1, 0]
    previous = week_report.previous.incidents
    assert (previous.count, previous.mttr, previous.longest_seconds) == (3, then["mttr"], then["longest"]) == (
        3, 1800, 2400)
    figures = {f.key: f for f in incident_figures(week_report)}
    assert figures["episodes"].change == pytest.approx((5 - 3) / 3 * 100) and figures["episodes"].tone == "bad"
    assert figures["mttr"].change == pytest.approx((now["mttr"] - then["mttr"]) / then["mttr"] * 100)
    assert figures["longest"].change == pytest.approx((now["longest"] - then["longest"]) / then["longest"] * 100)
    assert figures["firing"].change == pytest.approx((now["seconds"] - then["seconds"]) / then["seconds"] * 100)
    assert [f.change_text for f in figures.values()] == ["▲ +67 %", "▲ +116 %", "▲ +350 %", "▲ +288 %"]


def test_the_incidents_section_lists_the_week_s_episodes_with_dates_hosts_and_acknowledgements(week_report):
    html = render_html(week_report)
    assert html.count('<section id="incidents">') == 1 and '<section id="alerts">' not in html
    assert "the clocks went" not in html  # a 168 h week has no DST change
    body = section(html, "incidents")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script" not in html  # escaped, never raw
    rows = [text(r) for r in re.findall(r"<tr class=[^>]*>(.*?)</tr>", body, re.S)]
    assert rows == [
        "disk_full critical web-1 Sun 29 Nov 22:00 still firing 2 h 00 min \N{EN DASH}",
        f"{SCRIPT.replace('<', '&lt;').replace('>', '&gt;')} critical web-2 Tue 24 Nov 14:05 14:19 14 min "
        "ops@example.com 14:07",
        "cpu_high warning web-1 Wed 25 Nov 08:00 11:00 3 h 00 min \N{EN DASH}",  # an end on the day of its start: its time
        "cpu_high warning web-1 Sun 22 Nov 23:30 Mon 23 Nov 00:30 30 min \N{EN DASH}",  # began the week before
        "cpu_high warning web-1 Thu 26 Nov 09:00 09:05 5 min \N{EN DASH}",
    ]
    figures = text(body[:body.index("</table>")])
    assert figures.startswith("Incidents Episodes Mean time to resolve Longest Firing time 5 1 h 05 min 3 h 00 min "
                              f"{fmt_duration(week_report.incidents.seconds)} ▲ +67 % worse last week: 3")
    noisiest = text(body[body.index("Noisiest rules"):])
    assert noisiest.startswith("Noisiest rules Rule Severity Episodes Firing time Episodes last week "
                               "cpu_high warning 3 3 h 35 min 2 disk_full critical 1 2 h 00 min 1 "
                               "&lt;script&gt;alert(1)&lt;/script&gt; critical 1 14 min 0")
    assert "the mean whole duration, firing to resolved, of the 4 episodes resolved during it" in noisiest
    summary = render_text(week_report)
    assert "5 alerts (2 critical, 5 h 49 min, 1 still firing)" in " ".join(summary.split())
    assert "CRITICAL disk_full host=web-1: Sun 29 Nov 22:00, still firing, 2 h 00 min" in summary


def test_a_month_s_incidents_across_the_dst_change_count_real_time(history):
    """October 2026 in Berlin (745 h): an episode from 01:30 CEST to 02:30 CET on the 25th lasted 2 h, not the
    1 h its wall clock times say; September is the previous month."""
    month = Period.parse("2026-10", BERLIN)
    episodes: list[Episode] = [
        ("redis_down", "critical", "web-1", "r1", local(2026, 9, 10, 8, 0), local(2026, 9, 10, 8, 45)),  # Sept.
        ("redis_down", "critical", "web-1", "r1", local(2026, 10, 24, 23, 30, tz=UTC),
         local(2026, 10, 25, 1, 30, tz=UTC)),  # 01:30 CEST to 02:30 CET
        ("cpu_high", "warning", "web-1", "c1", local(2026, 10, 3, 12, 0), local(2026, 10, 3, 12, 10)),
        ("cpu_high", "warning", "web-1", "c1", local(2026, 10, 31, 23, 0), local(2026, 11, 1, 1, 0)),  # into Nov.
    ]
    insert_rows(history, sample_rows(month.previous().start, month.end, interval=3600))
    insert_events(history, events_of(episodes))
    report = build_report(history, month, sample_interval=3600, host="web-1")
    found, now, then = report.incidents, recompute(episodes, month), recompute(episodes, month.previous())
    assert found.count == now["count"] == 3 and found.resolved == 2 and found.firing == 1  # resolved after the end
    assert found.mttr == pytest.approx(now["mttr"]) == (2 * 3600 + 600) / 2
    assert found.longest_seconds == now["longest"] == 2 * 3600
    assert report.previous.incidents.mttr == then["mttr"] == 45 * 60
    assert [(r.name, r.episodes, r.previous) for r in found.noisiest] == [("cpu_high", 2, 0), ("redis_down", 1, 1)]
    rows = [text(r) for r in re.findall(r"<tr class=[^>]*>(.*?)</tr>", section(render_html(report), "incidents"),
                                         re.S)]
    assert rows[0] == "redis_down critical web-1 Sun 25 Oct 01:30 CEST 02:30 CET 2 h 00 min \N{EN DASH}"
    assert rows[1].startswith("cpu_high warning web-1 Sat 31 Oct 23:00 CET still firing 1 h 00 min")


def test_a_week_without_alerts_says_so_and_compares_with_zero(history):
    insert_rows(history, sample_rows(WEEK.previous().start, WEEK.end, interval=3600))
    report = build_report(history, WEEK, sample_interval=3600, host="web-1")
    assert report.incidents.count == 0 and report.incidents.mttr is None and report.incidents.noisiest == []
    body = text(section(render_html(report), "incidents"))
    assert body == "Incidents No alert fired."
    figures = {f.key: f for f in incident_figures(report)}
    assert figures["episodes"].change_text == "±0" and figures["mttr"].change_text == "n/a"
    assert timedelta(0) == WEEK.end - WEEK.next().start
