"""Alert episodes inhibited while they fired (a down Ollama mutes ``model_unavailable``): the report marks them
"inhibited by ..." in the Incidents table, the episode list, the email's text and the CSV, and counts them apart,
never as critical. The rules are those in force: the built-in ones, or the alerting file's for ``reporter
report``. Real SQLite histories with stored alert events."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporter.alerting.inhibition import parse_rules
from reporter.report.attachments import csv_attachments
from reporter.report.build import build_report
from reporter.report.html import fmt_duration, render_html
from reporter.report.period import Period
from reporter.report.summary import alerts_clause, key_figures
from reporter.report.text import render_text
from reporter.store.history import History
from tests.report.period_history import insert_events, insert_rows, sample_rows
from tests.report.test_render import section, text
from tests.test_cli import reporter

UTC = ZoneInfo("UTC")
DAY = Period.day(date(2026, 11, 24), UTC)
WEEK = Period.parse("2026-W48", UTC)  # Mon 23 - Sun 29 November 2026


@pytest.fixture
def history_features():
    return ["grammar", "quiz"]


def at(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def episode(name: str, fp: str, fired: datetime, resolved: datetime | None, severity: str = "critical",
            **labels: str) -> list:
    """The alert events of one episode: firing at ``fired``, resolved at ``resolved`` (None: still firing)."""
    full = {"alertname": name, "severity": severity, "host": "web-1", **labels}
    return [(fired, "firing", fp, full)] + ([(resolved, "resolved", fp, full)] if resolved is not None else [])


def _report(history, events, period=DAY, rules=None):
    insert_rows(history, sample_rows(period.previous().start, period.end, interval=1800))
    insert_events(history, events)
    if rules is None:
        return build_report(history, period, sample_interval=1800, host="web-1")
    return build_report(history, period, sample_interval=1800, host="web-1", inhibit_rules=rules)


def by_name(report) -> dict[str, object]:
    return {(e.alertname, e.labels.get("host"), e.start): e for e in report.alerts}


def test_an_episode_that_began_while_ollama_was_down_is_marked_inhibited_and_not_counted_critical(history):
    """The new user's case: Ollama down (``service_down{service=ollama}``) fires, ``model_unavailable`` follows a
    minute later and is muted by the built-in rule: one outage, "1 critical, 1 inhibited", not "2 critical"."""
    report = _report(history, [*episode("service_down", "s1", at(10), at(10, 14), service="ollama"),
                               *episode("model_unavailable", "m1", at(10, 1), at(10, 14))])
    marks = {e.alertname: e.inhibited_by for e in report.alerts}
    assert marks == {"service_down": "", "model_unavailable": "service_down{service=ollama}"}
    found = report.incidents
    assert (found.count, found.critical, found.inhibited) == (2, 1, 1)
    assert alerts_clause(found) == f"2 alerts (1 critical, 1 inhibited, {fmt_duration(27 * 60)})"
    assert next(f for f in key_figures(report) if f.key == "alerts").note == "1 critical, 1 inhibited"
    body = text(section(render_html(report), "incidents"))
    assert "model_unavailable inhibited by service_down{service=ollama}" in body
    summary = render_text(report)
    assert "2 alerts (1 critical, 1 inhibited," in " ".join(summary.split())
    assert "CRITICAL model_unavailable host=web-1: 10:01 to 10:14, 13 min, inhibited by " \
           "service_down{service=ollama}" in summary
    rows = list(csv.DictReader(io.StringIO(csv_attachments(report)["alerts"])))
    assert {r["alertname"]: r["inhibited_by"] for r in rows} == marks


def test_episodes_that_began_before_the_source_fired_after_it_resolved_or_on_another_host_are_not_inhibited(
        history):
    """``model_unavailable`` that fired a minute before Ollama's ``service_down`` (it was notified: its own
    alert), one that fired after it resolved, and a host's alert while another host is down (the built-in
    ``host_down`` rule has ``equal = ["host"]``) stay critical; the same host's alert is inhibited."""
    report = _report(history, [
        *episode("service_down", "s1", at(10), at(10, 30), service="ollama"),
        *episode("model_unavailable", "m1", at(9, 59), at(10, 30)),  # before its source
        *episode("service_down", "s2", at(14), at(14, 10), service="ollama"),
        *episode("model_unavailable", "m2", at(14, 10), at(14, 20)),  # as the source resolved: after it
        *episode("host_down", "h2", at(12), at(13), host="web-2"),
        *episode("cpu_high", "c1", at(12, 10), at(12, 20), severity="warning"),  # web-1: another host
        *episode("disk_full", "d2", at(12, 15), at(12, 40), host="web-2"),  # web-2: down
    ])
    marks = {(e.alertname, e.labels["host"], e.start.hour): e.inhibited_by for e in report.alerts}
    assert marks == {("service_down", "web-1", 10): "", ("service_down", "web-1", 14): "",
                     ("model_unavailable", "web-1", 9): "", ("model_unavailable", "web-1", 14): "",
                     ("host_down", "web-2", 12): "", ("cpu_high", "web-1", 12): "",
                     ("disk_full", "web-2", 12): "host_down"}  # the host's label is the target's: not repeated
    assert (report.incidents.critical, report.incidents.inhibited) == (5, 1)


def test_a_source_resolved_before_the_period_inhibits_an_episode_it_began_with(history):
    """An episode that began the evening before, while its source fired (resolved before midnight), is still
    the inhibited one in today's report."""
    report = _report(history, [*episode("service_down", "s1", at(23, 0, day=23), at(23, 30, day=23),
                                        service="ollama"),
                               *episode("model_unavailable", "m1", at(23, 5, day=23), at(0, 20))])
    assert [(e.alertname, e.inhibited_by) for e in report.alerts] == [
        ("model_unavailable", "service_down{service=ollama}")]
    assert (report.incidents.critical, report.incidents.inhibited) == (0, 1)


def test_alerts_matching_both_sides_of_a_rule_do_not_inhibit_each_other(history):
    """Alertmanager: an alert matching a rule's source and target matchers is not inhibited by the alerts that
    match both; one that matches the source only does inhibit it."""
    rules = parse_rules([{"source_matchers": ['alertname=~"db_down|db_slow"'],
                          "target_matchers": ['alertname=~"db_down|db_slow|app_errors"']}])
    report = _report(history, [*episode("db_down", "a1", at(8), at(9)),
                               *episode("db_slow", "a2", at(8, 5), at(9)),
                               *episode("app_errors", "a3", at(8, 10), at(9))], rules=rules)
    assert {e.alertname: e.inhibited_by for e in report.alerts} == {"db_down": "", "db_slow": "",
                                                                    "app_errors": "db_down"}


def test_the_incidents_table_marks_an_inhibited_episode_escaped(history):
    """A label value from the data is escaped in the mark like everywhere else (a custom rule's source)."""
    rules = parse_rules([{"source_matchers": ["alertname=upstream_down"], "target_matchers": ["alertname=app_errors"],
                          "equal": ["host"]}])
    script = "<script>alert(1)</script>"
    report = _report(history, [*episode("upstream_down", "u1", at(9, 0, day=25), at(10, 0, day=25), upstream=script),
                               *episode("app_errors", "e1", at(9, 2, day=25), at(9, 40, day=25))],
                     period=WEEK, rules=rules)
    html = render_html(report)
    assert "<script" not in html
    body = section(html, "incidents")
    rows = [text(r) for r in re.findall(r"<tr class=[^>]*>(.*?)</tr>", body, re.S)]
    assert rows[1].startswith("app_errors inhibited by upstream_down{upstream=&lt;script&gt;alert(1)&lt;/script&gt;} "
                              "critical web-1")
    assert "2 episodes, 1 critical, 1 inhibited;" in text(body)


def test_reporter_report_applies_the_inhibition_rules_of_the_alerting_file(tmp_path):
    """``reporter report`` loads REPORTER_ALERTING_FILE as the daemon does: its ``[[inhibit_rules]]`` mark the
    episodes; without the file only the built-in rules apply, which do not know ``upstream_down``."""
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    try:
        insert_rows(history, sample_rows(DAY.start - timedelta(hours=2), DAY.end, interval=300))
        insert_events(history, [*episode("upstream_down", "u1", at(9), at(10), upstream="payments"),
                                *episode("app_errors", "e1", at(9, 2), at(9, 40))])
    finally:
        history.close()
    (tmp_path / "alerting.toml").write_text('[[inhibit_rules]]\nsource_matchers = ["alertname=upstream_down"]\n'
                                            'target_matchers = ["alertname=app_errors"]\nequal = ["host"]\n')
    env = {"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_TIMEZONE": "UTC",
           "REPORTER_SAMPLE_INTERVAL": "300", "REPORTER_AI_FEATURES": "grammar,quiz"}
    pages = {}
    for name, extra in (("with", {"REPORTER_ALERTING_FILE": str(tmp_path / "alerting.toml")}), ("without", {})):
        out = tmp_path / name
        result = reporter("report", "--date", DAY.key, "--format", "html", "--out", str(out), cwd=tmp_path,
                          env={**env, **extra})
        assert result.returncode == 0, result.stderr
        pages[name] = text(section((out / f"{DAY.key}.html").read_text(), "incidents"))
    assert "app_errors inhibited by upstream_down{upstream=payments}" in pages["with"]
    assert "inhibited" not in pages["without"]


def test_the_daemon_s_report_job_renders_with_the_rules_in_force(tmp_path):
    """The daemon's report job hands the alerting configuration's rules (kept current by a reload) to its
    render child."""
    from reporter.report.job import ReportJob
    from reporter.settings import load_settings

    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", timezone="UTC",
                             sample_interval=300, ai_features="grammar,quiz", report_dir=str(tmp_path / "reports"))
    history = History(settings.history_url, settings.ai_features)
    try:
        insert_rows(history, sample_rows(DAY.start - timedelta(hours=2), DAY.end, interval=300))
        insert_events(history, [*episode("upstream_down", "u1", at(9), at(10), upstream="payments"),
                                *episode("app_errors", "e1", at(9, 2), at(9, 40))])
        rules = parse_rules([{"source_matchers": ["alertname=upstream_down"],
                              "target_matchers": ["alertname=app_errors"]}])
        assert ReportJob(settings, history, inhibit_rules=rules).render(DAY)
    finally:
        history.close()
    body = text(section((tmp_path / "reports" / f"{DAY.key}.html").read_text(), "incidents"))
    assert "app_errors inhibited by upstream_down{upstream=payments}" in body
    assert "2 episodes, 1 critical, 1 inhibited;" in body
