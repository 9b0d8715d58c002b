"""Make docs/status-page.png, the status page (``GET /``) as README.md shows it.

    .venv/bin/python docs/status_page.py [--out docs/status-page.png] [--width 1280]

Serves the real API app (reporter.api.app.create_app, uvicorn on a loopback port) over a scratch SQLite history
holding a week of synthetic samples (reporter.store.synthetic), a made-up latest snapshot with three alerts (one
firing, one silenced, one acknowledged), and a scratch report folder; opens the page in Debian's headless
Chromium through Selenium (packages chromium and chromium-driver; selenium is in the test extra) and saves a
screenshot of the whole page. Needs no Redis, no PostgreSQL, no network.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import text

from reporter.api.app import create_app
from reporter.api.latest import Latest
from reporter.snapshot import (
    ActiveAlert,
    AISection,
    FeatureStats,
    OllamaHealth,
    PopularScenario,
    ServiceHealth,
    Services,
    Snapshot,
    SystemSection,
    UsageSection,
    WindowStats,
)
from reporter.store.history import History
from reporter.store.synthetic import generate

FEATURES = ["grammar", "quiz", "voice", "scenario"]
HOST = "web01.example.com"


def example_snapshot(now: datetime) -> Snapshot:
    """A busy moment (every service answers, so healthy): Redis slow, the disk filling, one alert firing,
    one silenced, one acknowledged."""
    def alert(name: str, state: str, minutes: float, summary: str, **extra) -> ActiveAlert:
        since = now - timedelta(minutes=minutes)
        return ActiveAlert(alertname=name, state=state, severity=extra.pop("severity", "warning"), host=HOST,
                           labels={"alertname": name}, summary=summary, active_at=since,
                           fired_at=since if state == "firing" else None, fingerprint=name, **extra)

    features = {name: FeatureStats(requests=r, success=s, success_rate=round(100 * s / r, 1),
                                   total_time_seconds=r * t, avg_time=t, tokens_per_second=tps)
                for name, r, s, t, tps in (("grammar", 4210, 4177, 1.8, 41.2), ("quiz", 2630, 2611, 2.4, 38.9),
                                           ("voice", 880, 851, 3.1, 35.0), ("scenario", 5120, 5064, 2.2, 40.3))}
    total = sum(f.requests or 0 for f in features.values())
    return Snapshot(
        timestamp=now, host=HOST, status="healthy", duration_ms=42.0,  # every service answers
        system=SystemSection(cpu_percent=37.5, memory_percent=68.2, memory_used_gb=10.9, memory_total_gb=16.0,
                             disk_path="/", disk_percent=86.4, disk_used_gb=207.4, disk_total_gb=240.0,
                             load_1m=1.42, uptime_seconds=1_234_567),
        services=Services(
            database=ServiceHealth(up=True, latency_ms=3.2), redis=ServiceHealth(up=True, latency_ms=180.4),
            ollama=OllamaHealth(up=True, latency_ms=12.7, model="mistral:7b", is_available=True,
                                models=["mistral:7b"], version="0.5.7", model_loaded=True,
                                model_cpu_offload_ratio=0.0)),
        ai=AISection(model="mistral:7b", is_available=True, total_requests=total,
                     total_time_seconds=total * 2.1, avg_response_time=2.1, cache_hits=int(total * 0.18),
                     cache_hit_rate=18.0, features=features,
                     windows={"5m": WindowStats(window_seconds=300, requests=57, success_rate=98.2)}),
        usage=UsageSection(collected_at=now, total_users=412, active_users_24h=96, total_scenarios=24,
                           active_conversations=7, total_quizzes_taken=3180, total_grammar_checks=5022,
                           popular_scenarios=[PopularScenario(scenario_id="s1", name="Restaurant Reservation",
                                                              start_count=311, completion_rate=78.5),
                                              PopularScenario(scenario_id="s2", name="Hotel Check-in",
                                                              start_count=240, completion_rate=81.0),
                                              PopularScenario(scenario_id="s3", name="Job interview",
                                                              start_count=97, completion_rate=64.9)]),
        alerts=[alert("disk_high", "firing", 48, "Disk / is 86.4 % full", severity="critical",
                      acknowledged_by="ann", acknowledged_at=now - timedelta(minutes=30),
                      ack_comment="cleaning old logs"),
                alert("redis_slow", "pending", 2, "Redis answers in 180 ms"),
                alert("ai_latency_high", "firing", 15, "AI answers take 4.2 s on average",
                      suppressed=True, silenced_by=["sil_1"], suppressed_reason="silenced by sil_1 (ann)")],
    )


def serve(app, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def screenshot(url: str, out: Path, width: int) -> None:
    """Open ``url`` in headless Chromium, wait for the charts, save the whole page as PNG."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},900", "--lang=en-GB"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(url)
        WebDriverWait(driver, 20).until(lambda d: len(d.find_elements("css selector", "#charts svg")) == 5)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height + 40)
        time.sleep(0.3)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("status-page.png"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        now = datetime.now(UTC)
        history = History(f"sqlite:///{folder / 'history.db'}", FEATURES, host=HOST)
        generate(history, now - timedelta(days=7), now, interval=60.0)
        with history.engine.begin() as conn:  # the disk's series ends where the snapshot's figure is (86.4 %)
            last = conn.execute(text("SELECT disk_percent FROM samples ORDER BY ts DESC LIMIT 1")).scalar_one()
            conn.execute(text("UPDATE samples SET disk_percent = disk_percent + :d"), {"d": 8640 - last})
        reports = folder / "reports"
        reports.mkdir()
        for day in (1, 2):
            key = (now - timedelta(days=day)).date().isoformat()
            for ext in ("html", "pdf", "top_users.csv"):
                (reports / f"{key}.{ext}").write_text("example")
        latest = Latest()
        latest.publish(example_snapshot(now))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = serve(create_app(latest, 10.0, history=history, report_dir=str(reports)), port)
        try:
            screenshot(f"http://127.0.0.1:{port}/", args.out, args.width)
        finally:
            server.should_exit = True
            history.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
