"""Usage statistics from the application's database (reference schema in README.md, "The application's
database"; queries replaceable)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from reporter.base.errors import one_line
from reporter.collect.collector import Collector, Section
from reporter.collect.sources import LazyClient, lazy
from reporter.failures import FailureLog
from reporter.masking import mask
from reporter.rounding import percent
from reporter.snapshot import PopularScenario, TopUser, UsageSection
from reporter.usage_queries import DEFAULT_QUERIES, SCALAR_QUERIES

log = logging.getLogger(__name__)

PARAMETERS = ("since", "since_1h", "limit")  # the bind parameters a usage query may use (read() gives them)


class UsageUnavailable(Exception):
    """No usage figure could be read (database down, or none of the tables exist); the message says why."""

    bare = True  # shown without the class name


MAX_TEXT = 200  # characters of a name, id or email read from the application's database


def clip(value: Any) -> str | None:
    """``value`` as text cut to :data:`MAX_TEXT` characters (the last one ``…``); None stays None. A
    100,000-character scenario name went whole into every snapshot, the status page and the report."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


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


class UsageCollector(Collector):
    """Runs the usage queries on the app database; each query in its own transaction; every ``interval``
    seconds (``REPORTER_USAGE_INTERVAL``), the snapshots in between carrying the last section.

    A query that fails leaves its figure None (or its list empty) and is logged (once while it keeps failing,
    see :class:`reporter.failures.FailureLog`); when every query fails (or the database cannot be reached)
    :meth:`read` raises :class:`UsageUnavailable` and :meth:`collect` returns no section, so the snapshot's
    ``usage`` is null with the error. ``engine`` is a ready engine or a :class:`LazyClient` made on the first read.
    """

    name = "usage"
    app_wide = True

    def __init__(self, engine: Engine | LazyClient[Engine], overrides: dict[str, str] | None = None,
                 top_n: int = 10, show_emails: bool = False, interval: float = 0.0) -> None:
        self.engine = lazy(engine)
        self.queries = {**DEFAULT_QUERIES, **(overrides or {})}
        self.top_n = top_n
        self.show_emails = show_emails
        self.interval = interval
        self.failures = FailureLog(log)
        # each statement parsed once (its bind parameters found), not at every read
        self._statements = {name: (text(sql), [k for k in PARAMETERS if f":{k}" in sql])
                            for name, sql in self.queries.items()}
        combined = "SELECT " + ", ".join(f"({self.queries[n]}) AS {n}" for n in SCALAR_QUERIES)
        self._combined = (text(combined), [k for k in PARAMETERS if f":{k}" in combined])

    def collect(self, now: datetime) -> Section[UsageSection]:
        """The usage section stamped ``collected_at=now``, or none with the error (never raises)."""
        try:
            return Section(self.read(now))
        except UsageUnavailable as exc:
            return Section(None, one_line(exc))

    def close(self) -> None:
        self.engine.close()

    def read(self, now: datetime | None = None) -> UsageSection:
        """Run the queries; raises :class:`UsageUnavailable` when no figure could be read."""
        now = now or datetime.now(UTC)
        params = {"since": (now - timedelta(hours=24)).replace(tzinfo=None),
                  "since_1h": (now - timedelta(hours=1)).replace(tzinfo=None), "limit": self.top_n}
        section = UsageSection(collected_at=now)
        errors: dict[str, str] = {}
        try:
            with self.engine.get().connect() as conn:
                for name, value in self._scalars(conn, params, errors).items():
                    setattr(section, name, self._scalar(name, value, errors))
                rows = self._run(conn, "top_users", params, errors)
                if rows is not None:
                    section.top_users = self._top_users(rows, errors)
                rows = self._run(conn, "popular_scenarios", params, errors)
                if rows is not None:
                    section.popular_scenarios = self._scenarios(rows, errors)
                conn.rollback()  # read only: nothing to keep
        except Exception as exc:  # connection failed: nothing to report
            raise UsageUnavailable(mask(one_line(exc))) from None
        if len(errors) == len(self.queries):
            name = next(iter(errors))
            raise UsageUnavailable(f"every usage query failed, e.g. {name}: {errors[name]} "
                                   "(check REPORTER_APP_DATABASE_URL and REPORTER_USAGE_QUERIES)")
        for name in sorted(set(self.queries) | set(errors)):  # once when it starts failing, not every collection
            if name in errors:
                self.failures.failed(f"usage query {name}", f"failed: {errors[name]}")
            else:
                self.failures.ok(f"usage query {name}")
        return section

    def _scalars(self, conn: Connection, params: dict, errors: dict[str, str]) -> dict[str, Any]:
        """Every scalar figure, in one statement of scalar subqueries when they all succeed (one round trip);
        else query by query, so one missing table costs only its own figure."""
        combined, names = self._combined
        try:
            row = conn.execute(combined, {k: params[k] for k in names}).one()
            return dict(zip(SCALAR_QUERIES, row, strict=True))
        except Exception:
            conn.rollback()
        values = {}
        for name in SCALAR_QUERIES:
            rows = self._run(conn, name, params, errors)
            if rows is not None:
                values[name] = next(iter(rows[0].values()), None) if rows else None  # its first column
        return values

    def _run(self, conn: Connection, name: str, params: dict, errors: dict[str, str]) -> list[dict[str, Any]] | None:
        """Rows of one query as dicts (at most 1,000), or None with the error recorded."""
        statement, names = self._statements[name]
        try:
            result = conn.execute(statement, {k: params[k] for k in names})
            return [dict(r) for r in result.mappings().fetchmany(1000)] if result.returns_rows else []
        except Exception as exc:
            conn.rollback()
            errors[name] = mask(one_line(getattr(exc, "orig", None) or exc))
            return None

    @staticmethod
    def _scalar(name: str, value: Any, errors: dict[str, str]) -> int | None:
        try:
            if value is None:
                return None
            number = int(value)
            if number < 0 or (number != value and float(value) != number):
                raise ValueError
            return number
        except (TypeError, ValueError, OverflowError):
            errors[name] = f"returned {str(value)[:40]!r}, not a count"
            return None

    def _top_users(self, rows, errors: dict[str, str]) -> list[TopUser]:
        users = []
        for row in rows:
            try:
                email = clip(row.get("email"))
                users.append(TopUser(
                    user_id=clip(row["user_id"]),
                    email=email if self.show_emails else mask_email(email),
                    activity_count=int(row["activity_count"]),
                    last_active=as_utc(row.get("last_active")),
                ))
            except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
                errors["top_users"] = f"bad row: {one_line(exc)}"
        return users

    @staticmethod
    def _scenarios(rows, errors: dict[str, str]) -> list[PopularScenario]:
        scenarios = []
        for row in rows:
            try:
                started = int(row["start_count"])
                completed = row.get("completed_count")
                rate = None if completed is None else percent(int(completed), started)
                if rate is not None and not 0 <= rate <= 100:
                    raise ValueError(f"completion rate {rate} % is not 0-100")
                scenarios.append(PopularScenario(
                    scenario_id=clip(row["scenario_id"]), name=clip(row.get("name")),
                    start_count=started, completion_rate=rate,
                ))
            except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
                errors["popular_scenarios"] = f"bad row: {one_line(exc)}"
        return scenarios
