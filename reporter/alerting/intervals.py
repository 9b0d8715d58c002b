"""Named recurring time intervals, in Alertmanager's form (``time_interval``), for receivers' mute/active windows.

The alerting file holds them as::

    [[time_intervals]]
    name = "weekend-maintenance"
    [[time_intervals.time_intervals]]             # one entry; the interval is active when ANY entry matches
    weekdays = ["saturday", "monday:friday"]      # names, inclusive ranges (weeks run sunday to saturday)
    times = [{ start_time = "02:00", end_time = "04:00" }]   # HH:MM, end exclusive, 24:00 allowed
    days_of_month = ["1:5", "-3:-1"]              # 1-31, negative from the month's end (-1 = last day)
    months = ["january:march", "12"]              # names or numbers 1-12, inclusive ranges
    years = ["2026:2027"]                         # inclusive ranges
    location = "Europe/Berlin"                    # IANA zone the fields are read in (default UTC)

An entry matches when ALL of its given fields match the time in its location; a field left out matches every
time (an entry without fields matches always). Every problem raises :class:`IntervalError`, one line naming the
table and field: ``time_intervals[0] (weekend).time_intervals[1].weekdays: "funday" is not a weekday``.
Pure functions of an aware ``now`` (no clock is read here).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Alertmanager's order
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
ENTRY_FIELDS = ("times", "weekdays", "days_of_month", "months", "years", "location")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TIME = re.compile(r"^([0-9]{2}):([0-9]{2})$")
_INT = re.compile(r"^-?[0-9]{1,4}$")
Range = tuple[int, int]  # inclusive


class IntervalError(ValueError):
    """A time interval table is invalid; the message is one line: ``time_intervals[i] (name).field: reason``."""


class IntervalEntry:
    """One ``[[time_intervals.time_intervals]]`` entry: the given fields (None = not given, matches all).

    ``times``: ``(start, end)`` minutes of the day, end exclusive (1440 = 24:00); ``weekdays``: 0 = sunday;
    ``days_of_month``: inclusive ranges, negative counted from the month's end; ``months`` 1-12; ``years``.
    """

    def __init__(self, times: list[Range] | None = None, weekdays: list[Range] | None = None,
                 days_of_month: list[Range] | None = None, months: list[Range] | None = None,
                 years: list[Range] | None = None, location: ZoneInfo | None = None) -> None:
        self.times, self.weekdays, self.days_of_month = times, weekdays, days_of_month
        self.months, self.years, self.location = months, years, location or ZoneInfo("UTC")

    def _key(self) -> tuple:
        return self.times, self.weekdays, self.days_of_month, self.months, self.years, str(self.location)

    def __eq__(self, other: object) -> bool:
        """Equal fields: a reload that leaves an entry as it was does not count it as changed."""
        return isinstance(other, IntervalEntry) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def matches(self, now: datetime) -> bool:
        """True when every given field matches ``now`` (aware) read in the entry's location."""
        local = now.astimezone(self.location)
        if self.times is not None:
            minute = local.hour * 60 + local.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.weekdays is not None and not _within(self.weekdays, (local.weekday() + 1) % 7):
            return False
        if self.days_of_month is not None:
            last = calendar.monthrange(local.year, local.month)[1]
            if not any(_day(begin, last) <= local.day <= _day(end, last) for begin, end in self.days_of_month):
                return False
        if self.months is not None and not _within(self.months, local.month):
            return False
        return self.years is None or _within(self.years, local.year)


class TimeInterval:
    """A named ``[[time_intervals]]`` table: active when any of its entries matches (none: never)."""

    def __init__(self, name: str, entries: list[IntervalEntry]) -> None:
        self.name, self.entries = name, entries

    def active(self, now: datetime) -> bool:
        """True when ``now`` (an aware datetime) is inside the interval."""
        return any(entry.matches(now) for entry in self.entries)

    def __repr__(self) -> str:
        return f"TimeInterval({self.name!r}, {len(self.entries)} entries)"

    def __eq__(self, other: object) -> bool:
        """The same name and entries (so a reloaded receiver using it is unchanged unless it changed)."""
        return isinstance(other, TimeInterval) and (self.name, self.entries) == (other.name, other.entries)

    __hash__ = None  # type: ignore[assignment]


def _within(ranges: Iterable[Range], value: int) -> bool:
    return any(begin <= value <= end for begin, end in ranges)


def _day(day: int, last: int) -> int:
    """A day of the month (negative: from the end, -1 = ``last``), clamped to 1..last."""
    return min(max(day if day > 0 else last + day + 1, 1), last)


def parse_time_intervals(data: Any) -> dict[str, TimeInterval]:
    """The ``time_intervals`` array of tables (as read from TOML) by name; raises IntervalError."""
    if not isinstance(data, list):
        raise IntervalError("time_intervals: must be an array of tables, one [[time_intervals]] each")
    result: dict[str, TimeInterval] = {}
    for index, table in enumerate(data):
        where = f"time_intervals[{index}]"
        if not isinstance(table, dict):
            raise IntervalError(f"{where}: must be a table with name and time_intervals")
        name = table.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise IntervalError(f"{where}.name: {'missing' if name is None else repr(name)}; a name of 1-64 "
                                f"letters, digits, '_', '.' or '-' is required")
        where += f" ({name})"
        if name in result:
            raise IntervalError(f"{where}.name: {name!r} is defined twice")
        unknown = sorted(set(table) - {"name", "time_intervals"})
        if unknown:
            raise IntervalError(f"{where}: unknown field(s) {unknown}; expected name, time_intervals")
        entries = table.get("time_intervals", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise IntervalError(f"{where}.time_intervals: must be an array of tables, one "
                                f"[[time_intervals.time_intervals]] each")
        result[name] = TimeInterval(name, [_entry(e, f"{where}.time_intervals[{i}]") for i, e in enumerate(entries)])
    return result


def _entry(table: dict[str, Any], where: str) -> IntervalEntry:
    unknown = sorted(set(table) - set(ENTRY_FIELDS))
    if unknown:
        raise IntervalError(f"{where}: unknown field(s) {unknown}; expected {', '.join(ENTRY_FIELDS)}")
    fields: dict[str, Any] = {}
    for field, parse in (("times", _times), ("weekdays", _weekdays), ("days_of_month", _days_of_month),
                         ("months", _months), ("years", _years)):
        if field in table:
            value = table[field]
            if not isinstance(value, list):
                raise IntervalError(f"{where}.{field}: must be an array, not {type(value).__name__}")
            try:
                fields[field] = [parse(item) for item in value]
            except ValueError as exc:
                raise IntervalError(f"{where}.{field}: {exc}") from None
    if "location" in table:
        fields["location"] = _location(table["location"], f"{where}.location")
    return IntervalEntry(**fields)


def _times(item: Any) -> Range:
    if not isinstance(item, dict) or set(item) != {"start_time", "end_time"}:
        raise ValueError(f"{item!r:.60} must be {{ start_time = \"HH:MM\", end_time = \"HH:MM\" }}")
    start, end = _minute(item["start_time"], "start_time"), _minute(item["end_time"], "end_time")
    if start >= end:
        raise ValueError(f"start_time {item['start_time']} must be before end_time {item['end_time']} "
                         f"(a window across midnight is two: up to 24:00, from 00:00)")
    return start, end


def _minute(value: Any, field: str) -> int:
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{field} {value!r:.40} is not a time HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{field} {value!r} is not a time from 00:00 to 24:00")
    return hours * 60 + minutes


def _range(item: Any, one: Any, signed: bool = False) -> Range:
    """``"a:b"`` or a single ``a`` through ``one`` (text -> int, ValueError); begin <= end (``signed``: when
    both have the same sign, as ``"1:-1"`` means the whole month)."""
    if isinstance(item, bool) or not isinstance(item, str | int):
        raise ValueError(f"{item!r:.40} must be a string or a number")
    parts = item.split(":") if isinstance(item, str) else [item]
    if len(parts) > 2:
        raise ValueError(f"{item!r:.40} is not a value or a range begin:end")
    begin, end = one(parts[0]), one(parts[-1])
    if begin > end and (not signed or (begin > 0) == (end > 0)):
        hint = " (weeks run sunday to saturday: write the two days apart)" if one is _weekday else ""
        raise ValueError(f"{item!r:.40}: the range begins after it ends{hint}")
    return begin, end


def _weekday(text: Any) -> int:
    name = str(text).strip().lower()
    if name not in WEEKDAYS:
        raise ValueError(f"\"{text}\" is not a weekday (sunday ... saturday)")
    return WEEKDAYS.index(name)


def _weekdays(item: Any) -> Range:
    if not isinstance(item, str):
        raise ValueError(f"{item!r:.40} is not a weekday name")
    return _range(item, _weekday)


def _number(text: Any, low: int, high: int, what: str) -> int:
    raw = str(text).strip()
    if not _INT.match(raw) or not low <= int(raw) <= high:
        raise ValueError(f"\"{text}\" is not {what}")
    return int(raw)


def _days_of_month(item: Any) -> Range:
    def one(text: Any) -> int:
        day = _number(text, -31, 31, "a day of the month (1 to 31, or -31 to -1 from the end)")
        if day == 0:
            raise ValueError("0 is not a day of the month (1 to 31, or -31 to -1 from the end)")
        return day
    return _range(item, one, signed=True)


def _months(item: Any) -> Range:
    def one(text: Any) -> int:
        name = str(text).strip().lower()
        return MONTHS.index(name) + 1 if name in MONTHS else \
            _number(text, 1, 12, "a month (january ... december, or 1 to 12)")
    return _range(item, one)


def _years(item: Any) -> Range:
    return _range(item, lambda text: _number(text, 1, 9999, "a year"))


def _location(value: Any, where: str) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise IntervalError(f"{where}: must be an IANA time zone name such as \"Europe/Berlin\"")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise IntervalError(f"{where}: {value!r:.60} is not a known IANA time zone (e.g. \"Europe/Berlin\")") \
            from None


def describe(interval: TimeInterval) -> str:
    """A one-line summary for ``reporter check-config``: ``name: entry; entry`` (``always`` for an entry
    without fields, ``never`` for an interval without entries)."""
    parts = []
    for entry in interval.entries:
        bits = [f"{label} " + ",".join(_show(r, names) for r in ranges)
                for label, ranges, names in (("weekdays", entry.weekdays, WEEKDAYS), ("months", entry.months, MONTHS),
                                             ("days_of_month", entry.days_of_month, None),
                                             ("years", entry.years, None))
                if ranges is not None]
        if entry.times is not None:
            bits.append("times " + ",".join(f"{s // 60:02}:{s % 60:02}-{e // 60:02}:{e % 60:02}"
                                            for s, e in entry.times))
        if str(entry.location) != "UTC":
            bits.append(f"in {entry.location}")
        parts.append(" ".join(bits) if bits else "always")
    return f"{interval.name}: " + ("; ".join(parts) if parts else "never (no entries)")


def _show(r: Range, names: tuple[str, ...] | None) -> str:
    text = [(names[v - 1] if names is MONTHS else names[v]) if names else str(v) for v in r]
    return text[0] if r[0] == r[1] else f"{text[0]}:{text[1]}"


def muted_reason(mute: list[str], active: list[str], intervals: dict[str, TimeInterval], now: datetime) -> str | None:
    """Why a receiver with these ``mute_time_intervals`` and ``active_time_intervals`` (names in ``intervals``)
    is muted at ``now``: ``"mute_time_intervals NAME"`` (the first active one), ``"outside
    active_time_intervals A, B"`` (none of them active), or None when it may be notified."""
    for name in mute:
        if intervals[name].active(now):
            return f"mute_time_intervals {name}"
    if active and not any(intervals[name].active(now) for name in active):
        return f"outside active_time_intervals {', '.join(active)}"
    return None


def check_lines(intervals: dict[str, TimeInterval], receivers: Iterable[tuple[str, list[str], list[str]]]) -> list[str]:
    """For ``reporter check-config``: one line per interval, its entries and the receivers it mutes (their
    ``mute_time_intervals``) or activates (``active_time_intervals``); ``receivers`` as (name, mute, active)."""
    receivers = list(receivers)
    lines = []
    for name, interval in intervals.items():
        mutes = [r for r, mute, _ in receivers if name in mute]
        activates = [r for r, _, active in receivers if name in active]
        use = "; ".join([*([f"mutes {', '.join(mutes)}"] if mutes else []),
                         *([f"activates {', '.join(activates)}"] if activates else [])]) or "used by no receiver"
        lines.append(f"time interval {describe(interval)} ({use})")
    return lines
