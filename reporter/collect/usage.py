"""Usage statistics from the application's database (reference schema in DESIGN.md, queries replaceable)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from reporter.collect.runner import one_line
from reporter.collect.usage_queries import DEFAULT_QUERIES, SCALAR_QUERIES
from reporter.settings import mask_url
from reporter.snapshot import PopularScenario, TopUser, UsageSection

log = logging.getLogger(__name__)


class UsageUnavailable(Exception):
    """No usage figure could be read (database down, or none of the tables exist); the message says why."""

    bare = True  # shown without the class name


def mask_email(email: str | None) -> str | None:
    """``user123@example.com`` -> ``u***@example.com``; a value without ``@`` becomes ``***``."""
    if not email:
        return email
    local, at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if at else "***"


def as_utc(value: Any) -> datetime | None:
    """A database timestamp (datetime or ISO string; naive means UTC per the contract) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UsageCollector:
    """Runs the usage queries on the app database; each query in its own transaction.

    A query that fails leaves its figure None (or its list empty) and is logged; when every query fails the
    collector raises :class:`UsageUnavailable` so the snapshot's ``usage`` is null with the error.
    """

    name = "usage"

    def __init__(self, engine: Engine, overrides: dict[str, str] | None = None, top_n: int = 10,
                 show_emails: bool = False) -> None:
        self.engine = engine
        self.queries = {**DEFAULT_QUERIES, **(overrides or {})}
        self.top_n = top_n
        self.show_emails = show_emails

    def collect(self, now: datetime | None = None) -> UsageSection:
        now = now or datetime.now(UTC)
        params = {"since": (now - timedelta(hours=24)).replace(tzinfo=None),
                  "since_1h": (now - timedelta(hours=1)).replace(tzinfo=None), "limit": self.top_n}
        section = UsageSection(collected_at=now)
        errors: dict[str, str] = {}
        try:
            with self.engine.connect() as conn:
                for name in SCALAR_QUERIES:
                    value = self._run(conn, name, params, errors)
                    if value is not None:
                        setattr(section, name, self._scalar(name, value.scalar(), errors))
                rows = self._run(conn, "top_users", params, errors)
                if rows is not None:
                    section.top_users = self._top_users(rows.mappings().all(), errors)
                rows = self._run(conn, "popular_scenarios", params, errors)
                if rows is not None:
                    section.popular_scenarios = self._scenarios(rows.mappings().all(), errors)
        except Exception as exc:  # connection failed: nothing to report
            raise UsageUnavailable(mask_url(one_line(exc))) from None
        if len(errors) == len(self.queries):
            name = next(iter(errors))
            raise UsageUnavailable(f"every usage query failed, e.g. {name}: {errors[name]} "
                                   "(check REPORTER_APP_DATABASE_URL and REPORTER_USAGE_QUERIES)")
        for name, error in errors.items():
            log.warning("usage query %s failed: %s", name, error)
        return section

    def _run(self, conn: Connection, name: str, params: dict, errors: dict[str, str]):
        sql = self.queries[name]
        try:
            result = conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
            conn.commit()
            return result
        except Exception as exc:
            conn.rollback()
            errors[name] = mask_url(one_line(getattr(exc, "orig", None) or exc))
            return None

    @staticmethod
    def _scalar(name: str, value: Any, errors: dict[str, str]) -> int | None:
        try:
            return None if value is None else int(value)
        except (TypeError, ValueError):
            errors[name] = f"returned {value!r}, not a number"
            return None

    def _top_users(self, rows, errors: dict[str, str]) -> list[TopUser]:
        users = []
        for row in rows:
            try:
                email = row.get("email")
                users.append(TopUser(
                    user_id=str(row["user_id"]),
                    email=email if self.show_emails else mask_email(email),
                    activity_count=int(row["activity_count"]),
                    last_active=as_utc(row.get("last_active")),
                ))
            except (KeyError, TypeError, ValueError) as exc:
                errors["top_users"] = f"bad row: {one_line(exc)}"
        return users

    @staticmethod
    def _scenarios(rows, errors: dict[str, str]) -> list[PopularScenario]:
        scenarios = []
        for row in rows:
            try:
                started = int(row["start_count"])
                completed = row.get("completed_count")
                rate = None if completed is None or started <= 0 else round(int(completed) / started * 100.0, 2)
                scenarios.append(PopularScenario(
                    scenario_id=str(row["scenario_id"]), name=row.get("name"),
                    start_count=started, completion_rate=rate,
                ))
            except (KeyError, TypeError, ValueError) as exc:
                errors["popular_scenarios"] = f"bad row: {one_line(exc)}"
        return scenarios
