"""The daily report of a fleet (a PostgreSQL history written by several hosts): the fleet summary (one row per
host: coverage, CPU/memory/disk average and p95, alerts) recomputed here independently from the rows inserted,
a section per host, the app-wide AI and usage sections once, escaping, and the PDF of a 3-host day."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy
import pytest
from pypdf import PdfReader

from reporter.base.ms import to_ms
from reporter.report.attachments import csv_attachments
from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.pdf import write_pdf
from reporter.report.period import Period
from reporter.report.text import render_text
from reporter.store.alert_schema import alert_events
from reporter.store.history import History, SampleRow
from tests.conftest import private_schema

DAY = date(2026, 3, 10)
TZ = ZoneInfo("UTC")
START = datetime(2026, 3, 10, tzinfo=UTC)
END = START + timedelta(days=1)
INTERVAL = 300  # s: 288 samples a day
SLOTS = 288
HOSTS = ("gpu-1", "web-1", "web-2")
LEADER = "web-1"
FEATURES = ["grammar"]
METRICS = ("cpu_percent", "memory_percent", "disk_percent")
HOUR = 3600 // INTERVAL  # slots per hour


def present(host: str, slot: int) -> bool:
    """gpu-1 starts at 06:00; web-2 has a gap from 10:00 to 13:00; web-1 samples all day."""
    if host == "gpu-1":
        return slot >= 6 * HOUR
    if host == "web-2":
        return not 10 * HOUR <= slot < 13 * HOUR
    return True


def app_writer(slot: int) -> str:
    """The leader (who samples the app-wide figures): web-1 until 13:00, then web-2 (a failover)."""
    return "web-1" if slot < 13 * HOUR else "web-2"


def dataset() -> dict[str, list[dict]]:
    """The rows each host writes (history column -> value), with ``ts`` (ms); deterministic."""
    rng = random.Random(10)
    rows: dict[str, list[dict]] = {h: [] for h in HOSTS}
    for host in HOSTS:
        for slot in range(SLOTS):
            if not present(host, slot):
                continue
            at = START + timedelta(seconds=slot * INTERVAL + HOSTS.index(host))
            row: dict = {"ts": to_ms(at)}
            for n, metric in enumerate(METRICS):
                row[metric] = round(rng.uniform(5 + 20 * n, 60 + 15 * n), 1)
            if host == "web-1" and slot % 37 == 0:
                row["cpu_percent"] = None  # a missing value: not in the average nor the p95
            row["uptime_seconds"] = 1000.0 + slot * INTERVAL
            row["database_up"] = 0.0 if host == "web-1" and 30 <= slot < 33 else 1.0
            row["ollama_up"] = 1.0 if host == "gpu-1" else None
            row["ollama_model_available"] = (0.0 if slot % 10 == 0 else 1.0) if host == "gpu-1" else None
            if app_writer(slot) == host:
                row["ai_total_requests"] = 1000.0 + 10 * (slot + 1)
                row["ai_total_time_seconds"] = 500.0 + 5 * (slot + 1)
                row["usage_total_users"] = 100.0 + slot // 24
            rows[host].append(row)
    return rows


ROWS = dataset()
# the alert events: (at, state, fingerprint, labels)
EVENTS = [
    (START + timedelta(hours=2), "firing", "f1", {"alertname": "HighCPU", "severity": "warning", "host": "web-2"}),
    (START + timedelta(hours=2, minutes=30), "resolved", "f1",
     {"alertname": "HighCPU", "severity": "warning", "host": "web-2"}),
    (START + timedelta(hours=5), "firing", "f2", {"alertname": "HighMemory", "severity": "warning", "host": "gpu-1"}),
    (START + timedelta(hours=5, minutes=10), "resolved", "f2",
     {"alertname": "HighMemory", "severity": "warning", "host": "gpu-1"}),
    (START + timedelta(hours=20), "firing", "f3", {"alertname": "DiskFull", "severity": "critical", "host": "gpu-1"}),
    (START + timedelta(hours=3), "firing", "f4", {"alertname": "host_down", "severity": "critical", "host": "db-9"}),
    (START + timedelta(hours=4), "resolved", "f4", {"alertname": "host_down", "severity": "critical", "host": "db-9"}),
    (START + timedelta(hours=8), "firing", "f5", {"alertname": "ErrorSpike", "severity": "warning"}),
    (START + timedelta(hours=8, minutes=15), "resolved", "f5", {"alertname": "ErrorSpike", "severity": "warning"}),
]
# what the summary must say about the alerts of each host: (episodes, still firing)
ALERTS = {"gpu-1": (2, 1), "web-1": (0, 0), "web-2": (1, 0), "db-9": (1, 0)}


@pytest.fixture(scope="module")
def pg_url():
    yield from private_schema()


@pytest.fixture(scope="module")
def history(pg_url):
    h = History(pg_url, FEATURES, host=LEADER)
    # the base of the day's counter increases and of the usage change: the leader's sample before midnight
    h.write_row(SampleRow(ts=to_ms(START - timedelta(seconds=INTERVAL)), host=LEADER,
                          values={"ai_total_requests": 1000.0, "ai_total_time_seconds": 500.0,
                                  "usage_total_users": 90.0, "cpu_percent": 99.0}))
    for host, rows in ROWS.items():
        for row in rows:
            values = {k: v for k, v in row.items() if k != "ts"}
            h.write_row(SampleRow(ts=row["ts"], host=host, values=values))
    with h.engine.begin() as conn:
        conn.execute(alert_events.insert(), [{"at": to_ms(at), "fingerprint": fp, "rule": labels["alertname"],
                                              "state": state, "value": 1.0, "labels": json.dumps(labels)}
                                             for at, state, fp, labels in EVENTS])
    yield h
    h.close()


@pytest.fixture(scope="module")
def report(history):
    return build_report(history, Period.day(DAY, TZ), sample_interval=INTERVAL, host=LEADER, top_n=5)


@pytest.fixture(scope="module")
def html(report):
    return render_html(report, generated_at=END + timedelta(minutes=5))


def expected(host: str) -> dict:
    """The summary row of ``host`` recomputed from the inserted rows: coverage = samples / expected (288),
    average = mean of the present values, p95 = numpy's default percentile (linear between closest ranks)."""
    rows = ROWS.get(host, [])
    out: dict = {"coverage": len(rows) / SLOTS * 100.0}
    for metric in METRICS:
        values = [r[metric] for r in rows if r[metric] is not None]
        out[metric] = (sum(values) / len(values), float(numpy.percentile(values, 95))) if values else (None, None)
    return out


def test_the_fleet_summary_has_one_row_per_host_recomputed_independently(report):
    assert report.fleet
    assert [h.name for h in report.hosts] == ["db-9", "gpu-1", "web-1", "web-2"]  # db-9: named by an alert only
    assert all(h.detailed for h in report.hosts)
    check_summary(report)
    web2 = next(h for h in report.hosts if h.name == "web-2")
    assert web2.coverage == pytest.approx((SLOTS - 3 * HOUR) / SLOTS * 100)  # the 3 h gap
    assert [(g.start, g.end) for g in web2.gaps] == [
        (START + timedelta(hours=9, minutes=55, seconds=2), START + timedelta(hours=13, seconds=2))]
    assert [a.alertname for a in report.fleet_alerts] == ["ErrorSpike"]  # no host label: fleet-wide
    assert len(report.alerts) == 5  # every episode of the day


def test_the_app_wide_figures_are_counted_once_across_a_failover(report):
    # 10 requests and 5 s per sample interval, sampled by web-1 and then by web-2: counted once, no reset
    assert report.ai.requests == 10 * SLOTS
    assert report.ai.avg_response_time == pytest.approx(0.5)
    usage = {u.name: u for u in report.usage}
    assert usage["total_users"].value == 100 + (SLOTS - 1) // 24 and usage["total_users"].change == 100 + 11 - 90
    gpu = [r["ollama_model_available"] for r in ROWS["gpu-1"]]
    assert report.ai.model_availability == pytest.approx(sum(gpu) / len(gpu) * 100)


def test_the_html_has_the_summary_a_section_per_host_and_ai_and_usage_once(html, report):
    assert html.count('<section id="fleet">') == 1
    table = re.search(r'<section id="fleet">(.*?)</section>', html, re.S).group(1)
    assert table.count("<tr class=") == 4 and "linear interpolation between the closest ranks" in table
    gpu = re.search(r'<tr[^>]*><td class="name"><a href="#host-2">.*?</tr>', table, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", gpu, re.S)]
    want = expected("gpu-1")
    from reporter.report.html import fmt_percent
    assert cells == ["gpu-1", fmt_percent(want["coverage"]),
                     *(fmt_percent(v) for m in METRICS for v in want[m]), "2 (1 firing)"]
    for i, host in enumerate(["db-9", "gpu-1", "web-1", "web-2"], 1):
        assert html.count(f'<section id="host-{i}" class="host">') == 1
        assert f"<h2>Host <bdi class=\"long\">{host}</bdi></h2>" in html
    for section in ("ai", "usage", "incidents"):
        assert html.count(f'<section id="{section}">') == 1
    assert html.count("<h2>AI</h2>") == 1 and html.count("<h2>Usage</h2>") == 1
    assert '<section id="system">' not in html and '<section id="coverage">' not in html
    assert "ErrorSpike" in re.search(r'<section id="incidents">(.*?)</section>', html, re.S).group(1)
    # one chart (CPU, memory, disk) for each host with samples, and the AI section's two charts over the day (requests,
    # response time); no capacity chart (nothing fills up in a day)
    ai = re.search(r'<section id="ai">(.*?)</section>', html, re.S).group(1)
    assert html.count("<svg") == 5 and ai.count("<svg") == 2


def check_summary(report) -> None:
    for h in report.hosts:
        want = expected(h.name)
        assert h.coverage == pytest.approx(want["coverage"]), h.name
        for metric in METRICS:
            avg, p95 = want[metric]
            got = h.system[metric] if h.system else None
            if avg is None:
                assert got is None or (got.avg is None and got.p95 is None)
            else:
                assert got.avg == pytest.approx(avg, abs=1e-9), (h.name, metric)
                assert got.p95 == pytest.approx(p95, abs=1e-9), (h.name, metric)
        episodes, firing = ALERTS[h.name]
        assert (len(h.alerts), sum(a.firing for a in h.alerts)) == (episodes, firing), h.name


def test_a_large_fleet_gets_sections_for_the_hosts_that_need_attention_only(history, report):
    # 4 hosts, top 2: every host's summary from one aggregate query, the full figures of 2 hosts only
    small = build_report(history, Period.day(DAY, TZ), sample_interval=INTERVAL, host=LEADER, top_n=2)
    assert [h.name for h in small.hosts if h.detailed] == ["db-9", "gpu-1"]  # gpu-1: firing; db-9: 0 % coverage
    check_summary(small)  # the SQL figures (percentile_cont) equal the independent ones
    assert small.ai == report.ai and small.usage == report.usage
    availability = [line for line in render_text(report).splitlines() if line.startswith("Availability:")]
    assert availability == [line for line in render_text(small).splitlines() if line.startswith("Availability:")]
    assert availability == ["Availability:  database 98.96% (lowest: web-1), redis not probed, ollama 100.00% (gpu-1)"]
    html = render_html(small)
    headings = re.findall(r'<section id="(host-\d)" class="host">\s*<h2>Host <bdi class="long">([^<]*)<', html)
    assert headings == [("host-1", "db-9"), ("host-2", "gpu-1")]
    assert "the other 2 are in the Fleet table and in 2026-03-10.hosts.csv" in html
    table = re.search(r'<section id="fleet">(.*?)</section>', html, re.S).group(1)
    assert table.count("<tr class=") == 4 and table.count('<a href="#host-') == 2
    assert csv_attachments(small)["hosts"] == csv_attachments(report)["hosts"].replace("\r\n", "\r\n")


def test_host_names_and_labels_are_escaped(report):
    evil = "<script>alert(1)</script>"
    hosts = [dataclasses.replace(report.hosts[0], name=evil), *report.hosts[1:]]
    html = render_html(dataclasses.replace(report, hosts=hosts, host=f"{evil}-leader"))
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # summary row, host heading, header


def test_text_summary_and_csv_name_every_host(report):
    lines = render_text(report)
    assert "Fleet:" in lines
    for host in ("db-9", "gpu-1", "web-1", "web-2"):
        assert re.search(rf"^  {host} ", lines, re.M), lines
    csv = csv_attachments(report)["hosts"].splitlines()
    assert csv[0].startswith("host,coverage_percent,samples,expected_samples,cpu_avg,cpu_p95")
    assert len(csv) == 5 and csv[2].startswith("gpu-1,")
    cells = csv[2].split(",")
    want = expected("gpu-1")
    assert [float(c) for c in cells[1:2] + cells[4:10]] == pytest.approx(
        [want["coverage"], *(v for m in METRICS for v in want[m])], abs=1e-4)
    assert cells[2:4] == ["216", "288"] and cells[10:] == ["2", "1"]
    assert "hosts" in csv_attachments(report, capped_only=True)  # written beside every fleet report
    gaps = csv_attachments(report)["gaps"].splitlines()  # every host's, with its name
    assert gaps[0] == "host,start,end,duration_seconds" and [g.split(",")[0] for g in gaps[1:]] == ["db-9", "gpu-1", "web-2"]
    assert csv_attachments(report)["outages"].splitlines()[1].startswith("web-1,database,")
    capped = csv_attachments(dataclasses.replace(report, top_n=1), capped_only=True)
    assert "gaps" not in capped and "outages" not in capped  # one gap and one outage per host: none capped


def test_the_pdf_of_a_three_host_day(html, tmp_path):
    result = write_pdf(html, tmp_path / f"{DAY}.pdf")
    reader = PdfReader(result.path)
    pages = [p.extract_text() for p in reader.pages]
    whole = "\n".join(pages)
    for host in ("db-9", "gpu-1", "web-1", "web-2"):
        assert f"Host {host}" in whole
    assert "Incidents" in whole and "Fleet-wide alerts" not in whole and "fleet of 4 hosts" in pages[-1]
    assert 2 <= len(reader.pages) <= 1 + 4, len(reader.pages)  # about a page per host and one for the fleet (3 here)


def single_host_rows() -> list[dict]:
    """web-1's rows with the app-wide figures of the whole day (one host samples everything)."""
    rows = []
    for slot, row in enumerate(ROWS["web-1"]):
        rows.append({**row, "ai_total_requests": 1000.0 + 10 * (slot + 1),
                     "ai_total_time_seconds": 500.0 + 5 * (slot + 1), "usage_total_users": 100.0 + slot // 24})
    return rows


EVENTS_OF_ONE = [(at, state, fp, {**labels, "host": "web-1"} if "host" in labels else labels)
                 for at, state, fp, labels in EVENTS[:2] + EVENTS[-2:]]  # one labelled with the host, one not


def fill(h: History) -> None:
    h.write_row(SampleRow(ts=to_ms(START - timedelta(seconds=INTERVAL)), host=h.host,
                          values={"ai_total_requests": 1000.0, "ai_total_time_seconds": 500.0,
                                  "usage_total_users": 90.0}))
    for row in single_host_rows():
        h.write_row(SampleRow(ts=row["ts"], host=h.host, values={k: v for k, v in row.items() if k != "ts"}))
    with h.engine.begin() as conn:
        conn.execute(alert_events.insert(), [{"at": to_ms(at), "fingerprint": fp, "rule": labels["alertname"],
                                              "state": state, "value": 1.0, "labels": json.dumps(labels)}
                                             for at, state, fp, labels in EVENTS_OF_ONE])



def test_a_single_host_reads_as_before_on_sqlite_and_on_postgresql(tmp_path, pg_schema_url):
    reports = []
    for url in (f"sqlite:///{tmp_path / 'h.db'}", pg_schema_url):
        h = History(url, FEATURES, host="web-1")
        try:
            fill(h)
            reports.append(build_report(h, Period.day(DAY, TZ), sample_interval=INTERVAL, host="web-1"))
        finally:
            h.close()
    sqlite, postgres = reports
    assert [h.name for h in sqlite.hosts] == [h.name for h in postgres.hosts] == ["web-1"]
    assert not sqlite.fleet and not postgres.fleet and not postgres.fleet_alerts
    for field in ("samples", "expected_samples", "gaps", "system", "uptime_seconds", "series", "services", "ai",
                  "usage", "alerts"):
        assert getattr(sqlite, field) == getattr(postgres, field), field
    assert sqlite.hosts[0].system == sqlite.system and len(sqlite.hosts[0].alerts) == 2  # labelled or not
    assert sqlite.ai.requests == 10 * SLOTS
    html = render_html(sqlite)
    assert '<section id="fleet">' not in html and "Fleet-wide" not in html and '<section id="host-' not in html
    for section in ("system", "services", "ai", "usage", "incidents", "coverage"):
        assert html.count(f'<section id="{section}">') == 1
    assert "Fleet:" not in render_text(sqlite) and "hosts" not in csv_attachments(sqlite)
