"""The status page (``GET /``) in a real browser: Debian's Chromium, headless, driven by Selenium through
chromium-driver, against a real daemon (``reporter run``) on loopback with a token, Redis counters, the reference
application database on PostgreSQL, the fake Ollama and a custom alert rule.

One daemon and one browser for the module; the tests run in file order (the first one enters the token, the
last one freezes the daemon). A screenshot of each state is saved under the module's temporary folder
(``status-page-*/``)."""

from __future__ import annotations

import json
import shutil
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from sqlalchemy import create_engine, text, update

from reporter.api.latest import Latest
from reporter.api.statuspage import CONTENT_SECURITY_POLICY
from reporter.store.fleet_schema import leadership
from reporter.store.history import History
from tests.api.helpers import serve
from tests.appdb import create_reference_db
from tests.conftest import REDIS_URL, free_port, private_schema, require, unavailable
from tests.daemon.helpers import demo_rules, fast_settings, start_daemon, stop_daemon
from tests.fake_ollama import FakeOllama
from tests.snapshots import FEATURES, rich_snapshot, snapshot

pytestmark = pytest.mark.slow

TOKEN = "status-page-token-3c9e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EVIL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"
SUMMARY = "Too many AI requests: {value} <img src=x onerror=\"window.__pwned = 3\">"  # markup in a rule's text
REFRESH = 5.0  # status.js REFRESH_MS
ONE_REFRESH = 1.0 + REFRESH + 3.0  # a sample (1 s) + one refresh + slack for this shared 2-core machine
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class Page:
    """The daemon and the browser looking at it."""

    def __init__(self, base: str, driver, shots: Path, proc, client: redis.Redis, prefix: str) -> None:
        self.base, self.driver, self.shots, self.proc, self.client, self.prefix = base, driver, shots, proc, client, prefix

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def text(self, element_id: str) -> str:
        return self.js("const e = document.getElementById(arguments[0]); return e ? e.textContent : null;", element_id)

    def visible(self, element_id: str) -> bool:
        return self.js("const e = document.getElementById(arguments[0]); return !!e && e.getClientRects().length > 0 "
                       "&& getComputedStyle(e).visibility !== 'hidden';", element_id)

    def wait(self, check, timeout: float = ONE_REFRESH, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        self.shot("timeout")
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")

    def figure(self, list_id: str, label: str) -> str | None:
        return self.js("for (const d of document.querySelectorAll('#' + arguments[0] + ' div')) {"
                       "  if (d.querySelector('dt').textContent === arguments[1])"
                       "    return d.querySelector('dd').textContent; }"
                       "return null;", list_id, label)

    def cells(self, tbody_id: str) -> list[list[str]]:
        """The text of every cell of the rows of a table body, row by row."""
        return self.js("return [...document.querySelectorAll('#' + arguments[0] + ' tr')]"
                       ".map(r => [...r.cells].map(c => c.textContent))", tbody_id)

    def home(self) -> None:
        """Back to the daemon's page after a test showed another server's; enters the token when this tab has
        none yet (a test run alone, without the module's first one)."""
        self.driver.get(self.base + "/")
        self.wait(lambda: self.visible("main") or self.visible("token"), 10, "the daemon's page")
        if not self.visible("main"):
            self.driver.find_element("id", "token").send_keys(TOKEN + "\n")
        self.wait(lambda: self.visible("main") and self.text("host-name") == "web01.example.com", 10, "the daemon again")

    def errors(self) -> list[dict]:
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", "--lang=en-GB"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(DRIVER))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        unavailable("Chromium and its driver are needed (apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        unavailable("selenium is needed (pip install -e '.[test]')")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        require("Redis at 127.0.0.1:6379", exc)
    prefix = f"test:{uuid.uuid4().hex[:12]}:ai:"
    folder = tmp_path_factory.mktemp("status-page")
    schema = private_schema()
    app_db = next(schema)
    create_reference_db(app_db)
    engine = create_engine(app_db)
    with engine.begin() as conn:  # a scenario whose name is markup, started most: first in the list
        conn.execute(text("INSERT INTO scenarios VALUES ('evil_001', :name)"), {"name": EVIL})
        conn.execute(text("INSERT INTO conversations VALUES (:i, 'user_002', 'evil_001', now(), NULL, false)"),
                     [{"i": 100 + i} for i in range(6)])
    engine.dispose()
    reports = folder / "reports"
    reports.mkdir()
    (reports / "2026-12-03.html").write_text("<p>report</p>")
    (reports / "2026-12-03.pdf").write_bytes(b"%PDF-1.4 example")
    (reports / "notes.txt").write_text("not a report")
    rules = demo_rules(for_="1s").replace('summary = "Too many AI requests: {value}"', f"summary = '{SUMMARY}'")
    assert SUMMARY in rules
    (folder / "alerting.toml").write_text(rules)
    ollama = FakeOllama(["mistral:7b"])
    settings = fast_settings(folder, REDIS_URL, prefix, folder / "alerting.toml", {
        "REPORTER_API_TOKEN": TOKEN, "REPORTER_APP_DATABASE_URL": app_db, "REPORTER_USAGE_INTERVAL": "1",
        "REPORTER_OLLAMA_URL": ollama.url, "REPORTER_REPORT_DIR": str(reports), "REPORTER_HOST_NAME": "web01.example.com"})
    client.set(prefix + "total_requests", 7)
    port = free_port()
    proc = start_daemon(folder, settings, port, log_file=folder / "daemon.log")
    driver = None
    try:
        driver = _driver()
        yield Page(f"http://127.0.0.1:{port}", driver, folder, proc, client, prefix)
    finally:
        if driver is not None:
            driver.quit()
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            stop_daemon(proc)
        ollama.close()
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
        next(schema, None)


def test_with_a_token_nothing_shows_before_it_and_the_page_works_after(page):
    page.driver.get(page.base + "/")
    page.wait(lambda: page.visible("token"), 10, "the token prompt")
    assert not page.visible("main")
    shown = page.js("return document.body.innerText")
    for datum in ("web01", "mistral", "Restaurant", "Sampled", "GiB", " ms", "Healthy", "Degraded"):
        assert datum not in shown
    page.shot("1-token-prompt")

    page.driver.find_element("id", "token").send_keys("wrong-token\n")
    page.wait(lambda: page.visible("login-error"), 10, "the refusal")
    assert "refused" in page.text("login-error") and not page.visible("main")
    page.shot("2-token-refused")

    page.driver.find_element("id", "token").send_keys(TOKEN + "\n")
    page.wait(lambda: page.visible("main") and page.text("overall"), 10, "the figures after the token")
    assert not page.visible("login") and page.text("host-name") == "web01.example.com"
    assert page.js("return sessionStorage.getItem('reporter.api_token')") == TOKEN
    page.wait(lambda: page.js("return document.querySelectorAll('#charts svg').length") == 5, 15, "the charts")
    page.shot("3-after-token")


def test_the_page_loads_with_no_console_error_and_the_token_is_asked_once(page):
    page.driver.get_log("browser")  # drain: the refused token above logged its 401s
    page.driver.refresh()  # the same tab: the token is kept for the session
    page.wait(lambda: page.visible("main") and page.text("overall"), 10, "the figures after a reload")
    assert not page.visible("login")
    page.wait(lambda: page.js("return document.querySelectorAll('#charts svg').length") == 5, 15, "the charts")
    page.wait(lambda: page.js("return document.querySelectorAll('#reports a').length") >= 2, 15, "the reports")
    time.sleep(REFRESH + 1)  # a refresh or two more
    assert page.errors() == []


def test_it_shows_this_machines_real_figures(page):
    page.wait(lambda: "up" in (page.text("services") or ""), 10, "the services")
    memory_total = psutil.virtual_memory().total / 2**30
    assert f"of {memory_total:.1f} GiB" in page.figure("system", "Memory")
    assert f"of {psutil.disk_usage('/').total / 2**30:.1f} GiB" in page.figure("system", "Disk /")
    services = page.cells("services")
    assert [row[0] for row in services] == ["database", "redis", "ollama"]
    for name, state, latency, _ in services:
        assert state.endswith("up"), (name, state)  # a mark and the word
        assert latency.endswith(" ms") and float(latency.split()[0]) >= 0
    snapshot = httpx.get(page.base + "/snapshot", headers=AUTH).json()
    assert page.figure("ai", "Model") == snapshot["ai"]["model"] == "mistral:7b"
    assert page.figure("usage", "Users") == str(snapshot["usage"]["total_users"]) == "3"
    assert page.text("overall").endswith(snapshot["status"].capitalize())
    assert "Sampled" in page.text("age") and " s ago" in page.text("age")
    page.shot("4-real-figures")


def network(driver, url_end: str) -> list[tuple[str, dict]]:
    """(``sent``/``received``, its request headers or response) of every request to a URL ending in ``url_end``
    since the last call (Chrome's performance log)."""
    found = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent" and params["request"]["url"].endswith(url_end):
            found.append(("sent", params["request"]["headers"]))
        elif message["method"] == "Network.responseReceived" and params["response"]["url"].endswith(url_end):
            found.append(("received", params["response"]))
    return found


def test_the_refresh_sends_the_etag_and_an_unchanged_snapshot_costs_a_304(page):
    network(page.driver, "/snapshot")
    time.sleep(2 * REFRESH + 1)
    sent = [headers for kind, headers in network(page.driver, "/snapshot") if kind == "sent"]
    assert len(sent) >= 2 and all(h.get("If-None-Match", "").startswith('"') for h in sent)
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for h in sent)

    # a snapshot that stays the same (the daemon above samples every second): the page gets 304s, and says the
    # figures are stale once the snapshot is older than /healthz's limit (3 sample intervals: 1.5 s here)
    latest = Latest()
    latest.publish(rich_snapshot(datetime.now(UTC)))
    with serve(latest, sample_interval=0.5) as (_, base):
        page.driver.get(base + "/")
        page.wait(lambda: page.visible("main") and page.text("overall"), 10, "the fixed snapshot")
        network(page.driver, "/snapshot")
        time.sleep(2 * REFRESH + 1)
        received = [r["status"] for kind, r in network(page.driver, "/snapshot") if kind == "received"]
        assert len(received) >= 2 and set(received) == {304}
        assert page.text("host-name") == "db01"
        assert "stale: the daemon answers but has taken no sample since" in page.text("age")
        assert page.js("return document.body.classList.contains('is-down')")
        page.shot("3b-stale")
    page.home()  # back to the daemon (the token is still in this tab's session)


def test_usage_that_failed_is_not_said_to_be_unread_on_this_host(page):
    """usage null with errors.usage (every usage query failed, e.g. the app's tables missing) said "not read on
    this host", which is what a node that leaves it to the leader shows."""
    now = datetime.now(UTC)
    for errors, expected in (({"usage": "every usage query failed, e.g. total_users: UndefinedTable"},
                              "✖ could not be read (see above)"), ({}, "not read on this host")):
        latest = Latest()
        latest.publish(snapshot(when=now, usage=None, errors=errors))
        with serve(latest) as (_, base):
            page.driver.get(base + "/")
            page.wait(lambda: page.figure("usage", "Application database") is not None, 10, "the usage figures")
            assert page.figure("usage", "Application database") == expected
    page.home()


def test_a_node_leaving_the_ai_counters_to_the_leader_says_so(page):
    """A fleet node that does not lead has ai all null with error "sampled by the leader": its page showed
    "Requests" with a dash with no reason; it now says where the figures are read."""
    from reporter.snapshot import SAMPLED_BY_LEADER, AISection

    latest = Latest()
    latest.publish(snapshot(when=datetime.now(UTC), usage=None,
                            ai=AISection(model="mistral:7b", error=SAMPLED_BY_LEADER)))
    with serve(latest) as (_, base):
        page.driver.get(base + "/")
        page.wait(lambda: page.figure("ai", "Requests") is not None, 10, "the AI figures")
        assert page.figure("ai", "Requests") == "read by the leader (see Hosts)"
    page.home()


def test_a_counter_changed_in_redis_appears_within_one_refresh(page):
    assert page.figure("ai", "Requests") == "7"
    page.client.set(page.prefix + "total_requests", 42)
    page.wait(lambda: page.figure("ai", "Requests") == "42", ONE_REFRESH, "42 requests on the page")
    page.shot("5-counter-changed")


def test_an_alert_fired_by_a_custom_rule_appears_and_shows_suppressed_after_a_silence(page):
    def demo_row():
        return page.js("for (const r of document.querySelectorAll('#alerts tr')) {"
                       "  if (r.cells[1].textContent.startsWith('demo_requests_high'))"
                       "    return [...r.cells].map(c => c.textContent); } return null;")

    page.client.set(page.prefix + "total_requests", 150)
    row = page.wait(lambda: (r := demo_row()) and r[0].endswith("firing") and r, 2 + ONE_REFRESH, "the firing alert")
    assert row[1] == "demo_requests_high" + SUMMARY.replace("{value}", "150")  # the markup stays text
    assert row[3] == "app-wide" and row[5] == "\N{EN DASH}"
    assert page.js("return window.__pwned === undefined && document.querySelectorAll('#alerts img').length === 0")
    assert page.text("alerts-count").startswith("(") and not page.visible("alerts-empty")
    page.shot("6-alert-firing")

    created = httpx.post(page.base + "/api/v1/silences", headers=AUTH, json={
        "matchers": ['alertname="demo_requests_high"'], "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "status page test", "comment": "maintenance"})
    assert created.status_code == 200, created.text
    row = page.wait(lambda: (r := demo_row()) and "suppressed" in r[5] and r, 2 + ONE_REFRESH, "the suppressed mark")
    assert row[0].endswith("firing") and "silenced" in row[5]
    page.shot("7-alert-suppressed")


def test_a_script_in_a_scenario_name_stays_text(page):
    cells = [row[0] for row in page.wait(lambda: page.cells("scenarios"), 10, "the scenarios")]
    assert EVIL in cells
    assert page.js("return window.__pwned === undefined")
    assert page.js("return document.querySelectorAll('#scenarios script, #scenarios img').length") == 0
    page.js("document.getElementById('scenarios').scrollIntoView()")
    page.shot("8-script-as-text")


def test_phone_width_keyboard_and_print(page):
    page.driver.set_window_size(390, 844)
    try:
        time.sleep(0.5)
        assert page.js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.shot("9-phone")
    finally:
        page.driver.set_window_size(1280, 1000)
    from selenium.webdriver.common.keys import Keys

    reached = set()
    body = page.driver.find_element("tag name", "body")
    body.click()
    for _ in range(40):
        page.driver.switch_to.active_element.send_keys(Keys.TAB)
        reached.add(page.js("const e = document.activeElement; return e.dataset.range || e.getAttribute('href') || e.id"))
    assert {"hour", "day", "week"} <= reached and "/api/v1/reports/2026-12-03.pdf" in reached
    page.driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    page.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert page.js("return getComputedStyle(document.querySelector('.ranges')).display") == "none"
    finally:
        page.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_the_page_says_when_the_daemon_stops_answering(page):
    page.proc.send_signal(signal.SIGSTOP)  # alive but silent: requests time out
    try:
        page.wait(lambda: page.visible("down"), REFRESH + 4 + 3, "the not-answering banner")
        assert "not answering" in page.text("down") and "figures below are from" in page.text("down")
        page.shot("10-daemon-not-answering")
    finally:
        page.proc.send_signal(signal.SIGCONT)
    page.wait(lambda: not page.visible("down"), 2 * REFRESH + 4, "the banner gone after the daemon answers again")


def test_the_page_is_served_without_a_token_with_security_headers(page):
    answer = httpx.get(page.base + "/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    csp = answer.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY and "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answer.text and "style=" not in answer.text  # scripts and styles are files
    again = httpx.get(page.base + "/", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    for path in ("/static/status.js", "/static/charts.js", "/static/status.css"):
        assert httpx.get(page.base + path).status_code == 200
    for path in ("/snapshot", "/api/v1/reports", "/api/v1/reports/2026-12-03.pdf", "/static/other.js"):
        assert httpx.get(page.base + path).status_code == 401  # nothing the API would not serve


def test_the_reports_endpoint_lists_and_serves_report_files_only(page):
    listing = httpx.get(page.base + "/api/v1/reports", headers=AUTH).json()
    assert [(p["period"], p["kind"], [f["name"] for f in p["files"]]) for p in listing["reports"]] == [
        ("2026-12-03", "day", ["2026-12-03.html", "2026-12-03.pdf"])]
    pdf = httpx.get(page.base + listing["reports"][0]["files"][1]["url"], headers=AUTH)
    assert pdf.status_code == 200 and pdf.content == b"%PDF-1.4 example"
    html = httpx.get(page.base + "/api/v1/reports/2026-12-03.html", headers=AUTH)
    assert "sandbox" in html.headers["content-security-policy"]
    for name in ("notes.txt", "..%2Fhistory.db", "2026-12-04.html"):
        assert httpx.get(f"{page.base}/api/v1/reports/{name}", headers=AUTH).status_code == 404


def test_the_fleets_hosts_show_when_there_are_several(page, pg_schema_url):
    now = datetime.now(UTC).replace(microsecond=0)
    web = History(pg_schema_url, FEATURES, host="web-1")
    gpu = History(pg_schema_url, FEATURES, host="gpu-1")
    old = History(pg_schema_url, FEATURES, host="old-1")
    try:
        for i in range(3):
            when = now - timedelta(seconds=20 - 10 * i)
            web.write(snapshot(when=when, host="web-1"))
            gpu.write(snapshot(when=when, host="gpu-1", down=("redis",), status="degraded"))
        old.write(snapshot(when=now - timedelta(hours=1), host="old-1"))
        with web.engine.begin() as conn:
            conn.execute(update(leadership).where(leadership.c.id == 1).values(epoch=3, host="web-1", node_id="n1"))
        latest = Latest()
        latest.publish(snapshot(when=now, host="web-1"))
        with serve(latest, history=web) as (_, base):
            page.driver.get(base + "/")
            page.wait(lambda: page.visible("fleet-card"), 10, "the hosts")
            rows = page.cells("fleet")
            assert [(r[0], r[1]) for r in rows] == [("gpu-1", "▲Degraded"), ("old-1", "✖down"),
                                                    ("web-1 (leader)", "✔Healthy")]
            page.js("document.getElementById('fleet-card').scrollIntoView()")
            page.shot("11-fleet")
            page.driver.find_element("xpath", "//button[text()='gpu-1']").click()  # that host's stored snapshot
            page.wait(lambda: page.text("host-name") == "gpu-1 (its latest stored sample)", 10, "gpu-1's figures")
            page.wait(lambda: page.cells("services")[1][1] == "✖down", 10, "gpu-1's redis down")
            page.wait(lambda: page.js("return document.querySelector('#fleet button[aria-pressed=true]').textContent")
                      == "gpu-1", 40, "gpu-1 marked as shown")
            page.shot("12-fleet-other-host")
            page.driver.find_element("xpath", "//button[text()='web-1 (leader)']").click()
            page.wait(lambda: page.text("host-name") == "web-1", 10, "this node again")
    finally:
        for h in (web, gpu, old):
            h.close()
    page.home()
    assert not page.visible("fleet-card")  # one host (SQLite): no fleet table


def test_a_report_link_sends_the_token(page):
    page.wait(lambda: page.js("return document.querySelectorAll('#reports a').length") >= 2, 15, "the reports")
    network(page.driver, "2026-12-03.pdf")
    page.driver.find_element("css selector", "#reports a[href$='.pdf']").click()
    sent = page.wait(lambda: [h for kind, h in network(page.driver, "2026-12-03.pdf") if kind == "sent"], 10,
                     "the report request")
    assert sent[0].get("Authorization") == f"Bearer {TOKEN}"
