"""The metric catalog is the one source: every consumer derives from it, and a metric added there is enough."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from reporter import catalog as catalog_module
from reporter.alerting.paths import snapshot_paths
from reporter.alerting.rules import build_rules, check_paths
from reporter.api.latest import Latest
from reporter.api.prometheus import render
from reporter.catalog import Family, Metric, catalog
from reporter.report.build import build_report
from reporter.report.html import label
from reporter.report.period import Period
from reporter.snapshot import GenerationProbe
from reporter.store.export import export_csv
from reporter.store.history import History
from tests.api.helpers import serve
from tests.snapshots import FEATURES, WHEN, rich_snapshot

HOST = {"swap_percent": 12.5, "network_receive_bytes_per_second": 2048.0,
        "network_transmit_bytes_per_second": 512.0, "disk_read_bytes_per_second": 4096.0,
        "disk_write_bytes_per_second": 8192.0, "process_count": 211}


OLLAMA = {"model_loaded": True, "model_cpu_offload_ratio": 0.25, "model_size_bytes": 5_000_000_000,
          "model_vram_bytes": 3_750_000_000, "model_loads": 2}
TOKENS = {"prompt_tokens": 900, "completion_tokens": 4000, "generation_seconds": 80.0, "cold_loads": 1}


def full_snapshot(when=WHEN):
    """The API tests' rich snapshot with the host metrics, the model's residency, the probe and the token
    counters filled in too (every catalog metric has a value)."""
    snap = rich_snapshot(when)
    probe = GenerationProbe(at=when, time_to_first_token_seconds=0.42, tokens_per_second=38.5)
    ollama = snap.services.ollama.model_copy(update={**OLLAMA, "probe": probe})
    features = {f: stats.model_copy(update=TOKENS) for f, stats in snap.ai.features.items()}
    return snap.model_copy(update={"system": snap.system.model_copy(update=HOST),
                                   "services": snap.services.model_copy(update={"ollama": ollama}),
                                   "ai": snap.ai.model_copy(update={"features": features}),
                                   "usage": snap.usage.model_copy(update={"collected_at": when})})


def exposed(snapshot) -> dict[str, set[tuple]]:
    """/metrics as family name -> {label tuples of its samples}."""
    text_ = render(snapshot).decode()
    return {f.name: {tuple(sorted(s.labels.items())) for s in f.samples} for f in text_string_to_metric_families(text_)}


def consumers(history: History, snapshot) -> dict[str, set[str]]:
    """What each consumer knows, by history name: the history columns, /metrics, the history API's metric list
    (its OpenAPI enum and its answer), the export header and the paths a rule may read."""
    families = exposed(snapshot)
    metrics = catalog(history.features)
    out = io.StringIO()
    export_csv(history, out, WHEN - timedelta(hours=1), WHEN + timedelta(hours=1))
    with serve(Latest(), history=history) as (_, base):
        enum = next(p for p in httpx.get(base + "/openapi.json").json()["paths"]["/api/v1/history"]["get"]
                    ["parameters"] if p["name"] == "metric")["schema"]["enum"]
        answered = {name for name in metrics
                    if httpx.get(base + "/api/v1/history", params={"metric": name}).status_code == 200}
    paths = set(snapshot_paths(history.features))
    return {
        "history": set(history.metrics),
        "prometheus": {m.name for m in metrics.values() if m.family and m.family.name in families
                       and tuple(sorted((k, v) for k, v in zip([n for n, _ in m.family.labels],
                                                               m.family.label_values(snapshot), strict=True)))
                       in families[m.family.name]},
        "history api": set(enum) & answered,
        "export": set(out.getvalue().splitlines()[0].split(",")[1:]),
        "rule paths": {m.name for m in metrics.values() if m.path in paths},
    }


def test_every_catalog_metric_reaches_every_consumer(history):
    snapshot = full_snapshot()
    history.write(snapshot)
    metrics = catalog(history.features)
    known = consumers(history, snapshot)
    assert known["history"] == known["history api"] == known["export"] == set(metrics)
    assert known["prometheus"] == {m.name for m in metrics.values() if m.family}
    assert known["rule paths"] == {m.name for m in metrics.values() if m.section in ("system", "services", "ai",
                                                                                       "usage")}
    for name, value in HOST.items():  # the new host metrics, stored and read back through the catalog
        assert history.series(name, WHEN, WHEN + timedelta(seconds=1)) == [(round(WHEN.timestamp() * 1000),
                                                                             value)]


def test_a_metric_added_to_the_catalog_alone_reaches_every_consumer(tmp_path, monkeypatch):
    """One Metric plus its column (what its migration adds) and nothing else: stored, exposed, listed,
    exported, readable by rules, and in the report's system table."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    History(url, FEATURES).close()
    history = History(url, FEATURES)
    with history.engine.begin() as conn:  # what the metric's migration would do
        conn.execute(text("ALTER TABLE samples ADD COLUMN memory_used_exact_percent BIGINT"))
    history.close()
    extra = Metric("system.memory_used_gb", "memory_used_exact_percent", "percent", 100,
                   "memory in use (GiB figures, as percent for the test)",
                   Family("reporter_test_memory_used", "test family"), report="Exact memory",
                   stored=lambda s: s.system.memory_used_gb / s.system.memory_total_gb * 100)
    monkeypatch.setattr(catalog_module, "FIXED", (*catalog_module.FIXED, extra))
    history = History(url, FEATURES)
    try:
        snapshot = full_snapshot()
        history.write(snapshot)
        known = consumers(history, snapshot)
        for consumer, names in known.items():
            assert "memory_used_exact_percent" in names, consumer
        assert history.series("memory_used_exact_percent", WHEN, WHEN + timedelta(seconds=1))[0][1] == \
            pytest.approx(snapshot.system.memory_used_gb / snapshot.system.memory_total_gb * 100, abs=0.01)
        report = build_report(history, Period.day(WHEN.date(), ZoneInfo("UTC")), sample_interval=10,
                              host="h", now=WHEN + timedelta(minutes=1))
        assert list(report.system) == ["cpu_percent", "memory_percent", "disk_percent", "memory_used_exact_percent"]
        assert label("memory_used_exact_percent") == "Exact memory"
    finally:
        history.close()


def test_the_report_labels_come_from_the_catalog():
    assert [label(n) for n in ("cpu_percent", "memory_percent", "disk_percent")] == ["CPU", "Memory", "Disk"]
    assert label("active_users_24h") == "Active users (24 h)"
    assert catalog_module.report_metrics("system") == {"cpu_percent": "CPU", "memory_percent": "Memory",
                                                       "disk_percent": "Disk"}


def test_prometheus_names_of_the_host_metrics():
    families = exposed(full_snapshot())
    values = {s.name: s.value for f in text_string_to_metric_families(render(full_snapshot()).decode())
              for s in f.samples}
    assert values["reporter_swap_usage_ratio"] == 0.125
    assert values["reporter_network_receive_bytes_per_second"] == 2048.0
    assert values["reporter_network_transmit_bytes_per_second"] == 512.0
    assert values["reporter_disk_read_bytes_per_second"] == 4096.0
    assert values["reporter_disk_write_bytes_per_second"] == 8192.0
    assert values["reporter_processes"] == 211.0
    assert "reporter_swap_usage_ratio" not in exposed(rich_snapshot())  # null: left out, never NaN
    assert families["reporter_service_up"] == {(("service", s),) for s in ("database", "redis", "ollama")}


def test_a_rule_on_swap_percent_is_accepted_and_fires(history):
    from reporter.alerting.config import Defaults
    from reporter.alerting.evaluator import Evaluator
    from reporter.alerting.model import AlertState
    from reporter.alerting.state import AlertStore
    from tests.snapshots import FEATURES as RULE_FEATURES
    from tests.snapshots import snapshot

    rules = build_rules({"swap_high": {"metric": "system.swap_percent", "op": ">", "threshold": 80, "for": "1m",
                                       "severity": "warning", "summary": "Swap above {threshold}"}}, RULE_FEATURES)
    rule = next(r for r in rules if r.name == "swap_high")
    check_paths(rule, RULE_FEATURES)  # no ValueError: the catalog's path is a rule path
    with pytest.raises(ValueError, match=re.escape("did you mean 'system.swap_percent'")):
        check_paths(rule.model_copy(update={"metric": "system.swap_precent"}), RULE_FEATURES)
    ev = Evaluator(rules, Defaults(), AlertStore(history.engine), history, __import__("zoneinfo").ZoneInfo("UTC"),
                   RULE_FEATURES)

    def swapping(t: float, percent: float):
        snap = snapshot(t)
        return snap.model_copy(update={"system": snap.system.model_copy(update={"swap_percent": percent})})

    fired = []
    for t in range(0, 80, 10):
        fired += [(t, r.alertname) for r in ev.evaluate(swapping(t, 91.0)) if r.state == AlertState.FIRING]
    assert fired[0] == (60, "swap_high")
    assert json.loads(swapping(0, 91.0).model_dump_json())["system"]["swap_percent"] == 91.0


def metric_table() -> str:
    """The README's metric table as the catalog gives it (one row per metric; per-feature rows with
    ``{feature}``)."""
    rows = ["| column | snapshot path | unit | scale | `/metrics` |", "| --- | --- | --- | --- | --- |"]
    for m in (*catalog_module.FIXED, *catalog_module.feature_metrics("{feature}")):
        family = "-"
        if m.family is not None:
            labels = ",".join(k if not isinstance(v, str) or v == "{feature}" else f'{k}="{v}"'
                              for k, v in m.family.labels)
            family = f"`{m.family.name}{'_total' if m.family.type == 'counter' else ''}" \
                     f"{'{' + labels + '}' if labels else ''}`"
        rows.append(f"| `{m.name}` | `{m.path}` | {m.unit} | {m.scale} | {family} |")
    return "\n".join(rows)


def test_the_readme_metric_table_is_the_catalog():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert metric_table() in readme
    for m in catalog_module.FIXED:  # and the snapshot excerpt shows the host metrics
        if m.section == "system" and m.name in HOST:
            assert f'"{m.name}": ' in readme
