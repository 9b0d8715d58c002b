"""Run-time failures of notification templates: counted by template (``reporter_template_errors_total`` in
``/metrics``) and logged at most once per template and error every ``LOG_EVERY`` seconds.

Apart from ``reporter.notify.templates`` so that reading the counts (every ``/metrics`` scrape on the leader)
never loads Jinja2 in a daemon that has no templates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

log = logging.getLogger("reporter.notify.templates")

LOG_EVERY = 300.0  # seconds between two warnings of the same template and error
MAX_REMEMBERED = 1000  # (template, error) pairs remembered for rate-limiting warnings

_errors: Counter[str] = Counter()  # render errors at run time by template file name, since this process started
_logged: dict[tuple[str, str], tuple[float, int]] = {}  # (template, error) -> (last warning, errors since)
_lock = threading.Lock()


def error_counts() -> dict[str, int]:
    """Render errors at run time by template file name since this process started (for ``/metrics``)."""
    with _lock:
        return dict(_errors)


def failed(name: str, error: str) -> None:
    """Count a run-time failure of template ``name`` (a file name) and log ``error`` (one line) as a warning,
    once per ``LOG_EVERY`` s for the same template and error (the next warning says how many were not logged)."""
    now = time.monotonic()
    with _lock:
        _errors[name] += 1
        last, since = _logged.get((name, error), (None, 0))
        if last is not None and now - last < LOG_EVERY:
            _logged[(name, error)] = (last, since + 1)
            return
        if len(_logged) >= MAX_REMEMBERED:  # errors carrying values: forget the quiet ones
            for key in [k for k, (at, _) in _logged.items() if now - at >= LOG_EVERY] or list(_logged):
                del _logged[key]
        _logged[(name, error)] = (now, 0)
    more = f" ({since} more since the last warning)" if since else ""
    log.warning("template %s failed, the built-in text is sent instead: %s%s", name, error, more)
