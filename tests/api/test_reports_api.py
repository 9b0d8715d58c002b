"""``GET /api/v1/reports`` and ``/api/v1/reports/{name}`` over HTTP on a real report folder: the latest periods
of each kind, report files only, the token rules of the API."""

from __future__ import annotations

import httpx

from reporter.api.reports import LATEST
from tests.api.helpers import serve

TOKEN = "reports-token-5"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_lists_the_latest_periods_of_each_kind_and_serves_only_report_files(tmp_path):
    for day in range(1, 9):
        for ext in ("pdf", "html", "top_users.csv"):
            (tmp_path / f"2026-11-{day:02d}.{ext}").write_text(f"day {day}")
    (tmp_path / "2026-W48.pdf").write_text("week")
    (tmp_path / "2026-11.html").write_text("month")
    (tmp_path / ".2026-11-09.pdf.abcd1234.tmp").write_text("")  # a rendering in progress
    (tmp_path / "history.db").write_text("not a report")
    with serve(token=TOKEN, report_dir=str(tmp_path)) as (_, base):
        answer = httpx.get(base + "/api/v1/reports", headers=AUTH)
        assert answer.status_code == 200, answer.text
        reports = answer.json()["reports"]
        assert [p["period"] for p in reports] == [f"2026-11-{d:02d}" for d in range(8, 8 - LATEST, -1)] + [
            "2026-W48", "2026-11"]
        assert [p["kind"] for p in reports[-3:]] == ["day", "week", "month"]
        first = reports[0]["files"]
        assert [f["name"] for f in first] == ["2026-11-08.html", "2026-11-08.pdf", "2026-11-08.top_users.csv"]
        assert first[1] == {"name": "2026-11-08.pdf", "url": "/api/v1/reports/2026-11-08.pdf", "bytes": 5,
                            "modified": first[1]["modified"]} and first[1]["modified"].endswith("Z")

        pdf = httpx.get(base + first[1]["url"], headers=AUTH)
        assert pdf.status_code == 200 and pdf.text == "day 8" and pdf.headers["content-type"] == "application/pdf"
        csv = httpx.get(base + first[2]["url"], headers=AUTH)
        assert csv.headers["content-disposition"].startswith("attachment")
        html = httpx.get(base + "/api/v1/reports/2026-11.html", headers=AUTH)
        assert html.text == "month" and "sandbox" in html.headers["content-security-policy"]
        for name in ("history.db", ".2026-11-09.pdf.abcd1234.tmp", "2026-11-09.pdf", "..%2Fsecret.pdf"):
            assert httpx.get(f"{base}/api/v1/reports/{name}", headers=AUTH).status_code == 404, name
        assert httpx.get(base + "/api/v1/reports").status_code == 401
        assert httpx.get(base + first[1]["url"]).status_code == 401


def test_a_missing_folder_is_an_empty_list_and_none_configured_a_503(tmp_path):
    with serve(report_dir=str(tmp_path / "not-yet")) as (_, base):
        assert httpx.get(base + "/api/v1/reports").json() == {"reports": []}
    with serve() as (_, base):
        assert httpx.get(base + "/api/v1/reports").status_code == 503
