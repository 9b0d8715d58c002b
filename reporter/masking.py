"""Masking secrets in every text shown to people: snapshot errors, HTTP answers, log lines, CLI messages.

:func:`mask` is the one masking function of free text. It hides

- the password of every URL in the text (``scheme://user:secret@host`` -> ``scheme://user:***@host``, also when the
  password holds a raw ``@``),
- the value of secret-looking query parameters: any name containing password, passwd, pwd, secret, token, key,
  credential, auth or signature (``sslpassword=``, ``client_secret=``, ``access_token=``, ``apikey=``...), and
  ``pass=``, ``sig=``,
- every occurrence of a configured secret's value (registered with :func:`register_secrets`: URL passwords, the
  API token, the webhook secret, the SMTP password, the Slack webhook URL), as given, percent-encoded or decoded,
  so a driver that embeds the password or the DSN in its error text cannot carry it anywhere.

:func:`masked_url` shows a URL whose path is itself a secret (a Slack webhook) as its scheme and host only.

The registry is process-wide: :class:`reporter.settings.Settings` registers its secrets when it is validated.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 3  # shorter values are no real secret, and masking them would garble every message

# scheme://user:password@ -- the password runs to the LAST "@" before the host (a raw "@" in it included)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/?#@:]*):[^\s/?#]*@")
# a parameter whose name CONTAINS one of these words (sslpassword, client_secret, access_token, x-api-key...), or
# is one of the short ones, has its value masked
SECRET_NAME_WORDS = ("password", "passwd", "pwd", "secret", "token", "key", "credential", "auth", "signature")
_SECRET_NAME_SHORT = ("pass", "sig")
_NAME_CHARS = r"[a-z0-9_.\-]"
_SECRET_QUERY = re.compile(
    rf"(?i)(?<!{_NAME_CHARS})((?:{_NAME_CHARS}*(?:{'|'.join(SECRET_NAME_WORDS)}){_NAME_CHARS}*"
    rf"|{'|'.join(_SECRET_NAME_SHORT)})=)[^&\s'\"]*")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add configured secret values to mask from now on (their percent-encoded and decoded forms too).
    Values shorter than ``MIN_SECRET_LENGTH`` characters, and None, are skipped."""
    global _secrets
    forms = set()
    for value in values:
        if not value:
            continue
        for form in (value, unquote(value), quote(value, safe="")):
            if len(form) >= MIN_SECRET_LENGTH:
                forms.add(form)
    with _lock:
        # longest first, so a secret that contains another one is masked whole
        _secrets = tuple(sorted(set(_secrets) | forms, key=lambda s: (-len(s), s)))


def _query_secrets(url: str) -> list[str]:
    """The values of the secret-looking query parameters of ``url`` (see :data:`SECRET_NAME_WORDS`)."""
    query = url.partition("?")[2].partition("#")[0]
    values = [m.group(0)[len(m.group(1)):] for m in _SECRET_QUERY.finditer(query)]
    return [form for value in values if value for form in (value, unquote(value))]


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a URL: its password and the values of its secret-looking query parameters
    (``sslpassword=``...), if any, as written (percent-encoded) and decoded."""
    if not url or "://" not in url:
        return []
    return _password(url) + _query_secrets(url)


def _password(url: str) -> list[str]:
    authority = url.split("://", 1)[1]
    authority = re.split(r"[/?#]", authority, maxsplit=1)[0]
    userinfo, at, _host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return []
    password = userinfo.split(":", 1)[1]
    return [password, unquote(password)] if password else []


def mask(text: str) -> str:
    """``text`` with URL passwords, secret query values and every registered secret replaced by ``***``."""
    if not text:
        return text
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\1:{MASK}@", text)
    return _SECRET_QUERY.sub(rf"\1{MASK}", text)


def masked_url(url: str) -> str:
    """A URL whose path and query are secrets (a Slack webhook URL) as shown in logs and error lines: scheme and
    host only, ``https://hooks.slack.com/***`` (a port is kept, user info dropped); ``***`` when ``url`` is no
    URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return MASK
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/{MASK}"


def userinfo_problem(url: str) -> str | None:
    """Why the user name or password of ``url`` would be misread (a raw ``@`` in it), or None when it is fine.

    Never quotes the password: the message is shown to people and written to logs.
    """
    if "://" not in url:
        return None
    try:
        authority = urlsplit(url).netloc
    except ValueError:
        return None
    if authority.count("@") >= 2:
        userinfo = authority.rsplit("@", 1)[0]
        _user, colon, password = userinfo.partition(":")
        part = "password" if colon and "@" in password else "user name"
        return f"the {part} contains '@'; percent-encode it as %40"
    rest = url.split("://", 1)[1][len(authority):]
    if authority and "@" not in authority and "@" in rest and ":" in authority and not authority.startswith("["):
        port = authority.rsplit(":", 1)[1]
        if not port.isdigit():  # "user:pa/ss@host": the password ends the host part early
            return "the password contains '/', '?' or '#'; percent-encode them as %2F, %3F, %23"
    return None
