"""The render child: ``python -P -m reporter.report.render_child`` renders one period's report in this process
(model, HTML, PDF with WeasyPrint, CSV) and exits. Started by :func:`reporter.report.render.render_in_child`,
never imported by the daemon.

Request on stdin, one JSON object: ``{"settings": {...Settings fields...}, "period": "2026-12-03", "kind":
"day", "out": "/abs/folder", "formats": ["html", "pdf"], "host": "web01" | null, "nice": 10, "inhibit_rules":
[{"name": ..., "source_matchers": [...], "target_matchers": [...], "equal": [...]}, ...]}`` (``inhibit_rules``
optional: the inhibition rules in force, default the built-in ones).

Answer on stdout, one JSON line: ``{"files": [path, ...], "empty": bool, "pdf_seconds": float | null,
"pdf_peak_rss_bytes": int | null, "warnings": [str, ...]}``, or ``{"error": "...", "kind": "pdf" | "template" |
"write" | "failed"}`` with exit status 1. A crash leaves no answer (the parent reports the stderr tail).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from pathlib import Path


def _template_error(exc) -> str:
    where = f"{getattr(exc, 'filename', None) or getattr(exc, 'name', None) or 'template'}"
    line = f", line {exc.lineno}" if getattr(exc, "lineno", None) else ""
    return f"template {where}{line}: {exc.message if hasattr(exc, 'message') else exc}"


def run(request: dict) -> dict:
    """Render the report the request names; returns the answer (see the module docstring)."""
    from jinja2 import TemplateError

    from reporter.alerting.inhibition import DEFAULT_RULES, rule_of_table
    from reporter.report.pdf import PdfError
    from reporter.report.period import Period
    from reporter.report.produce import produce
    from reporter.settings import load_settings
    from reporter.store.history import History

    settings = load_settings(None, **request["settings"])
    rules = (DEFAULT_RULES if request.get("inhibit_rules") is None
             else tuple(rule_of_table(table) for table in request["inhibit_rules"]))
    period = Period.parse(request["period"], settings.tz, request.get("kind"))
    out = Path(request["out"])
    history = History(settings.history_url, settings.ai_features, host=settings.host_name)
    try:
        produced = produce(settings, history, period, out, tuple(request["formats"]), host=request.get("host"),
                           inhibit_rules=rules)
    except PdfError as exc:
        return {"error": str(exc), "kind": "pdf"}
    except TemplateError as exc:
        return {"error": _template_error(exc), "kind": "template"}
    except OSError as exc:
        return {"error": f"cannot write to {out}: {exc.strerror or exc}", "kind": "write"}
    finally:
        history.close()
    return {"files": [str(p) for p in produced.files], "empty": produced.empty,
            "pdf_seconds": produced.pdf_seconds, "pdf_peak_rss_bytes": produced.pdf_peak_rss_bytes,
            "warnings": produced.warnings}


PRELOAD_KINDS = ("day", "week")  # a month's model holds ~100 MB of arrays: WeasyPrint and matplotlib (~55 MB) are
# imported after it is built and they are freed, so the render child's peak is not both (the month is within its
# time target without the overlap)


def _preload(formats: list[str], kind: str | None = None) -> None:
    """Import WeasyPrint (for a PDF) and matplotlib (the charts) in a thread while the model is built: the build
    waits on the database much of the time, which releases the GIL; about a second of imports overlaps it. Not
    for a month (``kind`` not in :data:`PRELOAD_KINDS`): the memory of the imports would add to the peak of the
    month's model. An import that fails here fails again, with its error, where the rendering needs it."""
    import importlib
    import threading

    if kind not in PRELOAD_KINDS:
        return

    names = ["reporter.report.charts"] + (["reporter.report.pdf", "weasyprint"] if "pdf" in formats else [])

    def load() -> None:
        for name in names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    threading.Thread(target=load, name="preload", daemon=True).start()


def main() -> int:
    from reporter.report.lifeline import watch_parent

    watch_parent()  # the daemon or the CLI that started this process may be killed: end with it
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if request.get("nice"):
        with contextlib.suppress(OSError):
            os.nice(int(request["nice"]))
    _preload(list(request.get("formats") or []), request.get("kind"))
    try:
        answer = run(request)
    except Exception as exc:
        traceback.print_exc()
        answer = {"error": f"rendering failed: {type(exc).__name__}: {exc}", "kind": "failed"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main())
