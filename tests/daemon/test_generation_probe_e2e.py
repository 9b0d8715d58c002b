"""`reporter run` with the synthetic probe (REPORTER_OLLAMA_PROBE_INTERVAL) against the shared fake Ollama: off by
default, measured and exposed when on, stored once per run, and a hung Ollama never holds up sampling."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reporter.collect.generation_probe import NUM_PREDICT
from reporter.store.history import History
from tests.conftest import free_port, wait_for
from tests.daemon.helpers import fast_settings, start_daemon, stop_daemon

MARGIN = 0.3  # seconds of scheduling slack on this shared 2-core machine


def generate_bodies(fake) -> list[dict]:
    return [json.loads(body) for method, path, body in fake.requests if (method, path) == ("POST", "/api/generate")]


def snapshot(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/snapshot", timeout=5).json()


def settings_for(tmp_path, redis_url, fake, **extra: str) -> dict[str, str]:
    return fast_settings(tmp_path, redis_url, extra={"REPORTER_OLLAMA_URL": fake.url, "REPORTER_PROBES": "ollama",
                                                     "REPORTER_REPORTS": "", **extra})


@pytest.mark.slow
def test_off_by_default_no_generation_is_ever_requested(tmp_path, redis_url, fake_ollama):
    port = free_port()
    proc = start_daemon(tmp_path, settings_for(tmp_path, redis_url, fake_ollama), port)
    try:
        # /api/ps is read every sample (/api/tags only every 30 s while /api/ps answers the same)
        wait_for(lambda: sum(p == "/api/ps" for _, p, _ in fake_ollama.requests) >= 3, what="three samples")
        assert snapshot(port)["services"]["ollama"]["probe"] is None
        assert "reporter_gen_ai_probe" not in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        stop_daemon(proc)
    assert [r for r in fake_ollama.requests if r[0] == "POST"] == []


@pytest.mark.slow
def test_the_probe_measures_the_delay_exposes_it_and_stores_each_run_once(tmp_path, redis_url, fake_ollama):
    fake_ollama.first_token_delay = 0.5
    port = free_port()
    settings = settings_for(tmp_path, redis_url, fake_ollama, REPORTER_OLLAMA_MODEL="llama3:8b",
                            REPORTER_OLLAMA_PROBE_INTERVAL="2", REPORTER_OLLAMA_PROBE_TIMEOUT="1.5")
    started = datetime.now(UTC)
    proc = start_daemon(tmp_path, settings, port)
    try:
        probe = wait_for(lambda: snapshot(port)["services"]["ollama"]["probe"], what="a probe in the snapshot")
        assert probe["error"] is None
        assert 0.5 <= probe["time_to_first_token_seconds"] <= 0.5 + MARGIN
        assert probe["tokens_per_second"] == 40.0 and probe["load_seconds"] == 0.02
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        [tps] = families["reporter_gen_ai_probe_output_tokens_per_second"].samples
        assert tps.labels == {"model": "llama3:8b"} and tps.value == 40.0
        [ttft] = families["reporter_gen_ai_server_time_to_first_token_seconds"].samples
        assert 0.5 <= ttft.value <= 0.5 + MARGIN
        [success] = families["reporter_gen_ai_probe_success"].samples
        assert success.labels == {"model": "llama3:8b"} and success.value == 1.0
        [ran] = families["reporter_gen_ai_probe_timestamp_seconds"].samples
        assert abs(ran.value - datetime.fromisoformat(probe["at"].replace("Z", "+00:00")).timestamp()) < 0.001
        wait_for(lambda: len(generate_bodies(fake_ollama)) >= 3, timeout=10, what="three probe runs")
        time.sleep(1.5)  # the last run's result reaches a sample
    finally:
        stop_daemon(proc)
    bodies = generate_bodies(fake_ollama)
    assert all(b["model"] == "llama3:8b" and b["stream"] is True and b["options"] == {"num_predict": NUM_PREDICT}
               for b in bodies)
    history = History(settings["REPORTER_HISTORY_URL"], ["grammar", "quiz", "voice", "scenario"])
    try:
        end = datetime.now(UTC) + timedelta(seconds=1)
        samples = history.series("ollama_probe_tokens_per_second", started, end)
        stored = [v for _, v in samples if v is not None]
        ttfts = [v for _, v in history.series("ollama_probe_first_token_seconds", started, end) if v is not None]
    finally:
        history.close()
    assert len(samples) >= 2 * len(stored)  # a sample a second, a run every 2 s: not repeated in every sample
    assert stored == [40.0] * len(stored) and len(bodies) - 1 <= len(stored) <= len(bodies)
    assert len(ttfts) == len(stored) and all(0.5 <= v <= 0.5 + MARGIN for v in ttfts)


@pytest.mark.slow
def test_a_hung_ollama_is_a_probe_error_within_the_timeout_while_samples_keep_coming(tmp_path, redis_url,
                                                                                    fake_ollama):
    fake_ollama.first_token_delay = 60.0  # /api/generate sends its headers, then nothing
    port = free_port()
    settings = settings_for(tmp_path, redis_url, fake_ollama, REPORTER_OLLAMA_PROBE_INTERVAL="3",
                            REPORTER_OLLAMA_PROBE_TIMEOUT="1")
    proc = start_daemon(tmp_path, settings, port)
    try:
        begun = time.monotonic()
        wait_for(lambda: generate_bodies(fake_ollama), what="the first probe request")
        probe = wait_for(lambda: snapshot(port)["services"]["ollama"]["probe"], what="the probe's error")
        assert time.monotonic() - begun < 1.0 + 1.0 + MARGIN  # its timeout, then the next 1 s sample
        assert probe["error"] == "no answer within 1 s (REPORTER_OLLAMA_PROBE_TIMEOUT)"
        assert probe["time_to_first_token_seconds"] is None and probe["tokens_per_second"] is None
        families = {f.name: f for f in text_string_to_metric_families(
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)}
        assert [x.value for x in families["reporter_gen_ai_probe_success"].samples] == [0.0]
        assert "reporter_gen_ai_probe_output_tokens_per_second" not in families
        stamps = []
        for _ in range(5):  # a sample every second while each probe run hangs
            snap = snapshot(port)
            stamps.append(snap["timestamp"])
            assert snap["services"]["ollama"]["up"] is True and snap["status"] == "healthy"
            time.sleep(1.0)
        assert len(set(stamps)) >= 4
        assert len(generate_bodies(fake_ollama)) >= 2  # the probe went on, every 3 s
    finally:
        stopping = time.monotonic()
        stop_daemon(proc)
        assert time.monotonic() - stopping < 5.0
