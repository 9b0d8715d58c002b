import time

import pytest

from reporter.collect.services import DatabaseProbe, OllamaProbe, RedisProbe, model_listed
from reporter.collect.sources import app_database_engine, redis_client


def test_database_up(pg_schema_url):
    health = DatabaseProbe(app_database_engine(pg_schema_url, 2.0)).read()
    assert health.up is True and health.error is None and health.latency_ms > 0


def test_database_select_one_skips_sqlalchemys_execution_and_a_killed_connection_is_replaced(pg_schema_url):
    from sqlalchemy import event, text

    engine = app_database_engine(pg_schema_url, 2.0)
    executed = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: executed.append(statement))
    try:
        probe = DatabaseProbe(engine)
        assert probe.read().up is True
        assert executed == []  # the driver's own cursor: none of SQLAlchemy's per-statement work
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
            cursor.close()
        finally:
            conn.close()
        with app_database_engine(pg_schema_url, 2.0).connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        down = probe.read()  # the pooled connection is gone: this read fails, as SQLAlchemy reports it
        assert down.up is False and down.error.startswith("OperationalError: (psycopg.")
        assert probe.read().up is True  # the dead connection was discarded, not pooled
    finally:
        engine.dispose()


def test_database_refused_masks_password(refused_port):
    url = f"postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:{refused_port}/app"
    started = time.monotonic()
    health = DatabaseProbe(app_database_engine(url, 2.0)).read()
    assert health.up is False and health.error
    assert "s3cr3t-pw" not in health.error
    assert time.monotonic() - started < 3


def test_redis_up_and_refused(redis_url, refused_port):
    assert RedisProbe(redis_client(redis_url, 2.0)).read().up is True
    down = RedisProbe(redis_client(f"redis://:hunter2-pw@127.0.0.1:{refused_port}/0", 2.0)).read()
    assert down.up is False and "hunter2-pw" not in down.error


def test_redis_that_never_answers_fails_within_timeout(silent_server):
    started = time.monotonic()
    health = RedisProbe(redis_client(f"redis://127.0.0.1:{silent_server.port}/0", 1.0)).read()
    assert health.up is False and "imeout" in health.error
    assert time.monotonic() - started < 1.5


def test_ollama_model_listed(fake_ollama):
    health = OllamaProbe(fake_ollama.url, "mistral:7b", 2.0).read()
    assert health.up is True and health.is_available is True and health.error is None
    assert "llama3:8b" in health.models


def test_ollama_up_without_the_model(fake_ollama):
    health = OllamaProbe(fake_ollama.url, "mixtral:8x7b", 2.0).read()
    assert health.up is True and health.is_available is False
    assert "mixtral:8x7b" in health.error


def test_ollama_server_error_is_down(fake_ollama):
    fake_ollama.status = 500
    health = OllamaProbe(fake_ollama.url, "mistral:7b", 2.0).read()
    assert health.up is False and health.is_available is False and "500" in health.error


def test_ollama_hung_and_refused(silent_server, refused_port):
    started = time.monotonic()
    hung = OllamaProbe(f"http://127.0.0.1:{silent_server.port}", "mistral:7b", 1.0).read()
    assert hung.up is False and time.monotonic() - started < 1.5
    refused = OllamaProbe(f"http://127.0.0.1:{refused_port}", "mistral:7b", 1.0).read()
    assert refused.up is False and refused.error


@pytest.mark.parametrize(("model", "names", "expected"), [
    ("mistral:7b", ["mistral:7b"], True),
    ("mistral", ["mistral:latest"], True),
    ("mistral:7b", ["mistral:latest"], False),
    ("mistral:7b", [], False),
    # a registry with a port: its ":" is no tag (Ollama's names are [host[:port]/][namespace/]model[:tag])
    ("registry.example.com:5000/team/mistral", ["registry.example.com:5000/team/mistral:latest"], True),
    ("registry.example.com:5000/team/mistral:latest", ["registry.example.com:5000/team/mistral"], True),
    ("registry.example.com:5000/team/mistral:7b", ["registry.example.com:5000/team/mistral:latest"], False),
])
def test_model_listed(model, names, expected):
    assert model_listed(model, names) is expected


def test_ollama_huge_answer_is_capped(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Huge(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"[" * 65536)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Huge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        health = OllamaProbe(f"http://127.0.0.1:{server.server_address[1]}", "mistral:7b", 2.0).read()
        assert health.up is False and "larger than 1024 KiB" in health.error
    finally:
        server.shutdown()
        server.server_close()


def test_the_daemons_database_probe_is_down_while_the_postmaster_hangs(pg_cluster):
    """SIGSTOP of the postmaster alone: sessions already open still answer, new ones are never accepted (what the
    application sees). The daemon's probe connects anew each time, so it reports the database down within its
    timeout and up again once the postmaster runs; the usage queries' pooled engine is not what it reads."""
    import os
    import signal

    from reporter.collect.defaults import default_collectors
    from reporter.settings import Settings

    settings = Settings(app_database_url=pg_cluster.url, probe_timeout=1.0)
    [probe] = [c for c in default_collectors(settings) if c.name == "database"]
    try:
        assert probe.read().up is True
        os.kill(pg_cluster.pid(), signal.SIGSTOP)
        try:
            started = time.monotonic()
            health = probe.read()
            assert health.up is False and health.error, health
            assert time.monotonic() - started < 3  # libpq's connect_timeout is at least 2 s (the sampler's
            # runner still bounds the sample by REPORTER_PROBE_TIMEOUT)
        finally:
            os.kill(pg_cluster.pid(), signal.SIGCONT)
        assert probe.read().up is True
    finally:
        probe.close()
