import logging
import time

from reporter.collect.sampler import Sampler
from reporter.settings import load_settings
from tests.appdb import create_reference_db


def make(**overrides):
    settings = load_settings(None, **overrides)
    return Sampler.from_settings(settings)


def test_everything_up(redis_url, redis_prefix, pg_schema_url, fake_ollama):
    create_reference_db(pg_schema_url)
    sampler = make(redis_url=redis_url, ai_key_prefix=redis_prefix, app_database_url=pg_schema_url,
                   ollama_url=fake_ollama.url)
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.status == "healthy", snap.errors
    assert snap.errors == {}
    assert snap.services.database.up and snap.services.redis.up and snap.services.ollama.up
    assert snap.ai.is_available is True and snap.ai.total_requests == 0
    assert snap.usage.total_users == 3 and snap.usage.collected_at == snap.timestamp
    assert snap.system.cpu_percent is not None
    body = snap.model_dump_json()
    assert '"timestamp":"' in body and body.split('"timestamp":"')[1].split('"')[0].endswith("Z")


def test_every_dependency_down_still_samples(refused_port):
    sampler = make(redis_url=f"redis://127.0.0.1:{refused_port}/0",
                   app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x",
                   ollama_url=f"http://127.0.0.1:{refused_port}", probe_timeout=1.0)
    started = time.monotonic()
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert time.monotonic() - started < 2.0
    assert snap.status == "unhealthy"
    assert not snap.services.database.up and not snap.services.redis.up and not snap.services.ollama.up
    assert snap.ai.total_requests is None and snap.ai.error
    assert snap.usage is None and "usage" in snap.errors
    assert set(snap.errors) >= {"database", "redis", "ollama", "ai", "usage"}
    assert snap.system.memory_percent is not None


def test_hung_redis_sample_completes_within_timeout_plus_one_second(silent_server, pg_schema_url, fake_ollama):
    timeout = 1.0
    sampler = make(redis_url=f"redis://127.0.0.1:{silent_server.port}/0", probe_timeout=timeout,
                   app_database_url=pg_schema_url, ollama_url=fake_ollama.url)
    try:
        for _ in range(2):  # the second sample must not pile up behind the first
            started = time.monotonic()
            snap = sampler.sample()
            assert time.monotonic() - started < timeout + 1.0
            assert snap.services.redis.up is False and snap.errors["redis"]
            assert snap.services.database.up is True
    finally:
        sampler.close()


def test_usage_is_requeried_only_every_usage_interval(redis_url, redis_prefix, pg_schema_url, fake_ollama):
    create_reference_db(pg_schema_url)
    sampler = make(redis_url=redis_url, ai_key_prefix=redis_prefix, app_database_url=pg_schema_url,
                   ollama_url=fake_ollama.url, usage_interval=3600)
    try:
        first = sampler.sample()
        second = sampler.sample()
    finally:
        sampler.close()
    assert second.usage is not None and second.usage.collected_at == first.timestamp
    assert second.timestamp > first.timestamp


def test_some_services_up_some_down_is_degraded(redis_url, redis_prefix, fake_ollama, refused_port):
    down_db = f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x"
    for ollama_url in (fake_ollama.url, f"http://127.0.0.1:{refused_port}"):  # one service down, then two
        sampler = make(redis_url=redis_url, ai_key_prefix=redis_prefix, app_database_url=down_db,
                       ollama_url=ollama_url, probe_timeout=1.0)
        try:
            snap = sampler.sample()
        finally:
            sampler.close()
        assert snap.services.redis.up and not snap.services.database.up, snap.errors
        assert snap.services.ollama.up is (ollama_url == fake_ollama.url)
        assert snap.status == "degraded", (ollama_url, snap.errors)
        assert "database" in snap.errors and "redis" not in snap.errors


def test_bad_counter_is_named_in_errors_and_redis_down_keeps_feature_keys(redis_url, redis_prefix, refused_port):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set(redis_prefix + "quiz:requests", "many")
    client.close()
    sampler = make(redis_url=redis_url, ai_key_prefix=redis_prefix)
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.ai.features["quiz"].requests is None
    assert f"{redis_prefix}quiz:requests" in snap.errors["ai"]
    down = make(redis_url=f"redis://127.0.0.1:{refused_port}/0", probe_timeout=1.0)
    try:
        snap = down.sample()
    finally:
        down.close()
    assert set(snap.ai.features) == {"grammar", "quiz", "voice", "scenario"}
    assert snap.ai.features["quiz"].requests is None


def test_hung_app_database_warns_once_per_source_not_every_sample(silent_server, redis_url, redis_prefix,
                                                                   fake_ollama, caplog):
    """A hung app database alternates "timed out" and "still running from an earlier sample": one warning
    per source when it starts failing, nothing more while it stays hung (the reminder comes after 5 minutes)."""
    caplog.set_level(logging.INFO, "reporter")
    sampler = make(app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{silent_server.port}/app",
                   redis_url=redis_url, ai_key_prefix=redis_prefix, ollama_url=fake_ollama.url,
                   probe_timeout=0.3, usage_interval=1)
    errors = set()
    try:
        for _ in range(12):
            snap = sampler.sample()
            errors.add(snap.errors["database"])
            time.sleep(0.2)
    finally:
        sampler.close()
    assert len(errors) >= 2  # the error's text changed between samples
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sorted(w.split(":")[0] for w in warnings if not w.startswith("collector ")) == ["database", "usage"], \
        warnings
    assert len([w for w in warnings if w.startswith("collector database: blocked")]) <= 1, warnings


def test_a_failing_usage_read_counts_one_failed_attempt_per_read_not_per_sample(redis_url, redis_prefix,
                                                                                pg_schema_url, caplog):
    """The usage queries fail (no app tables) and run every REPORTER_USAGE_INTERVAL; the log's "still failing
    ... (N failed attempts)" counted every sample in between (903 "attempts" in 15 min at a 1 s interval, for
    15 reads)."""
    sampler = Sampler.from_settings(load_settings(
        None, redis_url=redis_url, ai_key_prefix=redis_prefix, app_database_url=pg_schema_url, usage_interval=60,
        ollama_url="http://127.0.0.1:9", probe_timeout=1.0))
    sampler.failures.remind_seconds = 0.0  # every counted failure logs a line, with its count
    try:
        with caplog.at_level(logging.WARNING, logger="reporter.collect.sampler"):
            for _ in range(4):
                snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.usage is None and "does not exist" in snap.errors["usage"]  # still shown as failing
    usage_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("usage:")]
    assert len(usage_lines) == 1, usage_lines  # one read, one failure


def test_a_refused_source_s_log_line_names_the_setting_to_check(refused_port, caplog):
    """"ollama: ConnectionRefusedError: [Errno 111] Connection refused" says neither where nor what to change: the
    first failure's line names the setting holding the source's address (the snapshot's error is unchanged)."""
    sampler = make(redis_url=f"redis://127.0.0.1:{refused_port}/0",
                   app_database_url=f"postgresql+psycopg://u:pw@127.0.0.1:{refused_port}/x",
                   ollama_url=f"http://127.0.0.1:{refused_port}", probe_timeout=1.0)
    try:
        with caplog.at_level(logging.WARNING, logger="reporter.collect.sampler"):
            snap = sampler.sample()
    finally:
        sampler.close()
    lines = {r.getMessage().split(":", 1)[0]: r.getMessage() for r in caplog.records}
    assert lines["ollama"].endswith("; check REPORTER_OLLAMA_URL)")
    assert lines["redis"].endswith("; check REPORTER_REDIS_URL)")
    assert lines["ai"].endswith("; check REPORTER_REDIS_URL)")
    assert lines["database"].endswith("; check REPORTER_APP_DATABASE_URL)")
    assert lines["usage"].count("REPORTER_APP_DATABASE_URL") == 1  # its error names it already
    assert "REPORTER_" not in snap.errors["ollama"]
