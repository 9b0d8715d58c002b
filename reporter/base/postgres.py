"""Connection options for PostgreSQL clients (the application's database and a PostgreSQL history), so that a
dead or hung server fails within a bound instead of hanging a thread."""

from __future__ import annotations

import math

from sqlalchemy.engine import URL


def postgres_args(parsed: URL, timeout: float, read_only: bool) -> dict:
    """libpq options (``connect_args`` of a SQLAlchemy engine on the URL ``parsed``; ``timeout`` in seconds)
    bounding every wait: connect timeout, server-side statement timeout, and TCP keepalives plus
    ``tcp_user_timeout`` so a peer that goes silent mid-query is given up instead of waited on forever.
    ``read_only`` makes every transaction read-only (usage queries can never write to the app database)."""
    args: dict = {"connect_timeout": max(2, math.ceil(timeout)), "keepalives": 1,
                  "keepalives_idle": max(1, math.ceil(timeout)), "keepalives_interval": 1, "keepalives_count": 2,
                  "tcp_user_timeout": int(timeout * 1000) + 1000}
    if parsed.get_driver_name() in ("psycopg", "psycopg2"):
        # keep options given in the URL (e.g. -csearch_path=...) and add ours
        given = parsed.query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        extra = f" -c statement_timeout={int(timeout * 1000)}"
        if read_only:
            extra += " -c default_transaction_read_only=on"
        args["options"] = f"{given}{extra}".strip()
    return args
