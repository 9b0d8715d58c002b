"""The collectors the daemon and ``reporter sample`` run: the one place where collectors are listed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reporter.collect.ai import AICollector
from reporter.collect.collector import Collector
from reporter.collect.redis_ping import RedisPing
from reporter.collect.services import DatabaseProbe, NotProbed, OllamaProbe, RedisProbe
from reporter.collect.sources import CLIENT_TIMEOUT_SHARE, LazyClient, app_database_engine, redis_client
from reporter.collect.system import SystemCollector
from reporter.collect.usage import UsageCollector
from reporter.settings import Settings

if TYPE_CHECKING:
    import redis
    from sqlalchemy.engine import Engine


def default_collectors(settings: Settings) -> list[Collector]:
    """One collector per snapshot place, built from ``settings``; nothing is connected yet (the app database
    engines and the Redis client of the AI counters are made on the first collection; the usage queries' engine
    pools its connections, the database probe's connects anew at each probe). The Redis probe PINGs without
    redis-py (:mod:`reporter.collect.redis_ping`), so a node that does not read the AI counters (an agent) never
    loads it.
    A service left out of ``settings.probes`` (REPORTER_PROBES) gets :class:`NotProbed` instead of its probe."""
    timeout = settings.probe_timeout
    engine: LazyClient[Engine] = LazyClient(lambda: app_database_engine(settings.app_database_url, timeout),
                                            lambda engine: engine.dispose())
    client: LazyClient[redis.Redis] = LazyClient(lambda: redis_client(settings.redis_url, timeout),
                                                 lambda client: client.close())
    # the probe connects anew each time: a server whose postmaster hangs, or that refuses new sessions (too many
    # clients), still answers on a pooled connection, while the application cannot connect
    fresh: LazyClient[Engine] = LazyClient(lambda: app_database_engine(settings.app_database_url, timeout,
                                                                       pooled=False), lambda engine: engine.dispose())
    probes: dict[str, Collector] = {
        "database": DatabaseProbe(fresh),
        "redis": RedisProbe(LazyClient.ready(RedisPing(settings.redis_url, timeout * CLIENT_TIMEOUT_SHARE),
                                             lambda ping: ping.close())),
        "ollama": OllamaProbe(settings.ollama_url, settings.ollama_model, timeout),
    }
    return [
        SystemCollector(settings.disk_path),
        *(probe if name in settings.probes else NotProbed(name, settings.ollama_model)
          for name, probe in probes.items()),
        AICollector(client, settings.ai_key_prefix, settings.ai_features, model=settings.ollama_model,
                    sample_interval=settings.sample_interval, deadline=timeout),
        UsageCollector(engine, settings.usage_queries, settings.top_n, settings.show_emails,
                       interval=settings.usage_interval),
    ]
