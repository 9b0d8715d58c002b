"""A rendering child dies with its parent: a SIGKILLed daemon leaves no renderer running on as an orphan.

Two guards, both needed: the parent starts the child with :func:`die_with_parent` as ``preexec_fn`` (Linux:
``prctl(PR_SET_PDEATHSIG, SIGKILL)``, set between fork and exec, so it holds from the child's first instruction
and through an exec); the render child (:mod:`reporter.report.render_child`) calls :func:`watch_parent` first
thing, which checks that its parent is still the one that started it (named in ``_REPORTER_PARENT_PID``: a
parent that died before the child started is caught) and polls ``os.getppid()`` every second where ``prctl`` is
missing (macOS)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

PARENT_ENV = "_REPORTER_PARENT_PID"  # not REPORTER_*: it is no setting
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0

try:  # resolved here, not in the forked child (which must not load libraries or take locks)
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    _prctl: Callable[..., int] | None = prctl
except (OSError, AttributeError, ImportError):
    _prctl = None


def die_with_parent() -> None:
    """``preexec_fn`` for a child process: the kernel sends it SIGKILL when the thread that started it dies
    (Linux; no-op elsewhere). Does nothing but one system call (safe between fork and exec)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def child_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) plus this process's pid as the child's expected parent."""
    return {**(os.environ if environ is None else environ), PARENT_ENV: str(os.getpid())}


def watch_parent() -> None:
    """In a child started with :func:`child_env`: exit at once if the parent is already gone, then exit as soon
    as it goes (SIGKILL from the kernel on Linux, else a poll of ``os.getppid()`` every second). No-op in a
    process started otherwise."""
    expected = os.environ.pop(PARENT_ENV, "")
    if not expected.isdigit():
        return
    parent = int(expected)
    die_with_parent()  # again, in case the parent's preexec_fn could not
    if os.getppid() != parent:
        os._exit(1)

    def poll() -> None:
        while True:
            threading.Event().wait(POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=poll, name="parent-watch", daemon=True).start()
