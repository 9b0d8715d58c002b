"""``reporter report`` and ``reporter export``: on-demand reports and CSV export of the history."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reporter.cli_history import open_history
from reporter.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reporter.alerting.inhibition import InhibitRule
    from reporter.report.period import Period


def parse_day(value: str, option: str) -> date:
    """``YYYY-MM-DD`` (or ``today``/``yesterday`` in the report timezone's calendar); BadParameter otherwise."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def parse_time(value: str, option: str, tz) -> datetime:
    """An ISO date or datetime; without an offset it is local to ``tz``."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time (2026-11-28 or 2026-11-28T06:00)",
                                 param_hint=option) from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def parse_formats(value: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """``--format``: a comma list of ``known`` formats, or ``both`` (= all of them); BadParameter otherwise."""
    wanted: list[str] = []
    for name in (f.strip().lower() for f in value.split(",")):
        if not name:
            continue
        if name not in (*known, "both"):
            raise click.BadParameter(f"{name!r} is not a format; choose {', '.join(known)} or both",
                                     param_hint="--format")
        wanted.extend(n for n in (known if name == "both" else (name,)) if n not in wanted)
    if not wanted:
        raise click.BadParameter(f"choose {', '.join(known)} or both", param_hint="--format")
    return tuple(wanted)


def parse_period(value: str, kind: str, option: str, tz) -> Period:
    """``--week 2026-W48`` / ``--month 2026-11`` as a :class:`Period` in ``tz``; BadParameter otherwise."""
    from reporter.report.period import Period

    try:
        return Period.parse(value.strip(), tz, kind)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def run_report(settings: Settings, day: str | None, first: str | None, last: str | None, out: Path | None,
               formats: str, email: bool, week: str | None = None, month: str | None = None) -> int:
    """Render one day, week or month, or a range of days, each in one render child
    (:func:`reporter.report.render.render_in_child`); returns the exit code (0 all rendered and sent, 1
    otherwise)."""
    from reporter.report.period import Period
    from reporter.report.render import FORMATS

    wanted = parse_formats(formats, FORMATS)
    if email and "html" not in wanted:
        raise click.BadParameter("--email needs the html format (it is the email body)", param_hint="--email")
    chosen = [name for name, given in (("--date", day), ("--week", week), ("--month", month),
                                       ("--from/--to", first or last)) if given]
    if len(chosen) > 1:
        raise click.UsageError(f"give one of --date, --week, --month or --from and --to, not {' and '.join(chosen)}")
    now = datetime.now(settings.tz)
    if week or month:
        single = parse_period(week or month or "", "week" if week else "month", "--week" if week else "--month",
                              settings.tz)
        if single.start > now:
            raise click.BadParameter(f"{single.key} is in the future (today is {now.date()} in {settings.timezone})",
                                     param_hint="--week" if week else "--month")
        if now < single.end:
            click.echo(f"reporter: note: {single.key} is not over yet; its report covers the {single.noun} until now",
                       err=True)
        return _render_all(settings, [single], out, wanted, email)
    if day:
        days = [parse_day(day, "--date")]
    elif first and last:
        start, end = parse_day(first, "--from"), parse_day(last, "--to")
        if end < start:
            raise click.BadParameter("--to is before --from", param_hint="--to")
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    else:
        raise click.UsageError("give --date YYYY-MM-DD, --week YYYY-Www, --month YYYY-MM, or --from and --to")
    today = now.date()
    future = [d for d in days if d > today]
    if future:
        raise click.BadParameter(f"{future[0]} is in the future (today is {today} in {settings.timezone})",
                                 param_hint="--date" if day else "--to")
    if today in days:
        click.echo(f"reporter: note: {today} is not over yet; its report covers the day until now", err=True)
    return _render_all(settings, [Period.day(d, settings.tz) for d in days], out, wanted, email)


def _render_all(settings: Settings, periods: list[Period], out: Path | None, wanted: tuple[str, ...],
                email: bool) -> int:
    out_dir = out or Path(settings.report_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise click.BadParameter(f"{out_dir} is a file, not a folder", param_hint="--out")
    open_history(settings).close()  # a missing SQLite history is a one-line error here, not in each child
    rules = inhibit_rules(settings)
    failures, lines = 0, list[str]()
    with click.progressbar(periods, label="rendering", file=sys.stderr,
                           item_show_func=lambda p: p and p.key, hidden=len(periods) == 1) as bar:
        for current in bar:
            failures += _one(settings, current, out_dir, wanted, email, lines, rules)
    for line in lines:  # after the progress bar, so the two do not share a terminal line
        click.echo(line)
    return 1 if failures else 0


def inhibit_rules(settings: Settings) -> Sequence[InhibitRule]:
    """The inhibition rules in force, as the daemon loads them: REPORTER_ALERTING_FILE's ``inhibit_rules`` with the
    built-in ones (unless turned off), the built-in ones without a file. A bad alerting file is one warning on
    stderr, and the built-in rules apply (a report does not need the receivers that file also holds)."""
    from reporter.alerting.inhibition import DEFAULT_RULES
    from reporter.alerting.loading import AlertingConfigError, load_alerting

    try:
        return load_alerting(settings).inhibit_rules
    except AlertingConfigError as exc:
        click.echo(f"reporter: warning: bad alerting configuration ({exc}); the report marks the alerts inhibited "
                   "by the built-in inhibition rules only", err=True)
        return DEFAULT_RULES


def _one(settings: Settings, period: Period, out_dir: Path, formats: tuple, email: bool, lines: list[str],
         rules: Sequence[InhibitRule] | None = None) -> int:
    import logging

    from reporter.report.files import render_time_limit, report_files
    from reporter.report.mail import MailError, build_message, send
    from reporter.report.render import RenderError, render_in_child

    try:
        produced = render_in_child(settings, period, out_dir, formats,
                                   timeout=render_time_limit(settings.report_timeout), nice=5, inhibit_rules=rules)
    except RenderError as exc:
        prefix = {"pdf": "PDF failed: ", "timeout": "", "crash": "", "template": "", "write": ""}
        click.echo(f"reporter: {period}: {prefix.get(exc.kind, 'rendering failed: ')}{exc}", err=True)
        return 1
    if produced.stderr.strip():  # the child's log lines (e.g. inconsistent AI counters)
        click.echo(produced.stderr.rstrip(), err=True)
    for warning in produced.warnings:
        logging.getLogger("reporter.report.produce").warning("report %s: PDF renderer: %s", period, warning)
    note = f" (no data for this {period.noun})" if produced.empty else ""
    lines.append(f"{period}: " + ", ".join(str(p) for p in produced.files) + note)
    if email:
        try:
            produced_names = {p.name for p in produced.files}
            files = {k: v for k, v in report_files(out_dir, period).items()
                     if v.name in produced_names or k == "html"}
            send(settings, build_message(settings, period.key, settings.host_name, files))
        except MailError as exc:
            click.echo(f"reporter: {period}: email not sent: {exc}", err=True)
            return 1
        lines.append(f"{period}: emailed to {', '.join(settings.email_to)}")
    return 0


def run_export(settings: Settings, first: str, last: str, metrics: str | None, out: Path | None) -> int:
    """Write the history between two times as CSV to ``out`` (or stdout)."""
    from reporter.store.export import export_csv

    start, end = parse_time(first, "--from", settings.tz), parse_time(last, "--to", settings.tz)
    if end <= start:
        raise click.BadParameter("--to must be after --from", param_hint="--to")
    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    if out is not None and not out.parent.is_dir():
        raise click.BadParameter(f"folder {out.parent} does not exist", param_hint="--out")
    history = open_history(settings)
    try:
        if names:
            unknown = [m for m in names if m not in history.metrics]
            if unknown:
                raise click.BadParameter(f"unknown metric(s) {', '.join(unknown)}; known: "
                                         f"{', '.join(history.metrics)}", param_hint="--metrics")
        total = int((end - start).total_seconds())
        if out is None:
            rows = export_csv(history, sys.stdout, start.astimezone(UTC), end.astimezone(UTC), names)
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle, \
                    click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
                rows = export_csv(history, handle, start.astimezone(UTC), end.astimezone(UTC), names, bar.update)
            click.echo(f"{rows} rows written to {out}", err=True)
    finally:
        history.close()
    return 0
