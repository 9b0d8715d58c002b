"""GET /api/v1/history over a real socket, on a synthetic day of history."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from reporter.api.latest import Latest
from reporter.store.history import History
from reporter.store.synthetic import generate
from tests.api.helpers import serve
from tests.snapshots import FEATURES, rich_snapshot

DAY = datetime(2026, 11, 20, tzinfo=UTC)
PATH = "/api/v1/history"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "history.db"
    store = History(f"sqlite:///{path}", FEATURES)
    generate(store, DAY, DAY + timedelta(days=1), interval=10.0)  # 8,640 samples
    yield store
    store.close()


@pytest.fixture
def base(history):
    latest = Latest()
    latest.publish(rich_snapshot())
    with serve(latest, history=history) as (_, url):
        yield url


def get(base: str, **params) -> httpx.Response:
    return httpx.get(base + PATH, params=params, timeout=10)


def test_a_day_is_downsampled_to_at_most_2000_bucket_means(base, history):
    body = get(base, metric="cpu_percent", **{"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}).json()
    assert body["samples"] == 8640 and len(body["points"]) <= 2000
    assert body["metric"] == "cpu_percent" and body["unit"] == "percent" and body["step_seconds"] == 43.2
    assert body["from"] == "2026-11-20T00:00:00.000Z" and body["to"] == "2026-11-21T00:00:00.000Z"
    raw = history.series("cpu_percent", DAY, DAY + timedelta(days=1))
    first_ts, first_mean = body["points"][0]
    in_bucket = [v for ts, v in raw if first_ts <= ts < first_ts + 43_200 and v is not None]
    assert first_ts == int(DAY.timestamp() * 1000)
    assert first_mean == pytest.approx(sum(in_bucket) / len(in_bucket))


def test_explicit_step_and_unix_seconds(base, history):
    start = int(DAY.timestamp())
    body = get(base, metric="ai_total_requests", **{"from": str(start), "to": str(start + 86400)}, step="3600").json()
    assert len(body["points"]) == 24 and body["step_seconds"] == 3600 and body["counter"] is True
    raw = history.series("ai_total_requests", DAY, DAY + timedelta(hours=1))
    assert body["points"][0] == [start * 1000, pytest.approx(sum(v for _, v in raw) / len(raw), rel=1e-6)]
    assert [p[0] for p in body["points"]] == [(start + 3600 * i) * 1000 for i in range(24)]


def test_a_step_longer_than_the_span_is_one_bucket(base):
    body = get(base, metric="cpu_percent", **{"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T01:00:00Z"},
               step="1e308").json()
    assert len(body["points"]) == 1 and body["samples"] == 360


def test_short_span_gives_the_raw_samples(base, history):
    body = get(base, metric="memory_percent", **{"from": "2026-11-20T06:00:00", "to": "2026-11-20T07:00:00+00:00"}).json()
    raw = history.series("memory_percent", DAY + timedelta(hours=6), DAY + timedelta(hours=7))
    assert body["step_seconds"] is None and body["points"] == [[ts, v] for ts, v in raw] and len(raw) == 360


def test_default_is_the_last_hour(base):
    body = get(base, metric="cpu_percent").json()
    start = datetime.fromisoformat(body["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["to"].replace("Z", "+00:00"))
    assert end - start == timedelta(hours=1) and body["points"] == []


@pytest.mark.parametrize(("params", "param", "words"), [
    ({"metric": "nope"}, "metric", "metric must be one of"),
    ({}, "metric", "metric must be one of"),
    ({"metric": "cpu_percent", "from": "yesterday"}, "from", "Unix seconds or an ISO 8601"),
    ({"metric": "cpu_percent", "to": "nan"}, "to", "Unix seconds or an ISO 8601"),
    ({"metric": "cpu_percent", "from": "1e300"}, "from", "Unix seconds or an ISO 8601"),
    ({"metric": "cpu_percent", "from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "from", "earlier"),
    ({"metric": "cpu_percent", "step": "0"}, "step", "positive number"),
    ({"metric": "cpu_percent", "step": "-5"}, "step", "positive number"),
    ({"metric": "cpu_percent", "step": "inf"}, "step", "positive number"),
    ({"metric": "cpu_percent", "step": ""}, "step", "positive number"),
    ({"metric": "cpu_percent", "step": "1"}, "step", "more than 2000 points"),
    ({"metric": "cpu_percent", "to": "0001-01-01T00:00:00Z"}, "to", "too early"),
])
def test_bad_queries_are_a_clear_422(base, params, param, words):
    response = get(base, **params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert words in body["error"] and body["detail"][0]["loc"] == ["query", param]


def test_without_a_history_it_is_503():
    with serve() as (_, base):
        response = get(base, metric="cpu_percent")
    assert response.status_code == 503 and "no history" in response.json()["error"]


def test_a_slow_query_does_not_block_the_event_loop(history, monkeypatch):
    released = threading.Event()
    original = history.series

    def slow_series(*args):
        released.wait(5)
        return original(*args)

    monkeypatch.setattr(history, "series", slow_series)
    latest = Latest()
    latest.publish(rich_snapshot())
    with serve(latest, history=history) as (_, base):
        result = {}
        worker = threading.Thread(target=lambda: result.update(r=get(base, metric="cpu_percent")))
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert httpx.get(base + "/snapshot", timeout=4).status_code == 200  # answered while the query waits
        assert time.monotonic() - started < 3.0  # the held query waits until released (5 s at most)
        released.set()
        worker.join(10)
    assert result["r"].status_code == 200


def test_every_counter_column_says_so(base):
    """The app's counters and the counts reporter keeps itself (the loads seen in Ollama's /api/ps) are counters;
    a gauge is not."""
    day = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T01:00:00Z"}
    assert get(base, metric="ollama_model_loads", **day).json()["counter"] is True
    assert get(base, metric="ai_grammar_cold_loads", **day).json()["counter"] is True
    assert get(base, metric="ollama_model_cpu_offload_ratio", **day).json()["counter"] is False
