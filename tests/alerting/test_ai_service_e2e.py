"""The model rules end to end: the real Ollama probe reading the fake Ollama's ``/api/ps`` (tests/fake_ollama.py),
each snapshot stored in a real history and evaluated on an injected clock."""

from __future__ import annotations

from reporter.alerting.model import AlertState
from reporter.collect.services import OllamaProbe
from reporter.snapshot import ServiceHealth, Services
from tests.alerting.test_evaluator import evaluator
from tests.fake_ollama import GIB
from tests.snapshots import FEATURES, at, snapshot

MODEL = "mistral:7b"


class Host:
    """A host sampling the fake Ollama: each :meth:`sample` reads the probe, stores and evaluates a snapshot."""

    def __init__(self, history, fake, **defaults) -> None:
        self.history, self.fake = history, fake
        self.probe = OllamaProbe(fake.url, MODEL, 2.0)
        self.ev = evaluator(history, **defaults)

    def sample(self, t: float) -> list[tuple[str, str]]:
        health = self.probe.read()
        snap = snapshot(t, services=Services(database=ServiceHealth(up=True), redis=ServiceHealth(up=True),
                                             ollama=health))
        self.history.write(snap)
        return [(r.alertname, "firing" if r.state == AlertState.FIRING else "resolved")
                for r in self.ev.evaluate(snap) if r.state != AlertState.PENDING]


def test_cpu_fallback_fires_after_five_minutes_and_resolves_back_on_the_gpu(history, fake_ollama):
    host = Host(history, fake_ollama, no_data_for="1m")
    fake_ollama.load(MODEL, size=5 * GIB, size_vram=3 * GIB)  # 40 % outside GPU memory
    assert [e for t in range(0, 300, 10) for e in host.sample(t)] == []
    assert host.sample(300) == [("model_cpu_fallback", "firing")]
    [alert] = [r for r in host.ev.active() if r.alertname == "model_cpu_fallback"]
    assert alert.value == 0.4
    fake_ollama.load(MODEL, size=5 * GIB, size_vram=5 * GIB)
    assert host.sample(310) == [("model_cpu_fallback", "resolved")]
    fake_ollama.unload(MODEL)  # not loaded: no alert and no no_data, however long
    assert [e for t in range(320, 1200, 10) for e in host.sample(t)] == []


def test_four_reloads_in_an_hour_fire_model_cold_loads(history, fake_ollama):
    host = Host(history, fake_ollama)
    fake_ollama.load(MODEL)
    events = host.sample(0)
    for i in range(4):  # unloaded (keep_alive expired) and loaded again, every 10 minutes
        fake_ollama.unload(MODEL)
        events += host.sample(600 * i + 300)
        fake_ollama.load(MODEL)
        events += host.sample(600 * i + 600)
    assert events == [("model_cold_loads", "firing")]
    [alert] = [r for r in host.ev.active() if r.alertname == "model_cold_loads"]
    assert alert.value == 4 and alert.labels["host"] == history.host


def test_a_throughput_drop_counted_by_the_app_fires_against_the_stored_week(history, redis_url, redis_prefix):
    import redis

    from reporter.ai_usage import record
    from reporter.collect.ai import AICollector
    from tests.alerting.test_throughput_drop import NOW, WEEK_AT_40, store_hours

    store_hours(history, WEEK_AT_40)  # a week at 40 tokens/s
    client = redis.Redis.from_url(redis_url)
    collector = AICollector(client, redis_prefix, FEATURES)
    ev = evaluator(history)

    def sample(t: float, tokens: int) -> list[str]:
        record("grammar", 5.0, True, client=client, prefix=redis_prefix, completion_tokens=tokens,
               generation_ns=5 * 10**9)  # one request a sample, 5 s of generation
        section = collector.collect(at(t))
        assert section.value is not None, section.error
        snap = snapshot(t, ai=section.value)
        history.write(snap)
        ev.evaluate(snap)
        return [r.alertname for r in ev.active() if r.rule == "ai_throughput_drop"]

    try:
        assert [a for t in range(NOW - 600, NOW - 300, 10) for a in sample(t, 200)] == []  # 40 tokens/s
        fired = [(t, sample(t, 75)) for t in range(NOW - 300, NOW + 10, 10)]  # 15 tokens/s
        assert fired[-1][1] == ["ai_throughput_drop"]
        [alert] = [r for r in ev.active() if r.rule == "ai_throughput_drop"]
        assert alert.value == 15 and "median of 40 tokens/s" in alert.annotations["description"]
    finally:
        client.close()
