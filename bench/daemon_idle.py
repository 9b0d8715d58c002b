"""Idle cost of the daemon: CPU % of one core and RSS of ``reporter run`` at a 10 s sample interval.

Starts ``reporter run`` as a subprocess in a temp dir (history there, a free loopback port) with every source
on loopback: the local Redis (AI counters under a unique prefix), the local PostgreSQL ``test`` database (the
reference schema in a private schema) and a fake Ollama in its own process. After a warm-up it reads the
process's CPU times (user + system, all threads) and RSS with psutil over ``--seconds``; nothing polls HTTP.
Both figures are medians: RSS read every second, CPU over windows of one sample interval (``--interval``).
Targets (issue 9): idle CPU <= 0.2 % of a core, RSS <= 75 MB (92 MB before the daemon stopped keeping Alembic
and the asyncio Redis client resident).

``--role agent`` (issue 10): an agent node (REPORTER_ROLE=agent) writing a fleet history in a fresh schema of the
local PostgreSQL (``test`` database) under its own host name; it never leads, so the alerting, notification and
report code never loads. Target: RSS <= 60 MB (Glances holds 74 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import urllib.request

import _support as s
import psutil

TARGET_CPU_PERCENT = 0.2
TARGET_RSS_MB = 75.0
TARGET_AGENT_RSS_MB = 60.0
MB = 1024 * 1024


def measure(pid: int, seconds: float, window: float) -> dict:
    """RSS every second and CPU (user + system, all threads) per ``window`` seconds over ``seconds``; medians
    and totals, with a per-thread split of the CPU seconds."""
    proc = psutil.Process(pid)
    rss: list[int] = []
    windows: list[float] = []
    threads0 = {t.id: t.user_time + t.system_time for t in proc.threads()}
    t0, c0 = time.monotonic(), proc.cpu_times()
    w_start, w_cpu = t0, c0.user + c0.system
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        rss.append(proc.memory_info().rss)
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        now = time.monotonic()
        if now - w_start >= window - 0.05 or now >= deadline:
            times = proc.cpu_times()
            windows.append((times.user + times.system - w_cpu) / (now - w_start) * 100.0)
            w_start, w_cpu = now, times.user + times.system
    t1, c1 = time.monotonic(), proc.cpu_times()
    per_thread = {t.id: t.user_time + t.system_time - threads0.get(t.id, 0.0) for t in proc.threads()}
    main_thread = per_thread.pop(pid, 0.0)
    others = sorted(per_thread.values(), reverse=True)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    full = proc.memory_full_info()
    return {"elapsed": t1 - t0, "cpu_seconds": cpu, "cpu_percent": cpu / (t1 - t0) * 100.0,
            "cpu_median": s.median(windows), "windows": len(windows),
            "rss_median": s.median(rss), "rss_max": max(rss), "rss_end": full.rss, "uss_end": full.uss,
            "threads": proc.num_threads(), "main_thread": main_thread,
            "busiest_other": others[0] if others else 0.0, "rest": sum(others[1:])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=f"Targets: <= {TARGET_CPU_PERCENT:g} % of a core, "
                                            f"RSS <= {TARGET_RSS_MB:g} MB (an agent: <= {TARGET_AGENT_RSS_MB:g} MB).")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="seconds after the first snapshot before measuring (default 15)")
    parser.add_argument("--interval", type=float, default=10.0, help="REPORTER_SAMPLE_INTERVAL (default 10)")
    parser.add_argument("--role", choices=("node", "agent"), default="node",
                        help="node: a single host on SQLite (default); agent: an agent node of a fleet on the "
                             "local PostgreSQL (RSS target 60 MB)")
    args = parser.parse_args()
    target_rss = TARGET_AGENT_RSS_MB if args.role == "agent" else TARGET_RSS_MB

    with contextlib.ExitStack() as stack:
        workdir, env = stack.enter_context(s.tempdir()), dict(stack.enter_context(s.loopback_env()))
        if args.role == "agent":
            env.update(REPORTER_ROLE="agent", REPORTER_HOST_NAME="bench-agent",
                       REPORTER_HISTORY_URL=stack.enter_context(s.fleet_history()))
        d = stack.enter_context(s.daemon(workdir, env, args.interval))
        time.sleep(args.warmup)
        if d.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited:\n{d.log_tail()}")
        result = measure(d.proc.pid, args.seconds, args.interval)
        with urllib.request.urlopen(f"{d.base}/snapshot", timeout=5) as response:
            snap = json.load(response)
    print(f"reporter run ({'agent of a fleet on PostgreSQL' if args.role == 'agent' else 'single host on SQLite'}), "
          f"{args.interval:g} s interval, idle (no HTTP clients), measured {result['elapsed']:.0f} s "
          f"after {args.warmup:g} s warm-up; last snapshot status={snap['status']} errors={snap['errors'] or '{}'}\n")
    cpu_ok = result["cpu_median"] <= TARGET_CPU_PERCENT
    rss_ok = result["rss_median"] / MB <= target_rss
    rows = [
        (f"idle CPU, % of one core (median of {result['windows']} windows)", f"{result['cpu_median']:.3f}",
         f"<= {TARGET_CPU_PERCENT:g}", s.verdict(cpu_ok)),
        ("  mean over the whole window", f"{result['cpu_percent']:.3f}", "", ""),
        ("CPU seconds in window", f"{result['cpu_seconds']:.3f}", "", ""),
        ("  main thread (HTTP server event loop)", f"{result['main_thread']:.2f}", "", ""),
        ("  busiest other thread", f"{result['busiest_other']:.2f}", "", ""),
        ("  all other threads", f"{result['rest']:.2f}", "", ""),
        ("RSS, MB (median, read every second)", f"{result['rss_median'] / MB:.1f}", f"<= {target_rss:g}",
         s.verdict(rss_ok)),
        ("  RSS max, MB", f"{result['rss_max'] / MB:.1f}", "", ""),
        ("  RSS at end, MB", f"{result['rss_end'] / MB:.1f}", "", ""),
        ("  USS at end, MB", f"{result['uss_end'] / MB:.1f}", "", ""),
        ("threads", str(result["threads"]), "", ""),
    ]
    print(s.table(rows, ("figure", "value", "target", "")))
    print("\n(per-thread CPU comes from the kernel in 10 ms clock ticks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
