"""DNS rebinding: only this server's Host names are answered, on every path and method (issue 8 item 13); the
bearer scheme is case-insensitive (issue 8 item 14). Over a real socket, with raw Host headers."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from reporter.api.hosts import HostPolicy
from reporter.api.latest import Latest
from reporter.base.hostnames import check_allowed_entry
from reporter.settings import SettingsError, load_settings
from tests.api.helpers import serve
from tests.snapshots import rich_snapshot


def raw_request(base: str, path: str, host: str | list[str] | None, method: str = "GET", headers: dict | None = None,
                body: bytes = b"", version: str = "1.1") -> tuple[int, bytes]:
    """Send one request with exactly this ``Host`` header (None = none, a list = one line each) and request
    target ``path`` (origin or absolute form); (status, body)."""
    url = urlsplit(base)
    lines = [f"{method} {path} HTTP/{version}"]
    for value in [] if host is None else [host] if isinstance(host, str) else host:
        lines.append(f"Host: {value}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


@pytest.fixture
def latest() -> Latest:
    latest = Latest()
    latest.publish(rich_snapshot())
    return latest


FAST = ["/snapshot", "/healthz", "/metrics", "/alerts", "/api/v1/analytics/health", "/api/v1/analytics/top-users"]
SLOW = ["/openapi.json", "/api/v1/history?metric=cpu_percent", "/nope"]


def test_a_foreign_host_is_refused_on_every_path(latest):
    with serve(latest) as (_, base):
        port = urlsplit(base).port
        for path in FAST + SLOW:
            status, body = raw_request(base, path, "evil.example")
            assert status == 421, (path, status)
            assert "REPORTER_ALLOWED_HOSTS" in json.loads(body)["error"]
            status, _ = raw_request(base, path, f"rebind.attacker.test:{port}", method="HEAD")
            assert status == 421
        status, body = raw_request(base, "/api/v1/analytics/log-ai-usage", "evil.example", "POST",
                                   {"Content-Type": "application/json"}, b'{"feature": "grammar"}')
        assert status == 421 and b"evil.example" in body
        # a CORS preflight from a rebinding page is refused too
        status, _ = raw_request(base, "/snapshot", "evil.example", "OPTIONS",
                                {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
        assert status == 421


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]"])
def test_loopback_names_are_answered(latest, host):
    with serve(latest) as (_, base):
        port = urlsplit(base).port
        for value in (host, f"{host}:{port}"):
            for path in [*FAST, "/openapi.json"]:
                assert raw_request(base, path, value)[0] == 200, (path, value)
        assert raw_request(base, "/snapshot", None, version="1.0")[0] == 200  # HTTP/1.0 may omit Host


def test_an_absolute_form_target_is_checked_by_its_authority(latest):
    """RFC 9112 3.2.2: with ``GET http://name/path``, the target's host is the request's host, not ``Host``."""
    with serve(latest) as (_, base):
        port = urlsplit(base).port
        for path in ("/snapshot", "/healthz", "/openapi.json", "/snapshot?x=1"):
            for target in (f"http://evil.example{path}", f"http://evil.example:{port}{path}",
                           f"https://user@evil.example{path}", f"HTTP://EVIL.example.{path}"):
                status, body = raw_request(base, target, "localhost")
                assert status == 421 and b"evil.example" in body.lower(), (target, status)
            assert raw_request(base, f"http://evil.example{path}", None, version="1.0")[0] == 421
            assert raw_request(base, f"http://localhost:{port}{path}", "evil.example")[0] == 200
            assert raw_request(base, f"http://[::1]{path}", "evil.example")[0] == 200
            assert raw_request(base, f"http://127.0.0.1{path}", None, version="1.0")[0] == 200


@pytest.mark.parametrize("hosts", [None, ["localhost", "localhost"], ["localhost", "evil.example"],
                                   ["[::1]evil"], ["[::1].evil.example"], ["[::1"], ["local host"],
                                   ["localhost:80x"], ["[evil]"], ["localhost/x"], ["evil@localhost"]])
def test_a_missing_repeated_or_malformed_host_is_a_bad_request(latest, hosts):
    """RFC 9112 3.2: HTTP/1.1 without Host, two Host lines or a value that is no host[:port] get 400."""
    with serve(latest, allowed_hosts=["*"]) as (_, allow_any), serve(latest) as (_, base):
        for server in (base, allow_any):
            for path in ("/snapshot", "/healthz", "/openapi.json"):
                status, body = raw_request(server, path, hosts)
                assert status == 400, (server, path, hosts, status)
                assert "Host" in json.loads(body)["error"]


def test_allowed_hosts_lists_names_domains_or_any(latest):
    with serve(latest, allowed_hosts=["reporter.example.com", ".corp.test"]) as (_, base):
        assert raw_request(base, "/snapshot", "Reporter.Example.com:8321")[0] == 200
        assert raw_request(base, "/snapshot", "corp.test")[0] == 200
        assert raw_request(base, "/openapi.json", "mon.eu.corp.test")[0] == 200
        assert raw_request(base, "/snapshot", "evilcorp.test")[0] == 421
        assert raw_request(base, "/snapshot", "reporter.example.com.evil.example")[0] == 421
    with serve(latest, allowed_hosts=["*"]) as (_, base):
        assert raw_request(base, "/snapshot", "anything.example")[0] == 200


def test_the_bind_address_is_answered_and_a_wildcard_bind_answers_addresses_only(latest):
    with serve(latest, bind_host="mon.internal") as (_, base):
        assert raw_request(base, "/snapshot", "mon.internal:8321")[0] == 200
        assert raw_request(base, "/snapshot", "10.1.2.3")[0] == 421
    with serve(latest, bind_host="0.0.0.0") as (_, base):
        for address in ("10.1.2.3:8321", "[fe80::1]:8321", "192.168.0.7"):
            assert raw_request(base, "/snapshot", address)[0] == 200
        assert raw_request(base, "/snapshot", "evil.example")[0] == 421  # names must be listed


def test_a_foreign_host_is_refused_even_with_the_right_token(latest):
    with serve(latest, token="tok-abc") as (_, base):
        assert raw_request(base, "/snapshot", "evil.example", headers={"Authorization": "Bearer tok-abc"})[0] == 421
        assert raw_request(base, "/snapshot", "localhost", headers={"Authorization": "Bearer tok-abc"})[0] == 200


@pytest.mark.parametrize("header", ["Bearer tok-abc", "bearer tok-abc", "BEARER tok-abc", "bEaReR   tok-abc"])
def test_bearer_scheme_is_case_insensitive(latest, header):
    """issue 8 item 14: RFC 7235, the auth scheme is case-insensitive (the token is not)."""
    with serve(latest, token="tok-abc") as (_, base):
        for path in ("/snapshot", "/metrics", "/openapi.json"):
            assert raw_request(base, path, "127.0.0.1", headers={"Authorization": header})[0] == 200, path


@pytest.mark.parametrize("header", ["bearer TOK-ABC", "Basic tok-abc", "bearertok-abc", "Bearer", "tok-abc"])
def test_wrong_credentials_are_still_refused(latest, header):
    with serve(latest, token="tok-abc") as (_, base):
        assert raw_request(base, "/snapshot", "127.0.0.1", headers={"Authorization": header})[0] == 401


@pytest.mark.parametrize("value", ["http://reporter.example.com", "reporter.example.com/x", "host:8321", "a b"])
def test_bad_allowed_hosts_entry_names_the_setting(monkeypatch, value):
    monkeypatch.setenv("REPORTER_ALLOWED_HOSTS", f"ok.example,{value}")
    with pytest.raises(SettingsError, match=r"^REPORTER_ALLOWED_HOSTS: "):
        load_settings(None)


def test_allowed_hosts_setting_is_parsed(monkeypatch):
    monkeypatch.setenv("REPORTER_ALLOWED_HOSTS", " Reporter.Example.com , .corp.test,[::2]")
    assert load_settings(None).allowed_hosts == ["reporter.example.com", ".corp.test", "::2"]
    assert check_allowed_entry("*") == "*"
    assert HostPolicy("127.0.0.1", ["::2"]).allows(b"[::2]:80")


@pytest.mark.slow
def test_daemon_answers_only_its_host_names(tmp_path, refused_port):
    import signal

    from tests.conftest import free_port
    from tests.daemon.helpers import start_daemon

    port = free_port()
    proc = start_daemon(tmp_path, {
        "REPORTER_ALLOWED_HOSTS": "mon.example.org", "REPORTER_EXTERNAL_URL": "https://links.example.net/reporter",
        "REPORTER_SAMPLE_INTERVAL": "1", "REPORTER_PROBE_TIMEOUT": "0.5",
        "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "REPORTER_REDIS_URL": f"redis://127.0.0.1:{refused_port}/0",
        "REPORTER_APP_DATABASE_URL": f"postgresql+psycopg://u@127.0.0.1:{refused_port}/x",
        "REPORTER_OLLAMA_URL": f"http://127.0.0.1:{refused_port}"}, port)
    base = f"http://127.0.0.1:{port}"
    try:
        assert raw_request(base, "/snapshot", f"mon.example.org:{port}")[0] == 200
        assert raw_request(base, "/snapshot", f"localhost:{port}")[0] == 200
        assert raw_request(base, "/alerts", "links.example.net")[0] == 200  # where notifications link to
        for path in ("/snapshot", "/healthz", "/openapi.json"):
            assert raw_request(base, path, f"evil.example:{port}")[0] == 421
            assert raw_request(base, f"http://evil.example{path}", "localhost")[0] == 421  # absolute form
            assert raw_request(base, path, ["localhost", "localhost"])[0] == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
