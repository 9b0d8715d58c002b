"""The synthetic probe (REPORTER_OLLAMA_PROBE_INTERVAL) against the shared fake Ollama on loopback: what it
measures, what it sends, how it fails, and how its result reaches the snapshot and the history (once per run)."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from reporter.collect.generation_probe import MAX_ANSWER_BYTES, NUM_PREDICT, PROMPT, GenerationProber
from reporter.collect.sampler import Sampler
from reporter.settings import load_settings
from reporter.store.history import History
from tests.conftest import wait_for
from tests.test_cli import reporter

MARGIN = 0.3  # seconds of scheduling slack on this shared 2-core machine


def prober(url: str, model: str = "mistral:7b", interval: float = 60.0, timeout: float = 2.0) -> GenerationProber:
    return GenerationProber(url, model, interval, timeout)


def generate_requests(fake) -> list[dict]:
    return [json.loads(body) for method, path, body in fake.requests if (method, path) == ("POST", "/api/generate")]


def probe_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "reporter.collect.generation_probe" and r.levelno == logging.WARNING]


def test_the_probe_measures_a_known_delay_and_the_servers_own_throughput(fake_ollama):
    fake_ollama.first_token_delay = 0.5
    fake_ollama.final = {**fake_ollama.final, "eval_count": 40, "eval_duration": 1_000_000_000,
                         "load_duration": 2_500_000_000}
    result = prober(fake_ollama.url).probe()
    assert result.error is None
    assert 0.5 <= result.time_to_first_token_seconds <= 0.5 + MARGIN
    assert result.tokens_per_second == 40.0  # 40 tokens in 1e9 ns
    assert result.load_seconds == 2.5
    assert result.time_to_first_token_seconds <= result.total_seconds <= 0.5 + MARGIN


def test_tokens_per_second_is_eval_count_over_eval_duration_in_seconds(fake_ollama):
    fake_ollama.final = {**fake_ollama.final, "eval_count": 7, "eval_duration": 350_000_000}
    assert prober(fake_ollama.url).probe().tokens_per_second == 20.0


def test_the_urls_user_and_password_are_sent_as_basic_auth(fake_ollama):
    fake_ollama.authorization = "Basic " + base64.b64encode(b"ops:s3cret-pw").decode()
    result = prober(fake_ollama.url.replace("http://", "http://ops:s3cret-pw@")).probe()
    assert result.error is None and result.tokens_per_second == 40.0


def test_the_request_carries_the_configured_model_stream_and_the_token_cap(fake_ollama):
    prober(fake_ollama.url, model="llama3:8b").probe()
    [body] = generate_requests(fake_ollama)
    assert body == {"model": "llama3:8b", "prompt": PROMPT, "stream": True, "options": {"num_predict": NUM_PREDICT}}
    assert NUM_PREDICT <= 16


@pytest.mark.parametrize("final", [
    {"eval_count": "forty", "eval_duration": -1, "load_duration": None},  # malformed
    {},  # missing
    {"eval_count": 40, "eval_duration": 0, "load_duration": 1.5},  # a zero duration, a float
])
def test_a_malformed_final_chunk_gives_nulls_and_one_warning(fake_ollama, caplog, final):
    fake_ollama.final = final
    probe = prober(fake_ollama.url)
    with caplog.at_level(logging.WARNING, logger="reporter.collect.generation_probe"):
        results = [probe.probe() for _ in range(3)]
    for result in results:
        assert result.error is None and result.time_to_first_token_seconds is not None
        assert result.tokens_per_second is None and result.load_seconds is None
    [warning] = probe_warnings(caplog)
    assert "eval_duration" in warning and "load_duration" in warning


@pytest.mark.parametrize("final", [
    {"eval_count": 10**30, "eval_duration": 1, "load_duration": 10**30},  # beyond Go's int64: not Ollama's
    {"eval_count": int("9" * 4000), "eval_duration": 1, "load_duration": 2**63},  # a float() overflow
])
def test_a_final_chunk_with_numbers_beyond_int64_gives_nulls_and_one_warning(fake_ollama, caplog, final):
    fake_ollama.final = final
    probe = prober(fake_ollama.url)
    with caplog.at_level(logging.WARNING, logger="reporter.collect.generation_probe"):
        results = [probe.probe() for _ in range(2)]
    for result in results:
        assert result.error is None and result.total_seconds is not None
        assert result.tokens_per_second is None and result.load_seconds is None
    [warning] = probe_warnings(caplog)
    assert "eval_count" in warning and "load_duration" in warning


def test_a_field_good_again_then_bad_again_is_warned_again(fake_ollama, caplog):
    good = dict(fake_ollama.final)
    probe = prober(fake_ollama.url)
    with caplog.at_level(logging.WARNING, logger="reporter.collect.generation_probe"):
        fake_ollama.final = {**good, "eval_count": None}
        assert probe.probe().tokens_per_second is None
        fake_ollama.final = good
        assert probe.probe().tokens_per_second == 40.0
        fake_ollama.final = {**good, "eval_count": None}
        assert probe.probe().tokens_per_second is None
    assert len(probe_warnings(caplog)) == 2


def test_a_hung_server_is_an_error_within_the_timeout(fake_ollama, silent_server):
    fake_ollama.first_token_delay = 30.0  # headers sent, then nothing
    for url in (fake_ollama.url, f"http://127.0.0.1:{silent_server.port}"):  # and no answer at all
        started = time.monotonic()
        result = prober(url, timeout=1.0).probe()
        assert time.monotonic() - started < 1.0 + MARGIN
        assert result.error == "no answer within 1 s (REPORTER_OLLAMA_PROBE_TIMEOUT)"
        assert result.time_to_first_token_seconds is None and result.tokens_per_second is None


@pytest.mark.parametrize("gap", [0.05, 0.5])
def test_an_answer_sent_byte_by_byte_is_an_error_within_the_timeout(fake_ollama, gap):
    # every byte within the socket timeout (the headers at 0.05 s, or the first chunk every 0.5 s), never done
    fake_ollama.dribble["/api/generate"] = gap
    started = time.monotonic()
    result = prober(fake_ollama.url, timeout=1.0).probe()
    assert time.monotonic() - started < 1.0 + MARGIN
    assert result.error == "no answer within 1 s (REPORTER_OLLAMA_PROBE_TIMEOUT)"


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"error":"model \'mistral:7b\' not found, pull from https://bob:s3cret-pw@registry.example.com"}',
     "Ollama: model 'mistral:7b' not found, pull from https://bob:***@registry.example.com"),
    (b'{"model":"mistral:7b","response":"ok","done":false}\n', "ended before its final chunk"),
    (b"not json\n", "not JSON"),
    (b'{"response":"' + b"x" * MAX_ANSWER_BYTES + b'"}\n', "larger than 256 KiB"),
])
def test_a_bad_answer_is_an_error_with_secrets_masked(fake_ollama, raw, expected):
    fake_ollama.raw["/api/generate"] = raw
    result = prober(fake_ollama.url).probe()
    assert result.error is not None and expected in result.error
    assert "s3cret-pw" not in result.error
    assert result.tokens_per_second is None


def test_ollamas_error_text_is_one_line_without_control_characters(fake_ollama, caplog):
    # an error text with a newline would forge a log line; an escape sequence would colour the terminal
    forged = "boom\n2026-12-04T20:00:00.000Z CRITICAL reporter.daemon.run: forged\x1b[31m red\r"
    fake_ollama.raw["/api/generate"] = json.dumps({"error": forged}).encode() + b"\n"
    with caplog.at_level(logging.WARNING, logger="reporter.collect.generation_probe"):
        result = prober(fake_ollama.url).probe()
    assert result.error is not None and "boom" in result.error and "forged" in result.error
    assert not any(ord(c) < 32 or ord(c) == 127 for c in result.error)
    [warning] = probe_warnings(caplog)
    assert "\n" not in warning and "\x1b" not in warning


def test_an_http_error_names_the_status_and_a_refused_connection_is_an_error(fake_ollama, refused_port):
    assert prober(fake_ollama.url + "/elsewhere").probe().error == "HTTP 404 Not Found from /api/generate: not found"
    assert "Connection refused" in prober(f"http://127.0.0.1:{refused_port}").probe().error


def test_off_by_default_and_only_on_hosts_probing_ollama():
    assert GenerationProber.from_settings(load_settings(None)) is None
    assert GenerationProber.from_settings(load_settings(None, ollama_probe_interval=300, probes=["redis"])) is None
    on = GenerationProber.from_settings(load_settings(None, ollama_probe_interval=300, ollama_probe_timeout=30))
    assert on is not None and (on.interval, on.timeout) == (300, 30)


@pytest.mark.parametrize(("env", "name", "said"), [
    ({"REPORTER_OLLAMA_PROBE_INTERVAL": "5 minutes"}, "REPORTER_OLLAMA_PROBE_INTERVAL", "valid number"),
    ({"REPORTER_OLLAMA_PROBE_INTERVAL": "0.5"}, "REPORTER_OLLAMA_PROBE_INTERVAL", "0 (off) or at least 1 second"),
    ({"REPORTER_OLLAMA_PROBE_INTERVAL": "-1"}, "REPORTER_OLLAMA_PROBE_INTERVAL", "greater than or equal to 0"),
    ({"REPORTER_OLLAMA_PROBE_TIMEOUT": "0"}, "REPORTER_OLLAMA_PROBE_TIMEOUT", "greater than or equal to 0.1"),
    ({"REPORTER_OLLAMA_PROBE_INTERVAL": "30"}, "REPORTER_OLLAMA_PROBE_TIMEOUT",
     "60 s must not be longer than REPORTER_OLLAMA_PROBE_INTERVAL (30 s)"),
])
def test_a_bad_probe_setting_stops_start_up_with_one_line(tmp_path, env, name, said):
    result = reporter("check-config", env=env, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert name in lines[0] and said in lines[0], lines[0]


def test_an_empty_interval_is_off():
    assert load_settings(None, ollama_probe_interval="").ollama_probe_interval == 0
    assert load_settings(None, ollama_probe_interval="300", ollama_probe_timeout="90").ollama_probe_timeout == 90


def test_each_run_is_stored_once_in_the_history_while_every_snapshot_carries_it(tmp_path, fake_ollama):
    """The prober's thread runs every second; a sampler (only Ollama probed) takes samples; the first sample
    carrying a run's result stores its figures, the later ones carry it without storing it again."""
    settings = load_settings(None, ollama_url=fake_ollama.url, probes=["ollama"], ollama_probe_interval=1,
                             ollama_probe_timeout=1, history_url=f"sqlite:///{tmp_path / 'h.db'}")
    probe = GenerationProber.from_settings(settings)
    assert probe is not None
    sampler = Sampler.from_settings(settings, generation=probe.result)
    history = History(settings.history_url, settings.ai_features)
    snapshots = []
    try:
        assert sampler.sample().services.ollama.probe is None  # before the first run
        probe.start()
        wait_for(lambda: sampler.sample().services.ollama.probe is not None, what="a first probe result")
        for _ in range(12):
            snap = sampler.sample()
            snapshots.append(snap)
            history.write(snap)
            time.sleep(0.25)
        probe.stop()
        runs = {s.services.ollama.probe.at for s in snapshots}
        first = snapshots[0].timestamp - timedelta(seconds=1)
        end = snapshots[-1].timestamp + timedelta(seconds=1)
        stored = [p for p in history.series("ollama_probe_tokens_per_second", first, end) if p[1] is not None]
        ttft = [p for p in history.series("ollama_probe_first_token_seconds", first, end) if p[1] is not None]
    finally:
        probe.stop()
        sampler.close()
        history.close()
    assert all(s.services.ollama.probe is not None for s in snapshots)
    assert all(s.services.ollama.probe.tokens_per_second == 40.0 for s in snapshots)
    fresh = [s for s in snapshots if s.services.ollama.probe.at == s.timestamp]
    assert 2 <= len(fresh) < len(snapshots)  # a run a second, a sample every 0.25 s
    assert [v for _, v in stored] == [40.0] * len(fresh)
    assert [ts for ts, _ in stored] == [round(s.timestamp.timestamp() * 1000) for s in fresh]
    assert len(ttft) == len(fresh) and len(runs) >= len(fresh)
    assert len(generate_requests(fake_ollama)) >= len(fresh)


def test_stopping_during_a_run_ends_it_at_once_and_logs_no_failure(fake_ollama, caplog):
    fake_ollama.first_token_delay = 30.0  # a run in flight when the daemon stops
    probe = prober(fake_ollama.url, timeout=20.0)
    with caplog.at_level(logging.WARNING, logger="reporter.collect.generation_probe"):
        probe.start()
        wait_for(lambda: generate_requests(fake_ollama), timeout=5)
        time.sleep(0.2)
        started = time.monotonic()
        probe.stop(timeout=2.0)
        assert time.monotonic() - started < 1.0 and not probe._thread.is_alive()
    assert probe_warnings(caplog) == []  # the daemon cut it short: no "ended before its final chunk"
    assert probe.result(datetime.now(UTC)) is None
