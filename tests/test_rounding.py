"""One rounding for percentages (item 16): a completion rate of 12 / 17 reads the same in the snapshot JSON,
the ``/api`` answer and the daily report's HTML, all fed from a real reference database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import create_engine, text

from reporter.collect.sources import app_database_engine
from reporter.collect.usage import UsageCollector
from reporter.report.build import build_report
from reporter.report.html import fmt_percent, render_html
from reporter.report.period import Period
from reporter.rounding import PERCENT_DECIMALS, format_percent, percent, round_percent
from reporter.store.history import History
from tests.api.helpers import serve
from tests.appdb import create_reference_db
from tests.snapshots import rich_snapshot

WHEN = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def add_scenario(url: str, started: int, completed: int) -> None:
    """A scenario started ``started`` times (more than any other: it tops the list), ``completed`` of them."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO scenarios VALUES ('airport_001', 'Airport small talk')"))
        conn.execute(text("INSERT INTO conversations VALUES (:id, 'user_002', 'airport_001', :at, :at, :done)"),
                     [{"id": 100 + i, "at": WHEN.replace(tzinfo=None) - timedelta(hours=2), "done": i < completed}
                      for i in range(started)])
    engine.dispose()


def test_completion_rate_is_the_same_in_json_api_and_report(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    create_reference_db(url)
    add_scenario(url, 17, 12)  # 70.588235... %
    usage = UsageCollector(app_database_engine(url, 2.0)).read(now=WHEN)
    snapshot = rich_snapshot(WHEN).model_copy(update={"usage": usage})
    rate = usage.popular_scenarios[0].completion_rate
    assert usage.popular_scenarios[0].scenario_id == "airport_001" and rate == 70.59

    with serve() as (latest, base):
        latest.publish(snapshot)
        json_rate = httpx.get(base + "/snapshot").json()["usage"]["popular_scenarios"][0]["completion_rate"]
        api_rate = httpx.get(base + "/api/v1/analytics/popular-scenarios").json()[0]["completion_rate"]
    assert json_rate == api_rate == 70.59

    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz"])
    try:
        history.write(snapshot)
        report = build_report(history, Period.day(WHEN.date(), UTC), sample_interval=60, host="h")
    finally:
        history.close()
    html = render_html(report)
    row = re.search(r"<bdi[^>]*>Airport small talk</bdi></td>(.*?)</tr>", html, re.S).group(1)
    shown = re.sub(r"<[^>]+>", " ", row).split()
    assert shown == ["17", "70.59%"]  # not 70.6%
    assert float(shown[-1].rstrip("%")) == json_rate


def test_the_rule():
    assert PERCENT_DECIMALS == 2
    assert percent(12, 17) == round_percent(12 / 17 * 100) == 70.59
    assert percent(1, 0) is None and percent(None, 3) is None and percent(3, None) is None
    assert format_percent(70.588) == fmt_percent(70.588) == "70.59%"
    assert format_percent(100) == "100.00%" and format_percent(None) == "n/a"
    for part, whole in ((1, 3), (2, 3), (5, 8), (1, 7), (999, 1000)):  # the report prints exactly the JSON value
        assert float(fmt_percent(percent(part, whole)).rstrip("%")) == percent(part, whole)
