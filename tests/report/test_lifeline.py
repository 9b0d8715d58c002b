"""A rendering child ends with the process that started it (real processes, SIGKILL)."""

import os
import signal
import subprocess
import sys
import time

import psutil

from reporter.report.lifeline import PARENT_ENV

CHILD = "from reporter.report.lifeline import watch_parent; watch_parent(); import time; time.sleep(60)"
# A middle process that starts CHILD as the report job does, prints its pid, then waits to be killed.
MIDDLE = f"""
import subprocess, sys, time
from reporter.report.lifeline import child_env, die_with_parent
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], env=child_env(), preexec_fn=die_with_parent)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_child_dies_within_a_second_of_its_sigkilled_parent():
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(middle.stdout.readline()))
    time.sleep(0.5)  # the child is in its sleep, watching
    assert child.is_running()
    middle.send_signal(signal.SIGKILL)
    middle.wait()
    _, alive = psutil.wait_procs([child], timeout=1.5)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]  # a zombie runs nothing; init reaps it
    for process in alive:
        process.kill()
    assert alive == []


def test_child_whose_parent_is_already_gone_exits_at_once():
    """The parent died between fork and the child's first check: the child must not start rendering."""
    env = {**os.environ, PARENT_ENV: str(os.getpid() + 10_000_000)}  # not our parent
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, timeout=30)
    assert result.returncode == 1
    assert time.monotonic() - started < 10


def test_a_process_started_otherwise_is_not_watched():
    env = {k: v for k, v in os.environ.items() if k != PARENT_ENV}
    result = subprocess.run([sys.executable, "-c", CHILD.replace("time.sleep(60)", "print('ran')")], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "ran"
