"""The report's AI service section: model residency per host (Ollama's /api/ps each sample, the synthetic probe),
tokens per second and per request per feature from the application's token counters (resets counted, compared
with the previous period), cold loads; recomputed here independently from the rows written into a real SQLite
history (and a PostgreSQL fleet), absent data left out, names escaped, the PDF showing the section."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import shutil
import statistics
import subprocess
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from reporter.base.ms import from_ms, to_ms
from reporter.report.build import build_report
from reporter.report.html import render_html
from reporter.report.pdf import write_pdf
from reporter.report.period import Period
from reporter.report.text import render_text
from reporter.store.history import History, SampleRow
from tests.conftest import unavailable

DAY = date(2026, 3, 10)
UTC_ZONE = ZoneInfo("UTC")
PERIOD = Period.day(DAY, UTC_ZONE)
START = datetime(2026, 3, 10, tzinfo=UTC)
INTERVAL = 600  # s: 144 samples a day
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def history_features():
    return ["quiz", "grammar"]


def ollama_rows(start: datetime, end: datetime, seed: int, offset: int = 0) -> list[dict]:
    """A host's Ollama figures every INTERVAL s from ``start`` (one sample before it) to ``end``: the model loaded
    or not (or /api/ps unread), partly on the CPU for a stretch, the reporter's load counter (restarting from 0 once)
    and the synthetic probe every sixth sample. Values rounded to the columns' fixed point."""
    rng = random.Random(seed)
    rows, t, n, loaded, loads = [], start - timedelta(seconds=INTERVAL), 0, True, 3.0
    while t < end:
        was = loaded
        if rng.random() < 0.08:
            loaded = not loaded
        if loaded and not was:
            loads += 1
        if n % 144 == 70:
            loads = 0.0  # the reporter restarted
        read = rng.random() > 0.05
        row: dict = {"ts": to_ms(t + timedelta(seconds=offset)), "cpu_percent": 10.0}
        row["ollama_model_loaded"] = (1.0 if loaded else 0.0) if read else None
        if read and loaded:
            row["ollama_model_cpu_offload_ratio"] = round(rng.uniform(0.05, 0.6), 4) if 40 <= n % 144 < 60 else 0.0
        row["ollama_model_loads"] = loads if rng.random() > 0.03 else None
        if n % 6 == 0:
            row["ollama_probe_first_token_seconds"] = round(rng.uniform(0.1, 3.0), 3)
            row["ollama_probe_tokens_per_second"] = round(rng.uniform(20, 60), 2)
        rows.append(row)
        t += timedelta(seconds=INTERVAL)
        n += 1
    return rows


def app_rows(start: datetime, end: datetime, seed: int, speed: float) -> list[dict]:
    """The application's counters every INTERVAL s (one sample before ``start``): quiz requests with token
    counters (``speed`` tokens/s about), generation time and cold loads, all restarting from 0 at sample 50 (a Redis
    flush), its completion tokens unread now and then; grammar requests without token counters."""
    rng = random.Random(seed)
    rows, t, n = [], start - timedelta(seconds=INTERVAL), 0
    req = prompt = completion = seconds = cold = grammar = 0.0
    while t < end:
        if n == 50:
            req = prompt = completion = seconds = cold = 0.0
        add = rng.randint(0, 5)
        req += add
        prompt += add * rng.randint(50, 200)
        out = add * rng.randint(20, 300)
        completion += out
        seconds = round(seconds + out / rng.uniform(0.5 * speed, 1.5 * speed), 6)
        cold += 1 if rng.random() < 0.05 else 0
        grammar += rng.randint(0, 3)
        rows.append({"ts": to_ms(t), "ai_total_requests": req + grammar, "ai_quiz_requests": req,
                     "ai_quiz_prompt_tokens": prompt, "ai_quiz_completion_tokens": completion if n % 17 else None,
                     "ai_quiz_generation_seconds": seconds, "ai_quiz_cold_loads": cold,
                     "ai_grammar_requests": grammar})
        t += timedelta(seconds=INTERVAL)
        n += 1
    return rows


def merged(*parts: list[dict]) -> list[dict]:
    """Rows of the same ts joined (the history has one row per time)."""
    by_ts: dict[int, dict] = {}
    for row in itertools.chain(*parts):
        by_ts.setdefault(row["ts"], {}).update(row)
    return [by_ts[ts] for ts in sorted(by_ts)]


def insert(history, rows):
    names = list(history.metrics)
    with history.engine.begin() as conn:
        conn.execute(history.samples.insert(), [{"ts": r["ts"], **{n: r.get(n) for n in names}} for r in rows])


# ---- the independent computations ---------------------------------------------------------------------------


def step(a, b):
    return b - a if b >= a else b  # a decrease is a reset: the new value is the increase


def residency_of(rows: list[dict], start: datetime, end: datetime) -> dict:
    inside = [r for r in rows if to_ms(start) <= r["ts"] < to_ms(end)]
    read = [r for r in inside if r.get("ollama_model_loaded") is not None]
    loaded = [r for r in read if r["ollama_model_loaded"] == 1.0]
    rated = [r for r in loaded if r.get("ollama_model_cpu_offload_ratio") is not None]
    worst = max((r["ollama_model_cpu_offload_ratio"] for r in rated), default=None)
    base = [r["ollama_model_loads"] for r in rows if to_ms(start) - 3600_000 <= r["ts"] < to_ms(start)
            and r.get("ollama_model_loads") is not None][-1:]
    loads = base + [r["ollama_model_loads"] for r in inside if r.get("ollama_model_loads") is not None]
    probe = [r for r in inside if r.get("ollama_probe_first_token_seconds") is not None]
    return {
        "loaded_share": len(loaded) / len(read) * 100,
        "gpu_share": sum(1 for r in rated if r["ollama_model_cpu_offload_ratio"] == 0) / len(loaded) * 100,
        "cpu_share": sum(1 for r in rated if r["ollama_model_cpu_offload_ratio"] > 0) / len(loaded) * 100,
        "worst": worst,
        "worst_at": next(from_ms(r["ts"]) for r in rated if r["ollama_model_cpu_offload_ratio"] == worst),
        "loads": sum(step(a, b) for a, b in itertools.pairwise(loads)),
        "first_token": statistics.median(r["ollama_probe_first_token_seconds"] for r in probe),
        "probe_tps": statistics.median(r["ollama_probe_tokens_per_second"] for r in probe),
    }


def quiz_of(rows: list[dict], start: datetime, end: datetime) -> dict:
    """Over the intervals with both token counters read on both sides: tokens/s, tokens per request; cold loads
    over every interval."""
    series = [r for r in rows if r["ts"] < to_ms(start)][-1:] + [r for r in rows
                                                                 if to_ms(start) <= r["ts"] < to_ms(end)]
    out = {"completion": 0.0, "seconds": 0.0, "requests": 0.0, "prompt": 0.0, "cold": 0.0}
    for a, b in itertools.pairwise(series):
        out["cold"] += step(a["ai_quiz_cold_loads"], b["ai_quiz_cold_loads"])
        if None in (a["ai_quiz_completion_tokens"], b["ai_quiz_completion_tokens"]):
            continue
        out["completion"] += step(a["ai_quiz_completion_tokens"], b["ai_quiz_completion_tokens"])
        out["seconds"] += step(a["ai_quiz_generation_seconds"], b["ai_quiz_generation_seconds"])
        out["requests"] += step(a["ai_quiz_requests"], b["ai_quiz_requests"])
        out["prompt"] += step(a["ai_quiz_prompt_tokens"], b["ai_quiz_prompt_tokens"])
    return {"tps": out["completion"] / out["seconds"], "per_request": out["completion"] / out["requests"],
            "prompt_per_request": out["prompt"] / out["requests"], "cold": out["cold"],
            "requests": out["requests"]}


def section(html: str) -> str:
    """The AI service section's text, tags removed."""
    match = re.search(r'<section id="ai-service">(.*?)</section>', html, re.S)
    assert match, "no AI service section"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()).replace(" .", ".").replace(" :", ":")


# ---- a single host (SQLite) ---------------------------------------------------------------------------------


@pytest.fixture
def day_history(history):
    """Two days: the report's (quiz slower) and the one before."""
    yesterday = START - timedelta(days=1)
    host = ollama_rows(yesterday, START + timedelta(days=1), seed=3)
    # the day's counters restart from 0 at midnight (its first row replaces the sample before it): a reset
    app = app_rows(yesterday, START, seed=4, speed=60.0) + app_rows(START, START + timedelta(days=1), seed=5,
                                                                    speed=40.0)[1:]
    rows = merged(host, app)
    insert(history, rows)
    return history, rows


def test_the_figures_equal_an_independent_computation(day_history):
    history, rows = day_history
    report = build_report(history, PERIOD, sample_interval=INTERVAL, host="web-1")
    service = report.ai_service
    (h,) = service.residency
    want = residency_of(rows, START, START + timedelta(days=1))
    assert h.host == "web-1"
    assert h.loaded_share == pytest.approx(want["loaded_share"])
    assert h.gpu_share == pytest.approx(want["gpu_share"]) and h.cpu_share == pytest.approx(want["cpu_share"])
    assert 0 < h.cpu_share < 100 and h.worst_ratio == pytest.approx(want["worst"]) and h.worst_at == want["worst_at"]
    assert h.loads == want["loads"] and h.loads > 0
    assert h.first_token == pytest.approx(want["first_token"]) and h.probe_tps == pytest.approx(want["probe_tps"])

    quiz = quiz_of(rows, START, START + timedelta(days=1))
    before = quiz_of(rows, START - timedelta(days=1), START)
    (f,) = service.throughput  # grammar has no token counters: no throughput
    assert f.name == "quiz" and [t.name for t in service.features] == ["quiz"]
    assert f.tokens_per_second == pytest.approx(quiz["tps"], rel=1e-9)
    assert f.completion_per_request == pytest.approx(quiz["per_request"])
    assert f.prompt_per_request == pytest.approx(quiz["prompt_per_request"])
    assert f.cold_loads == quiz["cold"] and service.cold_loads == quiz["cold"]
    assert f.previous_tps == pytest.approx(before["tps"], rel=1e-9)
    assert f.change == pytest.approx((quiz["tps"] - before["tps"]) / before["tps"] * 100, rel=1e-9)
    assert quiz["tps"] < before["tps"] * 0.8  # slower than yesterday
    assert service.overall.tokens_per_second == pytest.approx(quiz["tps"])

    html = render_html(report)
    text = section(html)
    assert "Host Loaded On GPU Partly on CPU Worst CPU offload Probe: first token Probe: tokens/s" in text
    assert f"web-1 {want['loaded_share']:.2f}%" in text
    assert f"{want['worst'] * 100:.2f}% at {want['worst_at']:%H:%M}" in text
    assert f"{quiz['tps']:,.1f}" in text and f"{before['tps']:,.1f}" in text
    assert f"{(quiz['tps'] - before['tps']) / before['tps'] * 100:+.1f} %" in text
    assert f"{quiz['per_request']:,.1f}" in text and "grammar" not in text
    assert f"the model to load (the application's counters): {quiz['cold']:,.0f}." in text
    assert f"Loads of the model seen in /api/ps: {want['loads']:,.0f}." in text
    line = next(x for x in render_text(report).splitlines() if x.startswith("AI service:"))
    assert f"model loaded {want['loaded_share']:.2f}% (partly on CPU {want['cpu_share']:.2f}% of it" in line
    assert f"{quiz['tps']:,.1f} tokens/s ({(quiz['tps'] - before['tps']) / before['tps'] * 100:+.1f} % vs yesterday)" in line
    assert f"{quiz['cold']:,.0f} cold loads" in line


def test_the_pdf_shows_the_section(day_history, tmp_path):
    history, _ = day_history
    report = build_report(history, PERIOD, sample_interval=INTERVAL, host="web-1")
    result = write_pdf(render_html(report), tmp_path / "day.pdf")
    assert len(PdfReader(str(result.path)).pages) >= 2
    if shutil.which("pdftotext") is None:
        unavailable("pdftotext (poppler-utils)")
    whole = subprocess.run(["pdftotext", "-layout", str(result.path), "-"], capture_output=True, text=True,
                           check=True).stdout
    part = whole[whole.index("AI service"):whole.index("Usage", whole.index("AI service"))]
    for words in ("Model residency", "WORST CPU OFFLOAD", "Throughput", "TOKENS/S", "Cold loads"):
        assert words in part, words
    h, f = report.ai_service.residency[0], report.ai_service.throughput[0]
    assert re.search(rf"web-1 +{h.loaded_share:.2f}% +{h.gpu_share:.2f}% +{h.cpu_share:.2f}% +"
                     rf"{h.worst_ratio * 100:.2f}% at {h.worst_at:%H:%M}", part), part
    assert re.search(rf"quiz +{f.requests:,.0f} .* {f.tokens_per_second:,.1f} +{f.previous_tps:,.1f} +"
                     rf"{f.change:+.1f} %", part), part


def test_absent_data_is_not_shown(history):
    """No Ollama figure nor token counter: no section, no line; the probe alone: no throughput, no residency
    columns it did not read; cold loads alone: one line."""
    rows = [{"ts": to_ms(START + timedelta(seconds=i * INTERVAL)), "cpu_percent": 10.0, "ai_quiz_requests": i,
             "ai_total_requests": i} for i in range(-1, 144)]
    insert(history, rows)
    report = build_report(history, PERIOD, sample_interval=INTERVAL, host="web-1")
    assert not report.ai_service.known
    html = render_html(report)
    assert 'id="ai-service"' not in html and "AI service" not in render_text(report)

    with history.engine.begin() as conn:  # the probe ran (no /api/ps read); the app counts cold loads only
        conn.execute(history.samples.update().where(history.samples.c.ts == to_ms(START) + 3600_000)
                     .values(ollama_probe_first_token_seconds=1.5, ollama_probe_tokens_per_second=42.0))
        conn.execute(history.samples.update().values(ai_quiz_cold_loads=history.samples.c.ai_quiz_requests // 10))
    report = build_report(history, PERIOD, sample_interval=INTERVAL, host="web-1")
    text = section(render_html(report))
    assert "Throughput" not in text and "tokens / request" not in text  # no token counters: no table
    assert "Loaded" not in text and "Worst" not in text  # /api/ps never read: no residency columns
    assert "Probe: first token Probe: tokens/s web-1 1.50 s 42.0" in text
    assert "the application's counters): 14." in text and "seen in" not in text
    assert "0 cold" not in render_text(report) and "14 cold loads" in render_text(report)


def test_names_stay_text(day_history):
    history, _ = day_history
    report = build_report(history, PERIOD, sample_interval=INTERVAL, host=SCRIPT)
    service = report.ai_service
    features = [dataclasses.replace(f, name=SCRIPT) for f in service.features]
    evil = dataclasses.replace(report, ai_service=dataclasses.replace(service, features=features))
    html = render_html(evil)
    body = section(html)
    assert "<script>alert" not in html
    assert body.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # the host's residency row, the feature's row


# ---- a fleet (PostgreSQL) -----------------------------------------------------------------------------------


def test_a_fleet_shows_each_host_that_reads_ollama(pg_schema_url):
    history = History(pg_schema_url, ["quiz"], host="web-1")
    try:
        end = START + timedelta(days=1)
        host_rows = {"gpu-1": ollama_rows(START, end, seed=7, offset=1),
                     "gpu-2": ollama_rows(START, end, seed=8, offset=2),
                     "web-1": [{"ts": to_ms(START + timedelta(seconds=i * INTERVAL)), "cpu_percent": 5.0}
                               for i in range(144)]}
        app = app_rows(START, end, seed=9, speed=30.0)
        for row in app:  # the leader writes the app-wide counters
            host_rows["web-1"].append(dict(row))
        for host, rows in host_rows.items():
            for row in merged(rows):
                history.write_row(SampleRow(ts=row["ts"], host=host,
                                            values={k: v for k, v in row.items() if k != "ts"}))
        report = build_report(history, PERIOD, sample_interval=INTERVAL, host="web-1")
        service = report.ai_service
        assert [h.host for h in service.residency] == ["gpu-1", "gpu-2"]  # web-1 never read /api/ps
        for h in service.residency:
            want = residency_of(host_rows[h.host], START, end)
            assert h.loaded_share == pytest.approx(want["loaded_share"])
            assert h.cpu_share == pytest.approx(want["cpu_share"])
            assert h.worst_ratio == pytest.approx(want["worst"]) and h.worst_at == want["worst_at"]
            assert h.loads == want["loads"]
            assert h.probe_tps == pytest.approx(want["probe_tps"])
        quiz = quiz_of(merged(app), START, end)
        assert service.throughput[0].tokens_per_second == pytest.approx(quiz["tps"])
        text = section(render_html(report))
        assert "gpu-1" in text and "gpu-2" in text and "web-1" not in text
        line = next(x for x in render_text(report).splitlines() if x.startswith("AI service:"))
        assert line.count("model loaded") == 2 and "gpu-1 model loaded" in line
    finally:
        history.close()


def test_the_synthetic_history_fills_the_section(history):
    """The bench's and the docs' history (reporter.store.synthetic) has the model's residency, its reloads and
    the token counters, so bench/report.py measures the section and the example report shows it."""
    from reporter.store.synthetic import generate

    day = date(2026, 11, 28)
    start = datetime(2026, 11, 27, tzinfo=UTC)
    generate(history, start, start + timedelta(days=2))
    report = build_report(history, Period.day(day, ZoneInfo("UTC")), sample_interval=10.0, host="web-1")
    service = report.ai_service
    assert service.known and service.residency and service.overall is not None
    residency = service.residency[0]
    assert 0.5 < residency.loaded / residency.read <= 1.0 and residency.loads is not None
    overall = service.overall
    assert overall.completion_tokens and overall.generation_seconds
    assert 10 < overall.completion_tokens / overall.generation_seconds < 45  # 38 tokens/s, 13 on the CPU
    assert 'id="ai-service"' in render_html(report)
