"""The file an SQLite SQLAlchemy URL really opens, derived the way the driver and SQLite do it.

``sqlite:///data/history.db`` opens ``data/history.db``; with ``?uri=true`` the database name may be an SQLite
URI filename (``file:/abs/path?mode=rwc``, ``file:relative/path``, ``file://localhost/abs``, percent-encoded),
which SQLite parses itself: the one-daemon lock and the folder creation must use the same file, so the path is
taken from the very filename SQLAlchemy hands to ``sqlite3.connect`` and parsed by SQLite's rules
(https://www.sqlite.org/uri.html).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from sqlalchemy.engine import URL

_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


class SQLiteFileError(ValueError):
    """The URL names no file that outlives the process (in memory, a temporary database) or an SQLite URI that
    SQLite refuses (an authority other than ``localhost``)."""


def _decode(text: str) -> str:
    """SQLite's percent-decoding of a URI component (``+`` stays ``+``)."""
    raw = _PERCENT.sub(lambda match: bytes([int(match.group(1), 16)]), text.encode("utf-8"))
    return raw.decode("utf-8", errors="surrogateescape")


def _parse_uri(filename: str) -> tuple[str, dict[str, str]]:
    """(path, query parameters) of an SQLite URI filename ``file:...``; SQLiteFileError for a bad authority."""
    rest = filename[len("file:"):]
    if rest.startswith("//"):
        end = rest.find("/", 2)
        end = len(rest) if end < 0 else end
        authority = rest[2:end]
        if authority not in ("", "localhost"):
            raise SQLiteFileError(f"SQLite refuses the URI authority {authority!r} (only 'localhost')")
        rest = rest[end:]
    rest = rest.split("#", 1)[0]
    path, _, query = rest.partition("?")
    params: dict[str, str] = {}
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        params[_decode(key)] = _decode(value)
    return _decode(path), params


def sqlite_file(url: URL) -> Path | None:
    """The file an ``sqlite`` URL opens (relative to the working folder when relative), or None for another
    backend. Raises SQLiteFileError when the URL opens no lasting file: ``:memory:``, an empty name (a temporary
    database), ``mode=memory``, a URI authority SQLite refuses."""
    if url.get_backend_name() != "sqlite":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # query arguments ignored without uri=true: the driver ignores them too
        args, kwargs = url.get_dialect()().create_connect_args(url)
    filename, uri = args[0], bool(kwargs.get("uri"))
    if uri and filename.startswith("file:"):
        path, params = _parse_uri(filename)
        if params.get("mode") == "memory":
            raise SQLiteFileError("mode=memory")
    else:
        path = filename  # a plain name, even with uri=true (SQLite reads only "file:" names as URIs)
    if path in ("", ":memory:"):
        raise SQLiteFileError("in memory")
    return Path(path)


def lasting_file(url: URL) -> Path | None:
    """Like :func:`sqlite_file`, but None (instead of an error) when the SQLite database is not a lasting file."""
    try:
        return sqlite_file(url)
    except SQLiteFileError:
        return None
