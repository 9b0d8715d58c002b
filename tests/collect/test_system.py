import os
import time

import psutil

from reporter.collect.system import SystemCollector
from tests.conftest import unavailable


def burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_first_sample_is_a_real_average_not_zero():
    collector = SystemCollector("/")
    burn(0.3)  # keep one core busy: on a 2-core host that is ~50 %
    section = collector.read()
    floor = 100.0 / psutil.cpu_count() * 0.5
    assert section.cpu_percent is not None and section.cpu_percent >= floor


def test_first_sample_right_after_start_waits_for_a_measurable_window():
    collector = SystemCollector("/")
    started = time.monotonic()
    value = collector.cpu_percent()
    assert time.monotonic() - started >= 0.15
    assert value is not None and 0.0 <= value <= 100.0


def test_cpu_percent_from_counters_matches_busy_share():
    class Times(tuple):
        _fields = ("user", "nice", "system", "idle", "iowait")
        user = property(lambda s: s[0])
        idle = property(lambda s: s[3])
        iowait = property(lambda s: s[4])

    readings = iter([Times((0, 0, 0, 0, 0)), Times((30, 0, 10, 50, 10))])
    collector = SystemCollector("/", cpu_times=lambda: next(readings))
    collector._previous_at -= 1  # no need to wait
    assert collector.cpu_percent() == 40.0  # busy 40 of 100


def test_memory_disk_uptime_load(tmp_path):
    before = os.getloadavg()
    section = SystemCollector(str(tmp_path)).read()
    after = os.getloadavg()
    mem = psutil.virtual_memory()
    assert abs(section.memory_total_gb - mem.total / 2**30) < 0.01
    assert 0 < section.memory_percent < 100
    assert 0 < section.disk_percent < 100 and section.disk_path == str(tmp_path)
    assert abs(section.uptime_seconds - (time.time() - psutil.boot_time())) < 5
    loads = (section.load_1m, section.load_5m, section.load_15m)
    for value, low, high in zip(loads, before, after, strict=True):  # the kernel may update between the reads
        assert value is not None and min(low, high) - 0.01 <= value <= max(low, high) + 0.01, (loads, before, after)
    assert section.error is None


def test_missing_disk_path_is_an_error_not_a_crash(tmp_path):
    section = SystemCollector(str(tmp_path / "nope")).read()
    assert section.disk_percent is None
    assert "disk" in section.error
    assert section.memory_percent is not None


def test_swap_and_uptime_equal_psutils_without_its_extra_reads(monkeypatch):
    expected_swap = psutil.swap_memory().percent
    with open("/proc/uptime") as f:
        expected_uptime = float(f.read().split()[0])

    def not_read(*args):  # psutil's versions read /proc/vmstat and /proc/stat every sample
        raise AssertionError("read through psutil")

    monkeypatch.setattr(psutil, "swap_memory", not_read)
    monkeypatch.setattr(psutil, "boot_time", not_read)
    section = SystemCollector("/").read()
    assert section.error is None
    assert section.swap_percent == expected_swap
    assert expected_uptime - 0.2 <= section.uptime_seconds <= expected_uptime + 2


def test_whole_disks_are_looked_up_once_per_name():
    from reporter.collect.rates import _whole_disks

    if not os.path.isdir("/sys/block"):
        unavailable("/sys/block (Linux)")
    disks = sorted(os.listdir("/sys/block"))
    counters = {name: object() for name in [*disks, "nosuchdisk1"]}
    known: dict[str, bool] = {}
    assert _whole_disks(counters, known) == disks
    assert known == {**dict.fromkeys(disks, True), "nosuchdisk1": False}
    assert _whole_disks(counters, known) == _whole_disks(counters) == disks
