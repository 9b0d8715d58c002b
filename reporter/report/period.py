"""The period a report covers: a ``Period`` is a span of local calendar time (start inclusive, end exclusive)
of one kind, in the report timezone: a local day (midnight to midnight, 23 h or 25 h on DST change days), an ISO
week (Monday to Monday, key ``2026-W48``) or a calendar month (key ``2026-11``).

A period's ``key`` names it in file names (``<key>.html``), in the ``reports`` and ``report_emails`` tables and
in the email subject's ``{date}``; its ``label`` is what people read in the report's heading. Both are made by
the period's kind (:data:`KINDS`). Adding a kind (a week, a month) is one more :class:`Kind` in :data:`KINDS`:
its first day for a date, the first day after it, its key (parsed back, and matched in temporary file names)
and its label.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Kind:
    """One kind of report period, defined on local calendar days.

    ``name``: ``"day"``; ``title``: the report's title (``"Daily report"``); ``noun``: the period in the
    report's sentences (``"No data for this day"``); ``key_pattern``: a regular
    expression matching exactly the keys of this kind (no groups; used to recognise temporary report files).
    ``first``: the first local day of the period holding a date; ``after``: the first day after the period
    that begins on a given first day; ``key`` / ``parse``: the period's key from its first day and back
    (``parse`` raises ValueError for anything else); ``label``: the human name from the first day.
    """

    name: str
    title: str
    noun: str
    key_pattern: str
    first: Callable[[date], date]
    after: Callable[[date], date]
    key: Callable[[date], str]
    parse: Callable[[str], date]
    label: Callable[[date], str]


def _parse_day(key: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", key):
        raise ValueError(f"{key!r} is not a day (YYYY-MM-DD)")
    return date.fromisoformat(key)


DAY = Kind(
    name="day", title="Daily report", noun="day", key_pattern=r"\d{4}-\d{2}-\d{2}",
    first=lambda d: d, after=lambda d: d + timedelta(days=1), key=lambda d: d.isoformat(), parse=_parse_day,
    label=lambda d: f"{d.strftime('%A')} {d.day} {d.strftime('%B %Y')}",  # Thursday 3 December 2026
)


def _parse_week(key: str) -> date:
    match = re.fullmatch(r"(\d{4})-W(\d{2})", key)
    if not match:
        raise ValueError(f"{key!r} is not an ISO week (YYYY-Www)")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValueError(f"{key!r} is not an ISO week: year {match[1]} has no week {match[2]}") from None


def _week_key(first: date) -> str:
    year, week, _ = first.isocalendar()
    return f"{year}-W{week:02d}"


DASH = "\u2013"  # an en dash, between the days of a span


def _day_month(d: date, year: bool) -> str:
    return f"{d.day} {d.strftime('%B')}" + (f" {d.year}" if year else "")


def _week_label(first: date) -> str:
    """``Week 48 · 23-29 November 2026`` (an en dash); across months ``30 November - 6 December 2026``; across
    years with both years."""
    last = first + timedelta(days=6)
    if first.month == last.month:
        span = f"{first.day}{DASH}{last.day} {last.strftime('%B %Y')}"
    else:
        span = f"{_day_month(first, first.year != last.year)} {DASH} {_day_month(last, True)}"
    return f"Week {first.isocalendar()[1]} · {span}"


WEEK = Kind(
    name="week", title="Weekly report", noun="week", key_pattern=r"\d{4}-W\d{2}",
    first=lambda d: d - timedelta(days=d.weekday()), after=lambda d: d + timedelta(days=7), key=_week_key,
    parse=_parse_week, label=_week_label,
)


def _parse_month(key: str) -> date:
    match = re.fullmatch(r"(\d{4})-(\d{2})", key)
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"{key!r} is not a month (YYYY-MM)")
    return date(int(match[1]), int(match[2]), 1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


MONTH = Kind(
    name="month", title="Monthly report", noun="month", key_pattern=r"\d{4}-\d{2}",
    first=lambda d: d.replace(day=1), after=_next_month, key=lambda d: f"{d.year}-{d.month:02d}",
    parse=_parse_month, label=lambda d: d.strftime("%B %Y"),  # November 2026
)

KINDS: dict[str, Kind] = {k.name: k for k in (DAY, WEEK, MONTH)}


def key_pattern() -> str:
    """A regular expression matching the key of a period of any kind in :data:`KINDS` (no capturing group)."""
    return "|".join(f"(?:{k.key_pattern})" for k in KINDS.values())


def zone(tz: tzinfo | str) -> ZoneInfo:
    """``tz`` as a ZoneInfo: a ZoneInfo itself, an IANA name, or ``datetime.UTC``. Raises
    ``zoneinfo.ZoneInfoNotFoundError`` for an unknown name."""
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(str(tz))


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight starting ``day`` as a UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """A report period: ``start`` to ``end`` (aware UTC datetimes, end exclusive; local midnights of
    ``timezone``), of kind ``kind`` (a name in :data:`KINDS`), named ``key`` (``2026-12-03``) in files and
    tables and ``label`` (``Thursday 3 December 2026``) in the report. Made by :meth:`of`, :meth:`day`,
    :meth:`containing` or :meth:`parse`, never by hand."""

    start: datetime
    end: datetime
    kind: str
    key: str
    label: str
    timezone: str

    @property
    def local_days(self) -> list[date]:
        """Every local day of the period, in order."""
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    @classmethod
    def of(cls, kind: str, day: date, tz: tzinfo | str) -> Period:
        """The period of ``kind`` that holds the local date ``day`` in ``tz``. KeyError for an unknown kind."""
        spec, local = KINDS[kind], zone(tz)
        first = spec.first(day)
        return cls(_midnight(first, local), _midnight(spec.after(first), local), kind, spec.key(first),
                   spec.label(first), str(local))

    @classmethod
    def day(cls, day: date, tz: tzinfo | str) -> Period:
        """The local day ``day`` in ``tz``: midnight to the next midnight (23 h or 25 h on DST change days)."""
        return cls.of("day", day, tz)

    @classmethod
    def containing(cls, moment: datetime, tz: tzinfo | str, kind: str = "day") -> Period:
        """The period of ``kind`` that holds the aware datetime ``moment`` (local to ``tz``)."""
        local = zone(tz)
        return cls.of(kind, moment.astimezone(local).date(), local)

    @classmethod
    def parse(cls, key: str, tz: tzinfo | str, kind: str | None = None) -> Period:
        """The period named ``key`` (as in file names and the ``reports`` table), of ``kind`` or of whichever
        kind's keys it matches. Raises ValueError when it names none, with the form expected in words (``'2026-48'
        is not an ISO week (YYYY-Www)``), never a regular expression."""
        for spec in [KINDS[kind]] if kind else KINDS.values():
            if re.fullmatch(spec.key_pattern, key):
                return cls.of(spec.name, spec.parse(key), tz)
        if kind:
            KINDS[kind].parse(key)  # raises the kind's own message
        raise ValueError(f"{key!r} is not a report period (YYYY-MM-DD, YYYY-Www or YYYY-MM)")

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def first_day(self) -> date:
        """The period's first local day."""
        return self.spec.parse(self.key)

    @property
    def last_day(self) -> date:
        """The period's last local day (its first for a day)."""
        return self.spec.after(self.first_day) - timedelta(days=1)

    @property
    def title(self) -> str:
        """The report's title for this kind: ``Daily report``."""
        return self.spec.title

    @property
    def noun(self) -> str:
        """The period in the report's sentences: ``day``."""
        return self.spec.noun

    @property
    def days(self) -> int:
        """Local calendar days in the period: 1, 7, or 28 to 31."""
        return (self.spec.after(self.first_day) - self.first_day).days

    @property
    def hours(self) -> float:
        """Length in hours: 24 for a day, 23 or 25 on DST change days (167 or 169 for such a week)."""
        return (self.end - self.start).total_seconds() / 3600.0

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return Period.of(self.kind, self.first_day - timedelta(days=1), self.timezone)

    def next(self) -> Period:
        """The period of the same kind just after this one."""
        return Period.of(self.kind, self.spec.after(self.first_day), self.timezone)

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return self.key
