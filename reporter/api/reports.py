"""``GET /api/v1/reports`` (the latest report files) and ``GET /api/v1/reports/{name}`` (one of them).

The report job writes ``<key>.html``, ``<key>.pdf`` and ``<key>.<list>.csv`` into REPORTER_REPORT_DIR, ``key``
naming the period (``2026-12-03`` a day, ``2026-W49`` an ISO week, ``2026-11`` a month; see
:mod:`reporter.report.files`). The list answers ``{"reports": [{"period", "kind": "day|week|month",
"files": [{"name", "url", "bytes", "modified"}]}]}``, the :data:`LATEST` newest periods of each kind (days,
weeks, months), newest first (a missing folder is an empty list). A file answers its bytes, only when its
name is a report file's (no other file of the folder, no path): a report HTML carries a
Content-Security-Policy ``sandbox`` (no script, no request anywhere, an opaque origin).

Token-protected like every endpoint (:mod:`reporter.api.fastpath`). The folder is read in a worker thread.
No report folder configured (``report_dir`` None) is a 503.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from reporter.api.views import dumps
from reporter.base.timefmt import format_utc

LATEST = 5  # periods listed per kind
KIND_PATTERNS = {"day": r"\d{4}-\d{2}-\d{2}", "week": r"\d{4}-W\d{2}", "month": r"\d{4}-\d{2}"}
FILE_NAME = re.compile(r"(?P<key>" + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in KIND_PATTERNS.items())
                       + r")\.(?P<ext>html|pdf|[a-z0-9_]{1,40}\.csv)")
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
URL = "/api/v1/reports"
_ORDER = {"html": 0, "pdf": 1}


def kind_of(name: str) -> tuple[str, str] | None:
    """(period key, kind) of a report file name, or None when ``name`` is no report file's."""
    match = FILE_NAME.fullmatch(name)
    if match is None:
        return None
    return match["key"], next(kind for kind in KIND_PATTERNS if match[kind])


def list_reports(folder: Path, latest: int = LATEST) -> list[dict]:
    """The report files in ``folder`` grouped by period, the ``latest`` newest periods of each kind: days, then
    weeks, then months, each newest first (by key: keys of one kind sort by time); in a period, HTML, PDF, then the
    CSV files by name. Blocking; a missing or unreadable folder is []."""
    periods: dict[str, dict] = {}
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return []
    for path in entries:
        found = kind_of(path.name)
        if found is None:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        key, kind = found
        period = periods.setdefault(key, {"period": key, "kind": kind, "files": []})
        period["files"].append({"name": path.name, "url": f"{URL}/{path.name}", "bytes": stat.st_size,
                                "modified": format_utc(datetime.fromtimestamp(stat.st_mtime, UTC))})
    chosen: list[dict] = []
    for kind in KIND_PATTERNS:
        of_kind = sorted((p for p in periods.values() if p["kind"] == kind), key=lambda p: p["period"], reverse=True)
        chosen += of_kind[:latest]
    for period in chosen:
        period["files"].sort(key=lambda f: (_ORDER.get(f["name"].rsplit(".", 1)[-1], 2), f["name"]))
    return chosen


def report_endpoints(report_dir: str | None):
    """The Starlette endpoints (list, file) reading ``report_dir`` (REPORTER_REPORT_DIR; None: 503)."""

    async def listing(request: Request) -> Response:
        if report_dir is None:
            return _json({"error": "no report folder is configured for this server"}, 503)
        return _json({"reports": await run_in_threadpool(list_reports, Path(report_dir))})

    async def one_file(request: Request) -> Response:
        if report_dir is None:
            return _json({"error": "no report folder is configured for this server"}, 503)
        name = request.path_params["name"]
        path = Path(report_dir) / name
        if kind_of(name) is None or not await run_in_threadpool(path.is_file):
            return _json({"error": f"no report file {name[:80]!r}: GET {URL} lists them"}, 404)
        ext = name.rsplit(".", 1)[-1]
        headers = {"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "no-cache"}
        return FileResponse(path, media_type=MEDIA[ext], headers=headers,
                            content_disposition_type="inline" if ext != "csv" else "attachment",
                            filename=name)

    return listing, one_file


def _json(payload: dict, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")
