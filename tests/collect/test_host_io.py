"""Host metrics as Glances/node_exporter show them: swap, processes, network and disk byte rates (resets handled)."""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import psutil
import pytest

from reporter.collect.rates import CounterRate, HostIO
from reporter.collect.system import SystemCollector


def test_counter_rate_over_a_real_sequence_with_resets():
    rate = CounterRate()
    readings = [
        (100.0, {"eth0": 1_000}, None),                        # first reading: nothing to compare with
        (102.0, {"eth0": 3_000}, 1_000.0),                     # 2,000 bytes in 2 s
        (104.0, {"eth0": 500}, None),                          # went down: a reset, never negative
        (106.0, {"eth0": 1_500}, 500.0),                       # counting again from the reset value
        (108.0, {"eth0": 2_000, "eth1": 10**12}, None),        # an interface appeared: its total is no rate
        (110.0, {"eth0": 2_500, "eth1": 10**12 + 1_500}, 1_000.0),
        (112.0, {"eth0": 3_000}, None),                        # an interface disappeared: the sum went down
        (114.0, None, None),                                   # unreadable
        (116.0, {"eth0": 4_000}, None),                        # after an unreadable one: a new start
        (116.0, {"eth0": 4_100}, None),                        # no time passed
        (117.0, {"eth0": 4_100}, 0.0),
        (118.0, {}, None),                                     # nothing to count
    ]
    got = [rate.update(counters, at) for at, counters, _ in readings]
    assert got == [want for *_, want in readings]


def nic(received: int, sent: int) -> SimpleNamespace:
    return SimpleNamespace(bytes_recv=received, bytes_sent=sent)


def test_host_io_sums_non_loopback_interfaces_and_reports_missing_disk_counters_once(caplog):
    clock = iter([10.0, 12.0, 14.0, 16.0])
    nets = iter([
        {"lo": nic(0, 0), "eth0": nic(1_000, 100), "wlan-test": nic(0, 0)},
        {"lo": nic(10**9, 10**9), "eth0": nic(3_000, 500), "wlan-test": nic(2_000, 300)},  # lo is not counted
        {"lo": nic(10**9, 10**9), "eth0": nic(100, 50), "wlan-test": nic(2_000, 300)},     # eth0 reset
        {"lo": nic(10**9, 10**9), "eth0": nic(300, 150), "wlan-test": nic(2_200, 400)},
    ])
    io = HostIO(net_counters=lambda: next(nets), disk_counters=lambda: None, clock=lambda: next(clock))
    with caplog.at_level(logging.WARNING, logger="reporter.collect.rates"):
        samples = [io.read() for _ in range(4)]
    assert [s.network_receive for s in samples] == [None, 2_000.0, None, 200.0]
    assert [s.network_transmit for s in samples] == [None, 350.0, None, 100.0]
    assert all(s.disk_read is None and s.disk_write is None for s in samples)  # a container: no disk counters
    assert [s.error for s in samples] == ["disk counters: psutil has no counters here", None, None, None]
    assert len([r for r in caplog.records if "disk counters unreadable" in r.getMessage()]) == 1


def test_host_io_recovers_after_a_failing_source():
    disk = sorted(os.listdir("/sys/block"))[0] if os.path.isdir("/sys/block") else "sda"  # a whole disk here
    calls = iter([OSError("no /proc/diskstats"), {disk: SimpleNamespace(read_bytes=0, write_bytes=0)},
                  {disk: SimpleNamespace(read_bytes=4_096, write_bytes=8_192),
                   f"{disk}-partition-test": SimpleNamespace(read_bytes=10**12, write_bytes=10**12)}])

    def disks():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    clock = iter([0.0, 1.0, 2.0])
    io = HostIO(net_counters=lambda: {}, disk_counters=disks, clock=lambda: next(clock))
    first, second, third = io.read(), io.read(), io.read()
    assert "disk counters: OSError: no /proc/diskstats" in first.error
    assert (second.disk_read, third.disk_read, third.disk_write) == (None, 4_096.0, 8_192.0)


def test_system_section_host_metrics_match_psutil():
    collector = SystemCollector()
    first = collector.read()
    time.sleep(0.3)
    section = collector.read()
    assert first.network_receive_bytes_per_second is None  # the first sample has nothing to compare with
    assert section.swap_percent == pytest.approx(psutil.swap_memory().percent, abs=2.0)
    assert section.process_count == pytest.approx(len(psutil.pids()), abs=30)
    assert section.process_count > 1
    for name in ("network_receive_bytes_per_second", "network_transmit_bytes_per_second"):
        value = getattr(section, name)
        assert value is not None and 0 <= value < 10 * 2**30, name  # this host has /proc/net/dev
    if psutil.disk_io_counters() is not None:
        assert section.disk_read_bytes_per_second is not None and section.disk_read_bytes_per_second >= 0
        assert section.disk_write_bytes_per_second is not None and section.disk_write_bytes_per_second >= 0
