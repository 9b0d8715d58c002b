"""A weekly report's HTML on a phone's width (390 CSS pixels, in Chromium): nothing sticks out of the page but
the incidents table, which scrolls sideways on its own (its seven columns cannot fit)."""

import json
import shutil
import subprocess
from datetime import UTC, datetime

from reporter.store.history import History
from reporter.store.synthetic import generate
from reporter.store.synthetic_alerts import generate_alerts
from tests.conftest import unavailable
from tests.test_cli import reporter

SCRIPT = """<script>window.addEventListener('load', function () {
  var width = document.documentElement.clientWidth, out = [];
  document.querySelectorAll('table, figure, ul, p, h1, h2, section').forEach(function (e) {
    var right = e.getBoundingClientRect().right;
    if (right > width + 1) out.push([e.tagName, e.className, Math.round(right)]);
  });
  parent.document.title = JSON.stringify({width: width, scroll: document.documentElement.scrollWidth, out: out});
});</script></body>"""


def test_a_weekly_report_fits_a_phones_width(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    history = History(f"sqlite:///{tmp_path / 'h.db'}", ["grammar", "quiz", "voice", "scenario"])
    start, end = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    generate(history, start, end, interval=300)
    generate_alerts(history, start, end)
    history.close()
    result = reporter("report", "--week", "2026-W48", "--format", "html", "--out", str(tmp_path), cwd=tmp_path,
                      env={"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}",
                           "REPORTER_APP_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    assert result.returncode == 0, result.stderr
    page = tmp_path / "measured.html"
    page.write_text((tmp_path / "2026-W48.html").read_text().replace("</body>", SCRIPT))
    host = tmp_path / "phone.html"
    host.write_text(f'<html><head><title>-</title></head><body style="margin:0"><iframe src="{page}" width="390" '
                    'height="800" style="border:0"></iframe></body></html>')
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--allow-file-access-from-files",
                          "--virtual-time-budget=5000", "--window-size=800,900", "--dump-dom", str(host)],
                         capture_output=True, text=True, timeout=120).stdout
    measured = json.loads(dom.split("<title>", 1)[1].split("</title>", 1)[0].replace("&quot;", '"'))
    assert measured["scroll"] <= measured["width"], measured
    assert measured["out"] == [], measured
