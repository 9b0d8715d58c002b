"""``GET /metrics``: sizes in exact whole bytes (item 21), read from a real psutil sample over a real socket."""

from __future__ import annotations

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from reporter.collect.system import SystemCollector
from reporter.snapshot import SystemSection
from tests.api.helpers import serve
from tests.snapshots import rich_snapshot

BYTES = ("reporter_memory_used_bytes", "reporter_memory_total_bytes", "reporter_disk_used_bytes",
         "reporter_disk_total_bytes")


def scrape(section: SystemSection) -> tuple[str, dict[str, float]]:
    with serve() as (latest, base):
        latest.publish(rich_snapshot().model_copy(update={"system": section}))
        text = httpx.get(base + "/metrics").text
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name in BYTES}
    return text, values


def test_byte_values_are_psutils_exact_integers(tmp_path):
    section = SystemCollector(str(tmp_path)).read()
    memory, disk = psutil.virtual_memory(), psutil.disk_usage(str(tmp_path))
    _text, values = scrape(section)
    assert set(values) == set(BYTES)
    for name, value in values.items():
        assert value == int(value), f"{name} {value} is not a whole number of bytes"
    assert values["reporter_memory_total_bytes"] == memory.total == section.memory_total_bytes
    assert values["reporter_disk_total_bytes"] == disk.total == section.disk_total_bytes
    assert values["reporter_memory_used_bytes"] == section.memory_used_bytes
    assert values["reporter_disk_used_bytes"] == section.disk_used_bytes
    # the exact counts are psutil's figures of the same moment (memory in use moves a little between reads)
    assert abs(section.memory_used_bytes - (memory.total - memory.available)) < 256 * 2**20
    assert abs(section.disk_used_bytes - disk.used) < 256 * 2**20
    # the GiB fields of the snapshot stay (seed shape), rounded from the same exact counts
    assert section.memory_total_gb == round(memory.total / 2**30, 3)


def test_a_snapshot_with_only_gib_figures_still_gives_whole_bytes():
    section = SystemSection(memory_used_gb=9.3, memory_total_gb=23.541, disk_path="/", disk_used_gb=13.2,
                            disk_total_gb=250.0)
    _, values = scrape(section)
    assert values["reporter_memory_total_bytes"] == round(23.541 * 2**30)
    assert all(value == int(value) for value in values.values())
