"""Ollama's ``/api/ps`` and ``/api/version`` read by the Ollama probe (issue 13, item 1), against the fake
Ollama of tests/fake_ollama.py: the loaded model's figures, the load counter, the deadline, and every malformed
answer as missing values with one warning."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest

from reporter.collect.services import OllamaProbe
from tests.fake_ollama import GIB, ps_entry

MODEL = "mistral:7b"


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "reporter.collect.services"]


def requests_of(fake, path: str) -> int:
    return sum(1 for _, p, _ in fake.requests if p == path)


def test_loaded_model_figures_equal_the_fakes(fake_ollama):
    fake_ollama.load(MODEL, size=5 * GIB, size_vram=4 * GIB, expires_in=120, parameter_size="7.2B",
                     quantization="Q4_K_M")
    fake_ollama.load("llama3:8b", size=6 * GIB, expires_in=30)
    health = OllamaProbe(fake_ollama.url, MODEL, 2.0).read()
    assert health.up is True and health.is_available is True and health.error is None
    assert health.version == "0.12.0"
    assert health.model_loaded is True and health.model_loads == 0
    assert health.model_size_bytes == 5 * GIB and health.model_vram_bytes == 4 * GIB
    assert health.model_cpu_offload_ratio == 0.2
    mistral, llama = health.loaded
    assert (mistral.name, mistral.size_bytes, mistral.vram_bytes, mistral.cpu_offload_ratio) == (
        MODEL, 5 * GIB, 4 * GIB, 0.2)
    assert (mistral.parameter_size, mistral.quantization) == ("7.2B", "Q4_K_M")
    assert 118 <= mistral.expires_in_seconds <= 120
    assert (llama.name, llama.cpu_offload_ratio, llama.vram_bytes) == ("llama3:8b", 0.0, 6 * GIB)
    assert 28 <= llama.expires_in_seconds <= 30
    # the list is not part of the section's JSON (the sampler puts it in ai.models)
    assert "loaded" not in json.loads(health.model_dump_json())


def test_ratio_has_four_decimals_and_a_model_fully_on_the_cpu_is_one(fake_ollama):
    fake_ollama.load(MODEL, size=3 * GIB, size_vram=2 * GIB)
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    assert probe.read().model_cpu_offload_ratio == 0.3333
    fake_ollama.load(MODEL, size=3 * GIB, size_vram=0)
    health = probe.read()
    assert health.model_cpu_offload_ratio == 1.0 and health.model_vram_bytes == 0


@pytest.mark.parametrize(("configured", "loaded", "expected"), [
    ("mistral", "mistral:latest", True),
    ("mistral:latest", "mistral", True),
    ("mistral:7b", "mistral:latest", False),
    ("registry.example.com:5000/team/mistral", "registry.example.com:5000/team/mistral:latest", True),
])
def test_a_name_without_tag_is_latest(fake_ollama, configured, loaded, expected):
    fake_ollama.load(loaded)
    health = OllamaProbe(fake_ollama.url, configured, 2.0).read()
    assert health.model_loaded is expected
    assert (health.model_size_bytes is not None) is expected


def test_model_not_loaded_is_false_with_no_sizes(fake_ollama):
    fake_ollama.load("llama3:8b")
    health = OllamaProbe(fake_ollama.url, MODEL, 2.0).read()
    assert health.model_loaded is False and health.model_loads == 0
    assert health.model_size_bytes is None and health.model_cpu_offload_ratio is None
    assert [m.name for m in health.loaded] == ["llama3:8b"]


def test_unloading_and_loading_again_counts_one_load(fake_ollama):
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0, tags_seconds=0.0)  # /api/tags every read: status is its
    fake_ollama.load(MODEL)
    assert probe.read().model_loads == 0  # the first answer does not count
    fake_ollama.unload(MODEL)
    health = probe.read()
    assert (health.model_loaded, health.model_loads) == (False, 0)
    fake_ollama.load(MODEL)
    health = probe.read()
    assert (health.model_loaded, health.model_loads) == (True, 1)
    assert probe.read().model_loads == 1  # still loaded: no new load
    # a failed read in between is no unload
    fake_ollama.raw["/api/ps"] = b"<html>busy</html>"
    health = probe.read()
    assert (health.model_loaded, health.model_loads) == (None, 1)
    del fake_ollama.raw["/api/ps"]
    assert probe.read().model_loads == 1
    # Ollama down is no unload either, and the counter stays
    fake_ollama.status = 500
    assert probe.read().model_loads == 1
    fake_ollama.status = 200
    assert probe.read().model_loads == 1


def test_first_answer_without_the_model_then_loaded_counts(fake_ollama):
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    assert probe.read().model_loads == 0
    fake_ollama.load(MODEL)
    assert probe.read().model_loads == 1


def test_version_is_read_at_start_then_every_few_minutes_or_when_ollama_is_back(fake_ollama):
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0, tags_seconds=0.0)  # /api/tags every read: status is its
    for _ in range(3):
        assert probe.read().version == "0.12.0"
    assert requests_of(fake_ollama, "/api/version") == 1 and requests_of(fake_ollama, "/api/ps") == 3
    fake_ollama.version = "0.12.1"
    fake_ollama.status = 500
    down = probe.read()
    assert down.up is False and down.version is None and down.model_loaded is None
    fake_ollama.status = 200
    assert probe.read().version == "0.12.1"  # came back: read again
    assert requests_of(fake_ollama, "/api/version") == 2
    every_time = OllamaProbe(fake_ollama.url, MODEL, 2.0, version_seconds=0.0)
    assert every_time.read().version == "0.12.1"
    fake_ollama.version = "0.13.0"
    assert every_time.read().version == "0.13.0"
    assert requests_of(fake_ollama, "/api/version") == 4


def test_the_urls_user_and_password_are_sent_as_basic_auth(fake_ollama):
    # Ollama behind a proxy checking basic auth: REPORTER_OLLAMA_URL=http://user:password@host
    fake_ollama.load(MODEL)
    fake_ollama.authorization = "Basic " + base64.b64encode(b"ops:s3cret pw@1").decode()
    url = fake_ollama.url.replace("http://", "http://ops:s3cret%20pw%401@")
    health = OllamaProbe(url, MODEL, 2.0).read()
    assert health.up is True and health.model_loaded is True and health.version == "0.12.0"
    wrong = OllamaProbe(fake_ollama.url.replace("http://", "http://ops:wrong-pw@"), MODEL, 2.0).read()
    assert wrong.up is False and "401" in wrong.error and "wrong-pw" not in wrong.error


def test_hung_ps_stays_within_the_deadline(fake_ollama, caplog):
    fake_ollama.load(MODEL)
    fake_ollama.delays["/api/ps"] = 30.0
    probe = OllamaProbe(fake_ollama.url, MODEL, 1.0)
    for _ in range(2):
        started = time.monotonic()
        health = probe.read()
        assert time.monotonic() - started < 1.0
        assert health.up is True and health.is_available is True and health.error is None
        assert health.model_loaded is None and health.model_loads is None and health.loaded == []
    assert len(warnings(caplog)) == 1 and "/api/ps" in warnings(caplog)[0]


@pytest.mark.parametrize("path", ["/api/ps", "/api/version"])
def test_an_answer_sent_byte_by_byte_stays_within_the_deadline(fake_ollama, caplog, path):
    # each byte comes well within the socket timeout, the whole answer never within the deadline
    fake_ollama.load(MODEL)
    fake_ollama.dribble[path] = 0.05
    probe = OllamaProbe(fake_ollama.url, MODEL, 1.0)
    for _ in range(2):
        started = time.monotonic()
        health = probe.read()
        assert time.monotonic() - started < 1.0
        assert health.up is True and health.is_available is True and health.error is None  # /api/tags alone
    assert len(warnings(caplog)) == 1 and path in warnings(caplog)[0]


def test_tags_sent_byte_by_byte_is_down_within_the_deadline(fake_ollama):
    fake_ollama.dribble["/api/tags"] = 0.05
    started = time.monotonic()
    health = OllamaProbe(fake_ollama.url, MODEL, 1.0).read()
    assert time.monotonic() - started < 1.0
    assert health.up is False and "timed out" in health.error


def test_three_slow_answers_end_within_one_deadline(fake_ollama, caplog):
    fake_ollama.load(MODEL)
    fake_ollama.delays.update({"/api/tags": 1.6, "/api/version": 1.0, "/api/ps": 1.0})
    started = time.monotonic()
    health = OllamaProbe(fake_ollama.url, MODEL, 2.0).read()
    assert time.monotonic() - started < 2.0
    assert health.up is True and health.model_loaded is None and health.version is None
    assert len(warnings(caplog)) == 2


def test_a_huge_ps_answer_is_capped(fake_ollama, caplog):
    fake_ollama.raw["/api/ps"] = b'{"models":[' + b" " * (2 * 1024 * 1024) + b"]}"
    health = OllamaProbe(fake_ollama.url, MODEL, 2.0).read()
    assert health.up is True and health.model_loaded is None
    assert "larger than 1024 KiB" in warnings(caplog)[0]


def _ps(**fields) -> bytes:
    entry = ps_entry(MODEL, size=5 * GIB, size_vram=4 * GIB)
    for name, value in fields.items():
        if value is ...:
            del entry[name]
        else:
            entry[name] = value
    return json.dumps({"models": [entry]}).encode()


# (what, raw /api/ps answer, the figures that must be None, the figures still read)
MALFORMED_PS = [
    ("models not a list", b'{"models":{"name":"mistral:7b"}}', ("model_loaded",), ()),
    ("not JSON", b"<html>502 Bad Gateway</html>", ("model_loaded",), ()),
    ("not an object", b'[1, 2]', ("model_loaded",), ()),
    ("size a string", _ps(size="5368709120"), ("model_size_bytes", "model_cpu_offload_ratio"),
     ("model_vram_bytes", "expires_in_seconds")),
    ("size missing", _ps(size=...), ("model_size_bytes", "model_cpu_offload_ratio"), ("model_vram_bytes",)),
    ("size negative", _ps(size=-5), ("model_size_bytes", "model_cpu_offload_ratio"), ("model_vram_bytes",)),
    ("size_vram negative", _ps(size_vram=-1), ("model_vram_bytes", "model_cpu_offload_ratio"),
     ("model_size_bytes",)),
    ("size_vram a float", _ps(size_vram=1.5), ("model_vram_bytes", "model_cpu_offload_ratio"), ("model_size_bytes",)),
    ("size_vram > size", _ps(size_vram=6 * GIB), ("model_vram_bytes", "model_cpu_offload_ratio"),
     ("model_size_bytes",)),
    ("size a boolean", _ps(size=True), ("model_size_bytes", "model_cpu_offload_ratio"), ("model_vram_bytes",)),
    ("expires_at not a date", _ps(expires_at="in 4 minutes"), ("expires_in_seconds",),
     ("model_size_bytes", "model_cpu_offload_ratio")),
    ("expires_at without zone", _ps(expires_at="2030-01-01T00:00:00"), ("expires_in_seconds",),
     ("model_size_bytes",)),
    ("expires_at a number", _ps(expires_at=1733300000), ("expires_in_seconds",), ("model_size_bytes",)),
    ("details missing", _ps(details=...), ("parameter_size", "quantization"), ("model_size_bytes",)),
    ("details a string", _ps(details="7B"), ("parameter_size", "quantization"), ("model_size_bytes",)),
]


@pytest.mark.parametrize(("what", "raw", "missing", "read"), MALFORMED_PS, ids=[m[0] for m in MALFORMED_PS])
def test_each_malformed_ps_field_is_missing_with_one_warning(fake_ollama, caplog, what, raw, missing, read):
    fake_ollama.raw["/api/ps"] = raw
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for _ in range(3):  # one warning, not one per sample
        health = probe.read()
    assert health.up is True and health.is_available is True and health.error is None
    assert health.version == "0.12.0"  # the rest is still read
    entry = health.loaded[0] if health.loaded else None
    values = {**health.model_dump(), **(entry.model_dump() if entry else {})}
    for name in missing:
        assert values[name] is None, (what, name, values)
    for name in read:
        assert values[name] is not None, (what, name, values)
    if entry is not None:
        assert health.model_loaded is True
    logged = warnings(caplog)
    assert len(logged) == (2 if what.startswith("details") else 1), logged
    assert all("/api/ps" in line for line in logged)


def test_a_malformed_model_loading_and_unloading_is_warned_once(fake_ollama, caplog):
    # keep_alive unloads it between requests: absent from /api/ps is not "fixed", its problems are not new
    entry = ps_entry(MODEL)
    del entry["details"]
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for _ in range(3):
        fake_ollama.loaded[MODEL] = entry
        assert probe.read().model_loaded is True
        fake_ollama.unload(MODEL)
        assert probe.read().model_loaded is False
    assert probe.loads == 2
    assert len(warnings(caplog)) == 2  # parameter_size, quantization_level: once each


def test_models_coming_and_going_by_the_thousand_keep_a_bounded_memory(fake_ollama, caplog):
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for i in range(300):
        fake_ollama.raw["/api/ps"] = json.dumps({"models": [{"name": f"junk-{i}:latest"}]}).encode()
        probe.read()
    assert len(probe.problems.current) <= 100


def test_hundreds_of_malformed_models_are_warned_once_not_at_every_sample(fake_ollama, caplog):
    fake_ollama.raw["/api/ps"] = json.dumps({"models": [{"name": f"junk-{i}:latest"} for i in range(200)]}).encode()
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    probe.read()
    first = len(warnings(caplog))
    health = probe.read()
    assert first > 0 and len(warnings(caplog)) == first
    assert len(health.loaded) == 64 and "200 models listed" in warnings(caplog)[0]  # not Ollama's: cut


def test_a_name_too_long_for_a_model_name_is_left_out_with_one_warning(fake_ollama, caplog):
    fake_ollama.raw["/api/ps"] = json.dumps({"models": [ps_entry("x" * 100_000), ps_entry(MODEL)]}).encode()
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for _ in range(2):
        health = probe.read()
    assert [m.name for m in health.loaded] == [MODEL] and health.model_loaded is True
    assert len(warnings(caplog)) == 1


def test_a_malformed_entry_leaves_the_other_models_read(fake_ollama, caplog):
    good = ps_entry("llama3:8b", size=6 * GIB)
    fake_ollama.raw["/api/ps"] = json.dumps({"models": [{"size": 1}, "junk", good]}).encode()
    health = OllamaProbe(fake_ollama.url, MODEL, 2.0).read()
    assert [m.name for m in health.loaded] == ["llama3:8b"] and health.loaded[0].size_bytes == 6 * GIB
    assert health.model_loaded is False
    assert len(warnings(caplog)) == 1


def test_a_warning_comes_again_only_after_the_answer_was_right(fake_ollama, caplog):
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    fake_ollama.raw["/api/ps"] = _ps(size="x")
    probe.read()
    fake_ollama.raw["/api/ps"] = _ps(size="y")  # the same problem with another value: no new line
    probe.read()
    assert len(warnings(caplog)) == 1
    del fake_ollama.raw["/api/ps"]
    fake_ollama.load(MODEL)  # read and right (a model merely absent is no fix)
    probe.read()
    fake_ollama.raw["/api/ps"] = _ps(size="x")
    probe.read()
    assert len(warnings(caplog)) == 2


def test_ps_404_on_an_old_ollama_is_missing_with_one_warning_and_not_asked_every_sample(fake_ollama, caplog):
    fake_ollama.not_found.add("/api/ps")
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for _ in range(3):
        health = probe.read()
        assert health.up is True and health.model_loaded is None and health.model_loads is None
        assert health.version == "0.12.0"
    assert requests_of(fake_ollama, "/api/ps") == 1  # asked again with the version, in a few minutes
    logged = warnings(caplog)
    assert len(logged) == 1 and "404" in logged[0] and "older" in logged[0]
    fake_ollama.not_found.clear()  # Ollama upgraded: it restarts, so the probe sees it come back
    fake_ollama.status = 500
    probe.read()
    fake_ollama.status = 200
    fake_ollama.load(MODEL)
    assert probe.read().model_loaded is True
    assert probe.read().model_loaded is True and requests_of(fake_ollama, "/api/ps") == 3


def test_ps_404_is_asked_again_with_the_version(fake_ollama):
    fake_ollama.not_found.add("/api/ps")
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0, version_seconds=0.0)
    probe.read()
    probe.read()
    assert requests_of(fake_ollama, "/api/ps") == 2


@pytest.mark.parametrize("raw", [b'{"version": 7}', b"garbage", b'{"version": ""}', b'["0.5.7"]',
                                 b'{"version": "' + b"9" * 100 + b'"}'])
def test_version_garbage_is_missing_with_one_warning(fake_ollama, caplog, raw):
    fake_ollama.raw["/api/version"] = raw
    fake_ollama.load(MODEL)
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0, version_seconds=0.0)  # read every time: still one warning
    for _ in range(3):
        health = probe.read()
    assert health.version is None and health.up is True and health.model_loaded is True
    logged = warnings(caplog)
    assert len(logged) == 1 and "/api/version" in logged[0]


def test_version_404_is_missing_with_one_warning(fake_ollama, caplog):
    fake_ollama.not_found.add("/api/version")
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for _ in range(3):
        health = probe.read()
        assert health.version is None and health.up is True
    assert len(warnings(caplog)) == 1 and "404" in warnings(caplog)[0]
    assert requests_of(fake_ollama, "/api/version") == 1  # an answer: asked again in a few minutes


def test_a_hung_version_leaves_time_for_ps_and_is_asked_again_at_the_next_read(fake_ollama, caplog):
    fake_ollama.delays["/api/version"] = 30.0
    fake_ollama.load(MODEL)
    probe = OllamaProbe(fake_ollama.url, MODEL, 1.0)
    started = time.monotonic()
    health = probe.read()
    assert time.monotonic() - started < 1.0
    assert health.version is None and health.model_loaded is True
    del fake_ollama.delays["/api/version"]
    assert probe.read().version == "0.12.0"
    assert len(warnings(caplog)) == 1 and "/api/version" in warnings(caplog)[0]


def test_a_real_sampler_counts_a_reload_into_history_metrics_and_json(tmp_path, redis_url, redis_prefix,
                                                                      pg_schema_url, fake_ollama):
    """Sampler -> History (SQLite) and the served /metrics, /snapshot and seed answers: the configured model
    loaded with a quarter on the CPU, unloaded, loaded again."""
    from datetime import UTC, datetime, timedelta

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from reporter.collect.sampler import Sampler
    from reporter.settings import load_settings
    from reporter.store.history import History
    from tests.api.helpers import serve

    settings = load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix, app_database_url=pg_schema_url,
                             ollama_url=fake_ollama.url, history_url=f"sqlite:///{tmp_path / 'history.db'}")
    sampler = Sampler.from_settings(settings)
    history = History(settings.history_url, settings.ai_features, host=settings.host_name)
    start = datetime.now(UTC).replace(microsecond=0)
    snaps = []
    try:
        for step, loaded in enumerate((True, False, True)):
            if loaded:
                fake_ollama.load(MODEL, size=4 * GIB, size_vram=3 * GIB)
                fake_ollama.load("nomic-embed-text:latest", size=GIB // 2, parameter_size="137M", quantization="F16")
            else:
                fake_ollama.unload(MODEL)
            snap = sampler.sample(start + timedelta(seconds=10 * step))
            history.write(snap)
            snaps.append(snap)
        loads = history.series("ollama_model_loads", start, start + timedelta(minutes=1))
        ratios = history.series("ollama_model_cpu_offload_ratio", start, start + timedelta(minutes=1))
        loaded_flags = history.series("ollama_model_loaded", start, start + timedelta(minutes=1))
    finally:
        sampler.close()
        history.close()
    last = snaps[-1]
    assert "ollama" not in last.errors
    assert [s.services.ollama.model_loads for s in snaps] == [0, 0, 1]
    assert [v for _, v in loads] == [0, 0, 1]
    assert [v for _, v in loaded_flags] == [1, 0, 1]
    assert [v for _, v in ratios] == [0.25, None, 0.25]
    ollama = last.services.ollama
    assert (ollama.version, ollama.model_size_bytes, ollama.model_vram_bytes) == ("0.12.0", 4 * GIB, 3 * GIB)
    assert [(m.name, m.cpu_offload_ratio, m.parameter_size) for m in last.ai.models] == [
        ("nomic-embed-text:latest", 0.0, "137M"), (MODEL, 0.25, "7.2B")]
    assert [m.name for m in snaps[1].ai.models] == ["nomic-embed-text:latest"]

    with serve() as (latest, base):
        latest.publish(last)
        text = httpx.get(base + "/metrics").text
        body = httpx.get(base + "/snapshot").json()
        features = httpx.get(base + "/api/v1/analytics/ai-features").json()
        seed_ai = httpx.get(base + "/api/v1/analytics/metrics").json()["ai"]
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ratio = families["reporter_ollama_model_cpu_offload_ratio"].samples
    assert [(s.labels, s.value) for s in ratio] == [({"model": MODEL}, 0.25)]
    assert [(s.name, s.labels, s.value) for s in families["reporter_ollama_model_loads"].samples] == [
        ("reporter_ollama_model_loads_total", {"model": MODEL}, 1.0)]
    assert families["reporter_ollama_model_loaded"].samples[0].value == 1.0
    assert families["reporter_ollama_model_vram_bytes"].samples[0].value == 3 * GIB
    assert body["services"]["ollama"]["model_cpu_offload_ratio"] == 0.25
    assert body["services"]["ollama"]["model_loads"] == 1 and body["services"]["ollama"]["version"] == "0.12.0"
    assert [m["name"] for m in body["ai"]["models"]] == ["nomic-embed-text:latest", MODEL]
    assert body["ai"]["models"][1]["size_bytes"] == 4 * GIB
    assert "loaded" not in body["services"]["ollama"]
    # the seed's answers keep their shape
    assert set(seed_ai) == {"model", "is_available", "total_requests", "avg_response_time", "cache_hit_rate"}
    assert all("models" not in stats for stats in features.values())


def test_a_server_closing_each_connection_is_asked_on_a_new_one():
    """HTTP/1.0 answers (a proxy in front of Ollama): the probe reconnects for /api/ps and /api/version."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = {"/api/tags": {"models": [{"name": MODEL}]}, "/api/version": {"version": "0.12.0"},
               "/api/ps": {"models": [ps_entry(MODEL, size=2 * GIB, size_vram=GIB)]}}

    class OneShot(BaseHTTPRequestHandler):  # HTTP/1.0: the server closes the connection after each answer
        def do_GET(self):
            body = json.dumps(answers[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneShot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        health = OllamaProbe(f"http://127.0.0.1:{server.server_address[1]}", MODEL, 2.0).read()
    finally:
        server.shutdown()
        server.server_close()
    assert health.up is True and health.version == "0.12.0"
    assert health.model_loaded is True and health.model_cpu_offload_ratio == 0.5


@pytest.mark.slow
def test_a_daemon_counts_a_reload_in_metrics_and_history(tmp_path, redis_url, redis_prefix, pg_schema_url,
                                                         fake_ollama):
    """`reporter run` against the fake: the model loaded, unloaded, loaded again -> one load in /metrics and in
    the history API, the offload ratio labelled with the model."""
    import signal

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    from tests.conftest import free_port, wait_for
    from tests.daemon.helpers import start_daemon

    port = free_port()
    fake_ollama.load(MODEL, size=4 * GIB, size_vram=GIB)
    proc = start_daemon(tmp_path, {
        "REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.8", "REPORTER_REDIS_URL": redis_url,
        "REPORTER_AI_KEY_PREFIX": redis_prefix, "REPORTER_APP_DATABASE_URL": pg_schema_url,
        "REPORTER_OLLAMA_URL": fake_ollama.url, "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "REPORTER_REPORT_DIR": str(tmp_path / "reports")}, port)
    base = f"http://127.0.0.1:{port}"

    def snapshot() -> dict:
        return httpx.get(base + "/snapshot", timeout=5).json()

    try:
        wait_for(lambda: snapshot()["services"]["ollama"]["model_loaded"] is True, what="the model loaded")
        fake_ollama.unload(MODEL)
        wait_for(lambda: snapshot()["services"]["ollama"]["model_loaded"] is False, what="the model unloaded")
        fake_ollama.load(MODEL, size=4 * GIB, size_vram=GIB)
        body = wait_for(lambda: (s := snapshot())["services"]["ollama"]["model_loads"] == 1 and s,
                        what="one load counted")
        assert body["services"]["ollama"]["model_cpu_offload_ratio"] == 0.75
        assert [m["name"] for m in body["ai"]["models"]] == [MODEL]
        families = {f.name: f for f in text_string_to_metric_families(httpx.get(base + "/metrics", timeout=5).text)}
        assert [(s.labels, s.value) for s in families["reporter_ollama_model_loads"].samples] == [
            ({"model": MODEL}, 1.0)]
        assert [(s.labels, s.value) for s in families["reporter_ollama_model_cpu_offload_ratio"].samples] == [
            ({"model": MODEL}, 0.75)]
        points = wait_for(lambda: (p := httpx.get(base + "/api/v1/history?metric=ollama_model_loads",
                                                  timeout=5).json()["points"]) and p[-1][1] == 1.0 and p,
                          what="the load in the history")
        assert {v for _, v in points} == {0.0, 1.0}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err


def test_one_connection_is_kept_from_read_to_read_and_closed_with_the_probe(fake_ollama):
    fake_ollama.load(MODEL)
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    for _ in range(3):
        assert probe.read().model_loaded is True
    assert fake_ollama.connections == 1 and requests_of(fake_ollama, "/api/ps") == 3
    fake_ollama.status = 500  # a failed request drops the connection: the next one connects again
    fake_ollama.not_found.add("/api/ps")
    assert probe.read().up is False and fake_ollama.connections == 2  # /api/ps, then /api/tags on a new one
    fake_ollama.status = 200
    fake_ollama.not_found.clear()
    assert probe.read().up is True and fake_ollama.connections == 3
    assert probe.read().up is True and fake_ollama.connections == 3
    probe.close()
    assert probe.read().up is True and fake_ollama.connections == 4


def test_a_kept_connection_the_server_closed_is_replaced_for_the_same_read():
    """The server drops the idle connection without saying so (an idle timeout, a restart): the next read's
    first request fails on it and is made again on a new connection."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = {"/api/tags": {"models": [{"name": MODEL}]}, "/api/version": {"version": "0.12.0"},
               "/api/ps": {"models": [ps_entry(MODEL)]}}
    connections = []

    class DropsAfterPs(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive answers, but the connection is closed after /api/ps

        def do_GET(self):
            body = json.dumps(answers[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = self.path == "/api/ps"

        def setup(self):
            connections.append(1)
            super().setup()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), DropsAfterPs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = OllamaProbe(f"http://127.0.0.1:{server.server_address[1]}", MODEL, 2.0)
        first = probe.read()
        time.sleep(0.05)  # the server's close has reached the client
        second = probe.read()
    finally:
        server.shutdown()
        server.server_close()
    assert first.up is True and second.up is True and second.error is None and second.model_loaded is True
    assert len(connections) == 2


def test_tags_are_read_every_tags_seconds_while_ps_answers_the_same(fake_ollama):
    fake_ollama.load(MODEL)
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0, tags_seconds=0.5)
    for _ in range(4):
        health = probe.read()
        assert health.up is True and health.is_available is True and health.error is None
        assert health.models == [MODEL, "llama3:8b"] and health.model_loaded is True and health.latency_ms > 0
    assert requests_of(fake_ollama, "/api/tags") == 1 and requests_of(fake_ollama, "/api/ps") == 4
    fake_ollama.models = ["llama3:8b"]  # the model is removed (ollama rm): seen within tags_seconds
    time.sleep(0.5)
    health = probe.read()
    assert health.is_available is False and health.error == f"model {MODEL} is not listed by Ollama"
    assert requests_of(fake_ollama, "/api/tags") == 2
    probe.read()  # while not listed, /api/tags is read every time: listing it again is seen at once
    fake_ollama.models = [MODEL]
    assert probe.read().is_available is True and requests_of(fake_ollama, "/api/tags") == 4


def test_tags_are_read_at_once_when_the_loaded_models_change_or_ps_fails(fake_ollama, caplog):
    probe = OllamaProbe(fake_ollama.url, MODEL, 2.0)
    probe.read()
    probe.read()
    assert requests_of(fake_ollama, "/api/tags") == 1
    fake_ollama.load(MODEL)  # a model loaded (perhaps just pulled): the list is read again
    health = probe.read()
    assert health.model_loaded is True and requests_of(fake_ollama, "/api/tags") == 2
    fake_ollama.raw["/api/ps"] = b"<html>busy</html>"  # /api/ps cannot say: /api/tags says up
    health = probe.read()
    assert health.up is True and health.model_loaded is None and requests_of(fake_ollama, "/api/tags") == 3
    assert len(warnings(caplog)) == 1 and "/api/ps" in warnings(caplog)[0]
    fake_ollama.status = 500  # and down when it fails too
    fake_ollama.raw["/api/ps"] = b"also not json"
    assert probe.read().up is False
    del fake_ollama.raw["/api/ps"]
    fake_ollama.status = 200
    assert probe.read().up is True and requests_of(fake_ollama, "/api/tags") == 5


def test_ollama_stopped_is_down_at_the_next_read():
    """Between two /api/tags reads: the process ends (its connections close), /api/ps and /api/tags fail."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = {"/api/tags": {"models": [{"name": MODEL}]}, "/api/version": {"version": "0.12.0"},
               "/api/ps": {"models": []}}
    open_sockets = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            open_sockets.append(self.request)
            super().setup()

        def do_GET(self):
            body = json.dumps(answers[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda request, address: None  # the connections reset below are expected
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = OllamaProbe(f"http://127.0.0.1:{server.server_address[1]}", MODEL, 2.0)
    assert probe.read().up is True and probe.read().up is True
    server.shutdown()
    server.server_close()
    for sock in open_sockets:  # as the kernel does when the process ends
        sock.shutdown(socket.SHUT_RDWR)
    health = probe.read()
    assert health.up is False and health.is_available is False and "refused" in health.error
