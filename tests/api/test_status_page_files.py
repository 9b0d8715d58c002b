"""The status page's files over HTTP, without a browser: served from the package without a token, with their
security headers and ETags, read on the first request only, behind the Host check like every path."""

from __future__ import annotations

import asyncio
import re

import httpx

from reporter.api.app import create_app
from reporter.api.latest import Latest
from reporter.api.statuspage import CONTENT_SECURITY_POLICY, PAGE_PATHS, read_static
from tests.api.helpers import serve

TOKEN = "page-files-token-1"


def test_every_file_is_served_without_a_token_with_its_headers_and_etag():
    with serve(token=TOKEN) as (_, base):
        for path, (name, content_type) in PAGE_PATHS.items():
            answer = httpx.get(base + path)
            assert answer.status_code == 200, path
            assert answer.content == read_static(name) and answer.headers["content-type"] == content_type.decode()
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-cache"
            again = httpx.get(base + path, headers={"If-None-Match": answer.headers["etag"]})
            assert again.status_code == 304 and again.content == b""
            head = httpx.head(base + path)
            assert head.status_code == 200 and head.content == b""
        assert httpx.get(base + "/snapshot").status_code == 401  # the data still needs the token
        assert httpx.post(base + "/").status_code == 401  # only GET and HEAD of the page skip it
        assert httpx.get(base + "/", headers={"Host": "evil.example"}).status_code == 421  # DNS rebinding


def test_the_policy_allows_no_inline_code_and_the_page_has_none():
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    html = read_static("status.html").decode()
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert re.search(r"\son[a-z]+\s*=", html) is None  # no event handler attribute
    for name in ("status.js", "charts.js"):
        script = read_static(name).decode()
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
        assert "http://" not in script.replace("http://www.w3.org/2000/svg", "")  # no other origin
    assert "http" not in read_static("status.css").decode()  # no CDN


def test_nothing_is_read_before_the_first_request():
    """A daemon nobody looks at never reads the files: they are read and their answers built on the first GET."""
    app = create_app(Latest(), 10.0)

    async def get(path: str) -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            return (await client.get(path)).status_code

    assert asyncio.run(get("/healthz")) == 503 and asyncio.run(get("/snapshot")) == 503  # no sample yet
    assert app.page._prepared == {}
    assert asyncio.run(get("/")) == 200
    assert list(app.page._prepared) == ["/"]
