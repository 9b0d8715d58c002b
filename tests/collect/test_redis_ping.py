"""The Redis probe's PING without redis-py (reporter.collect.redis_ping) and the Redis URL reading it shares with
the settings check (reporter.base.redis_url), against the real Redis and redis-py's own parser."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis
from redis.connection import parse_url

from reporter.base.redis_url import parse_redis_url
from reporter.collect.redis_ping import RedisPing, RedisPingError
from reporter.collect.services import RedisProbe
from tests.conftest import unavailable


def test_ping_up_refused_and_silent(redis_url, refused_port, silent_server):
    assert RedisPing(redis_url, 1.0).ping() is True
    assert RedisProbe(RedisPing(redis_url, 1.0)).read().up is True
    down = RedisProbe(RedisPing(f"redis://:hunter2-pw@127.0.0.1:{refused_port}/0", 1.0)).read()
    assert down.up is False and "refused" in down.error and "hunter2-pw" not in down.error
    started = time.monotonic()
    silent = RedisProbe(RedisPing(f"redis://127.0.0.1:{silent_server.port}/0", 0.5)).read()
    assert silent.up is False and "imeout" in silent.error
    assert time.monotonic() - started < 1.5


def test_a_wrong_password_is_redis_own_error(redis_url):
    client = redis.Redis.from_url(redis_url)
    if client.config_get("requirepass").get("requirepass"):
        unavailable("this test needs a Redis without a password (requirepass set)")
    with pytest.raises(RedisPingError, match="AUTH"):
        RedisPing(redis_url.replace("redis://", "redis://:not-the-pw@"), 1.0).ping()


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "redis://:pw@r:6380/2", "redis://user:p%40ss@r/0", "rediss://r:6390",
    "unix:///run/redis.sock?db=1", "redis://r/0?socket_timeout=1.5", "redis://r/abc",
])
def test_urls_read_as_redis_py_reads_them(url):
    address, theirs = parse_redis_url(url), parse_url(url)
    assert address.password == theirs.get("password") and address.username == theirs.get("username")
    if address.path is not None:
        assert address.path == theirs["path"]
    else:
        assert (address.host, address.port) == (theirs.get("host", "localhost"), theirs.get("port", 6379))


@pytest.mark.parametrize("url", ["redis://r:port/0", "redis://r/0?db=x", "redis://r/?socket_timeout=soon",
                                 "http://r/0", "redis://r:70000/0"])
def test_bad_urls_refused_as_redis_py_refuses_them(url):
    with pytest.raises(ValueError):
        parse_url(url)
    with pytest.raises(ValueError):
        parse_redis_url(url)


def test_settings_and_the_redis_probe_do_not_load_redis_py():
    code = ("import sys; from reporter.settings import load_settings; from reporter.collect.defaults import "
            "default_collectors; [c.collect(None) for c in default_collectors(load_settings(None)) "
            "if c.name == 'redis']; print('redis' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "REPORTER_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def _kept_address(ping: RedisPing) -> str:
    host, port = ping._kept[0].getsockname()[:2]
    return f"{host}:{port}"


def test_the_connection_is_kept_between_pings_and_replaced_when_redis_closed_it(redis_url):
    client = redis.Redis.from_url(redis_url)
    ping = RedisPing(redis_url, 1.0)
    try:
        assert ping.ping() is True
        first = _kept_address(ping)
        for _ in range(3):
            assert ping.ping() is True
        assert _kept_address(ping) == first
        assert first in {c["addr"] for c in client.client_list()}
        assert client.client_kill_filter(_id=None, addr=first) == 1  # as a restart or an idle timeout would
        assert RedisProbe(ping).read().up is True  # the same ping, on a new connection
        assert _kept_address(ping) != first
    finally:
        ping.close()
        client.close()
    assert ping._kept is None


def test_a_new_connection_after_reconnect_seconds(redis_url):
    ping = RedisPing(redis_url, 1.0, reconnect_seconds=0.0)
    try:
        ping.ping()
        first = _kept_address(ping)
        ping.ping()
        assert _kept_address(ping) != first
    finally:
        ping.close()
