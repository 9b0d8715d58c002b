"""Sampling on a node of a fleet: the services it probes (REPORTER_PROBES), its host name, and the app-wide
collectors (ai, usage) running only while the node samples app-wide (the leader)."""

from __future__ import annotations

import logging

import redis

from reporter.api import prometheus, views
from reporter.collect.sampler import Sampler
from reporter.settings import load_settings
from reporter.snapshot import NOT_PROBED, SAMPLED_BY_LEADER, Status
from tests.appdb import create_reference_db


def test_unprobed_services_are_marked_and_count_nowhere(redis_url, redis_prefix, refused_port):
    settings = load_settings(None, host_name="gpu-1", probes="redis", redis_url=redis_url,
                             ai_key_prefix=redis_prefix, app_database_url=f"postgresql+psycopg://u@127.0.0.1:"
                                                                          f"{refused_port}/x",
                             ollama_url=f"http://127.0.0.1:{refused_port}", probe_timeout=1.0)
    sampler = Sampler.from_settings(settings)
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.host == "gpu-1"
    for name in ("database", "ollama"):
        health = getattr(snap.services, name)
        assert health.up is None and health.error == NOT_PROBED and health.latency_ms is None
        assert name not in snap.errors
    assert snap.services.ollama.model == settings.ollama_model and snap.services.ollama.is_available is None
    assert snap.services.redis.up is True
    assert snap.status == Status.HEALTHY, snap.errors  # redis up; the others are not this host's to judge
    text = prometheus.render(snap).decode()
    assert 'reporter_service_up{service="redis"} 1.0' in text
    assert 'reporter_service_up{service="database"}' not in text
    assert 'reporter_service_up{service="ollama"}' not in text
    assert "reporter_ai_model_available" not in text
    assert 'reporter_collector_error{collector="database"} 0.0' in text
    assert views.health(snap)["services"] == {"database": None, "redis": True, "ollama": None}


def test_only_probed_services_decide_the_status(refused_port):
    down = f"redis://127.0.0.1:{refused_port}/0"
    sampler = Sampler.from_settings(load_settings(None, probes="redis", redis_url=down, probe_timeout=1.0))
    try:
        assert sampler.sample().status == Status.UNHEALTHY  # its one probed service is down
    finally:
        sampler.close()
    sampler = Sampler.from_settings(load_settings(None, probes="", redis_url=down, probe_timeout=1.0))
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.status == Status.HEALTHY and not {"database", "redis", "ollama"} & snap.errors.keys()


def test_app_wide_collectors_run_only_while_app_wide(redis_url, redis_prefix, pg_schema_url, fake_ollama, caplog):
    caplog.set_level(logging.INFO, "reporter")
    create_reference_db(pg_schema_url)
    client = redis.Redis.from_url(redis_url)
    client.set(redis_prefix + "total_requests", 7)
    leading = {"now": False}
    settings = load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix, app_database_url=pg_schema_url,
                             ollama_url=fake_ollama.url, usage_interval=3600)
    sampler = Sampler.from_settings(settings, app_wide=lambda: leading["now"])
    ai = sampler.collector("ai")
    try:
        follower = sampler.sample()
        assert follower.usage is None and follower.ai.error == SAMPLED_BY_LEADER
        assert follower.ai.total_requests is None and follower.ai.is_available is None
        assert set(follower.ai.features) == set(settings.ai_features)  # the JSON shape stays
        assert all(v is None for v in follower.ai.windows.values())
        assert not {"ai", "usage"} & follower.errors.keys() and follower.status == Status.HEALTHY
        assert len(ai.window) == 0  # the AI counter window is not fed
        assert sampler.sample().ai.error == SAMPLED_BY_LEADER and len(ai.window) == 0

        leading["now"] = True
        leader = sampler.sample()
        assert leader.ai.total_requests == 7 and leader.ai.error is None and leader.ai.is_available is True
        assert leader.usage is not None and leader.usage.collected_at == leader.timestamp
        assert len(ai.window) == 1

        leading["now"] = False
        assert sampler.sample().usage is None
        leading["now"] = True  # leads again: usage is read at once, not after the usage interval
        again = sampler.sample()
        assert again.usage is not None and again.usage.collected_at == again.timestamp
    finally:
        sampler.close()
        client.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("left to the leader" in m for m in messages) == 2
    assert sum("samples the app-wide figures" in m for m in messages) == 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], messages


def test_a_failing_app_wide_callable_skips_the_app_wide_collectors(redis_url, redis_prefix):
    def broken() -> bool:
        raise RuntimeError("no leadership yet")

    sampler = Sampler.from_settings(load_settings(None, redis_url=redis_url, ai_key_prefix=redis_prefix),
                                    app_wide=broken)
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.ai.error == SAMPLED_BY_LEADER and snap.usage is None
