"""URL checks shared by the settings and the alerting file's receivers."""

from __future__ import annotations

from urllib.parse import urlsplit


def http_url(value: str) -> str:
    """``value`` if it is an http:// or https:// URL with a host (and a valid port, if any); ValueError saying
    what is wrong otherwise (a receiver URL without a host, ``http://``, would fail on every notification)."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value
