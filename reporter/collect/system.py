"""Host metrics from psutil: CPU, memory, swap, disk, uptime, load average, processes, network and disk IO rates."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

import psutil

from reporter.collect.collector import Collector, Section
from reporter.collect.rates import HostIO
from reporter.snapshot import SystemSection

GIB = 2**30
MIN_CPU_WINDOW_SECONDS = 0.2


def swap_percent() -> float:
    """Swap in use, percent of the swap space (0.0 without swap), 1 decimal: psutil's ``swap_memory().percent``
    from ``SwapTotal`` and ``SwapFree`` of ``/proc/meminfo`` alone (psutil also reads ``/proc/vmstat`` for the
    swap-in/out counters, which are not used: twice the CPU). Where the file lacks them (not Linux), psutil's.
    ``OSError`` when it cannot be read."""
    total = free = None
    try:
        with open(f"{psutil.PROCFS_PATH}/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"SwapTotal:"):
                    total = int(line.split()[1])
                elif line.startswith(b"SwapFree:"):
                    free = int(line.split()[1])
                if total is not None and free is not None:
                    return round((total - free) / total * 100, 1) if total else 0.0
    except FileNotFoundError:
        pass
    return psutil.swap_memory().percent


def uptime_seconds() -> float:
    """Seconds since boot, 0.1 s: ``CLOCK_BOOTTIME`` (Linux: the first figure of ``/proc/uptime``, no file read),
    else now minus psutil's boot time."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return round(time.clock_gettime(boottime), 1)
    return round(time.time() - psutil.boot_time(), 1)


def _busy_and_total(times) -> tuple[float, float]:
    """(busy, total) CPU seconds from ``psutil.cpu_times()``, counted as psutil's own ``cpu_percent`` does."""
    total = sum(times)
    # guest time is already included in user/nice on Linux
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class SystemCollector(Collector):
    """Samples the host with psutil.

    ``cpu_percent`` is the busy share of all CPUs (0-100) averaged over the time since the previous
    ``collect()``. The first call measures over at least ``MIN_CPU_WINDOW_SECONDS`` (counted from construction)
    so a run never starts with the meaningless 0.0 of a first ``psutil.cpu_percent()`` call.
    """

    name = "system"
    inline = True  # psutil reads of this host: on the sampling thread, while the other collectors wait on I/O

    def __init__(self, disk_path: str = "/", *, cpu_times=psutil.cpu_times, io: HostIO | None = None) -> None:
        self.disk_path = disk_path
        self.io = io or HostIO()
        self._cpu_times = cpu_times
        self._lock = threading.Lock()
        self._previous = _busy_and_total(cpu_times())
        self._previous_at = time.monotonic()

    def cpu_percent(self) -> float | None:
        """Busy percent (0-100) since the previous call; None when the CPU counters did not advance."""
        with self._lock:
            wait = MIN_CPU_WINDOW_SECONDS - (time.monotonic() - self._previous_at)
            if wait > 0:
                time.sleep(wait)
            busy, total = _busy_and_total(self._cpu_times())
            prev_busy, prev_total = self._previous
            self._previous, self._previous_at = (busy, total), time.monotonic()
        d_total = total - prev_total
        if d_total <= 0:
            return None
        return round(min(100.0, max(0.0, (busy - prev_busy) / d_total * 100.0)), 2)

    def collect(self, now: datetime) -> Section[SystemSection]:
        """The collector protocol: :meth:`read`, its ``error`` recorded as ``errors["system"]``."""
        return Section.of(self.read())

    def missing(self, error: str) -> SystemSection:
        return SystemSection(disk_path=self.disk_path, error=error)

    def read(self) -> SystemSection:
        """One SystemSection; a failing part leaves its fields None and names itself in ``error``."""
        section = SystemSection(disk_path=self.disk_path)
        errors = []
        section.cpu_percent = self.cpu_percent()
        mem = psutil.virtual_memory()
        section.memory_percent = mem.percent
        section.memory_used_bytes, section.memory_total_bytes = int(mem.total - mem.available), int(mem.total)
        section.memory_used_gb = round(section.memory_used_bytes / GIB, 3)
        section.memory_total_gb = round(mem.total / GIB, 3)
        try:
            disk = psutil.disk_usage(self.disk_path)
            section.disk_percent = disk.percent
            section.disk_used_bytes, section.disk_total_bytes = int(disk.used), int(disk.total)
            section.disk_used_gb = round(disk.used / GIB, 3)
            section.disk_total_gb = round(disk.total / GIB, 3)
        except OSError as exc:
            errors.append(f"disk {self.disk_path}: {exc.strerror or exc}")
        section.uptime_seconds = uptime_seconds()
        try:
            section.load_1m, section.load_5m, section.load_15m = (round(v, 2) for v in os.getloadavg())
        except OSError as exc:  # not on every platform
            errors.append(f"load average: {exc}")
        try:
            section.swap_percent = swap_percent()
        except (OSError, RuntimeError, ValueError, IndexError) as exc:  # no /proc/meminfo in some sandboxes
            errors.append(f"swap: {exc}")
        try:
            section.process_count = len(psutil.pids())
        except OSError as exc:
            errors.append(f"processes: {exc}")
        rates = self.io.read()
        section.network_receive_bytes_per_second = rates.network_receive
        section.network_transmit_bytes_per_second = rates.network_transmit
        section.disk_read_bytes_per_second = rates.disk_read
        section.disk_write_bytes_per_second = rates.disk_write
        if rates.error:
            errors.append(rates.error)
        section.error = "; ".join(errors) or None
        return section
