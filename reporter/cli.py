"""The ``reporter`` command line.

Exit codes: 0 success; 1 a runtime failure (port taken, history not writable); 2 a bad setting or usage.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

# A daemon must stop cleanly even when signalled while it is still importing: until `run` takes over, a
# SIGTERM/SIGINT only sets this flag, a SIGHUP (reload) is remembered and a SIGUSR1 (status) ignored; other
# commands restore the default handlers as soon as they start.
STOPPING = threading.Event()
RELOAD = threading.Event()
for _sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_sig, lambda *_: STOPPING.set())
if hasattr(signal, "SIGHUP"):  # POSIX
    signal.signal(signal.SIGHUP, lambda *_: RELOAD.set())
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402

from reporter import __version__  # noqa: E402
from reporter.masking import mask  # noqa: E402
from reporter.settings import Settings, SettingsError, load_settings, masked_items, unknown_names  # noqa: E402

EXIT_RUNTIME, EXIT_CONFIG = 1, 2


def _settings(ctx: click.Context) -> Settings:
    env_file = ctx.obj["env_file"]
    if env_file is not None and not (env_file.exists() or env_file.is_symlink()):
        click.echo(f"reporter: --env-file {env_file}: no such file", err=True)
        ctx.exit(EXIT_CONFIG)
    if env_file is not None and env_file.is_dir():
        click.echo(f"reporter: --env-file {env_file}: a folder, not a file of settings", err=True)
        ctx.exit(EXIT_CONFIG)
    env_file = env_file or Path(".env")
    try:
        settings = load_settings(env_file)
    except SettingsError as exc:
        for line in str(exc).splitlines():
            # a setting's line starts with its name; the env file's own problems start with the file name
            click.echo(f"reporter: bad setting {line}" if line.startswith("REPORTER_") else f"reporter: {line}",
                       err=True)
        ctx.exit(EXIT_CONFIG)
    for name in unknown_names(env_file, dict(os.environ)):
        click.echo(f"reporter: warning: {name}", err=True)
    return settings


def exit_now(code: int) -> None:
    """Exit with ``code`` without waiting for collector threads stuck in I/O on a hung dependency (their own
    timeouts end them eventually; a daemon's exit must not depend on it)."""
    import logging
    import threading

    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        logging.getLogger("reporter").warning("exiting without waiting for %d blocked thread(s): %s", len(stuck),
                                              ", ".join(stuck[:5]))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _alerting(ctx: click.Context, settings: Settings):
    from reporter.alerting.loading import AlertingConfigError, load_alerting

    try:
        return load_alerting(settings)
    except AlertingConfigError as exc:
        click.echo(f"reporter: bad alerting configuration: {exc}", err=True)
        ctx.exit(EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reporter")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File of REPORTER_* settings (default: .env in the working directory, if present); "
                   "environment variables win over it. Give it before the command: reporter --env-file F run")
@click.pass_context
def main(ctx: click.Context, env_file: Path) -> None:
    """Monitoring and reporting daemon for an LLM-backed application.

    Samples the host (CPU, memory, disk), the app's services (database, Redis, Ollama), AI usage counters in
    Redis and usage statistics from the app database; keeps the history; serves the latest snapshot as JSON.

    Settings come from REPORTER_* environment variables and the --env-file (default: .env in the working
    directory); `reporter config example` prints every setting with its default and meaning.
    Exit codes: 0 ok, 1 runtime failure, 2 bad setting or usage.
    """
    ctx.obj = {"env_file": env_file}
    if ctx.invoked_subcommand != "run":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        if STOPPING.is_set():
            ctx.exit(130)


@main.command(short_help="Run the daemon: sample, store, alert, serve HTTP.")
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon: sample every REPORTER_SAMPLE_INTERVAL seconds, store, serve HTTP.

    GET /snapshot returns the latest snapshot; GET /healthz is 200 while samples are fresh.
    Stops cleanly on SIGTERM or Ctrl-C (exit 0).

    \b
    SIGHUP (kill -HUP PID) reloads REPORTER_ALERTING_FILE (rules, receivers,
      defaults) as Prometheus does: alert states and pending `for` windows are
      kept, nothing sent is sent again; a bad file is refused with one log line
      and the running configuration stays.
    SIGUSR1 logs one status line (uptime, last sample, alerts, outbox queue).
    """
    stopping = STOPPING  # set by a signal that arrived during start-up
    settings = _settings(ctx)
    # an agent never leads: its alerting file is not read, and the alerting code never loads
    alerting_config = _alerting(ctx, settings) if settings.role == "node" else None
    from reporter import logs
    from reporter.daemon.run import StartupError
    from reporter.daemon.run import run as run_daemon

    logs.setup(settings.log_level)
    try:
        code = 0 if stopping.is_set() else run_daemon(settings, alerting_config, ctx.obj["env_file"], stopping,
                                                      RELOAD)
    except StartupError as exc:
        click.echo(f"reporter: {mask(str(exc))}", err=True)
        code = EXIT_CONFIG if exc.exit_code == EXIT_CONFIG else EXIT_RUNTIME
    exit_now(code)


@main.command(short_help="Print one snapshot as JSON (stores nothing).")
@click.option("--pretty/--compact", default=True, show_default=True, help="Indent the JSON.")
@click.pass_context
def sample(ctx: click.Context, pretty: bool) -> None:
    """Take one snapshot and print it as JSON on stdout (nothing is stored).

    Works with every dependency down: their sections show null values and the error.
    """
    settings = _settings(ctx)
    from reporter import logs
    from reporter.collect.sampler import Sampler

    logs.setup("ERROR" if settings.log_level != "DEBUG" else "DEBUG")
    sampler = Sampler.from_settings(settings)
    try:
        snapshot = sampler.sample()
    finally:
        sampler.close()
    click.echo(snapshot.model_dump_json(indent=2 if pretty else None))
    exit_now(0)


@main.command("check-config", short_help="Validate the settings and print them, secrets masked.")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the settings and the alerting file, and print the effective values (secrets masked), then
    (on stderr) the receivers, inhibition rules and time intervals (with the receivers they mute or activate).

    Exits 2 with one line per bad setting (or the first bad rule or receiver).
    """
    settings = _settings(ctx)
    config = _alerting(ctx, settings)
    for name, value in masked_items(settings):
        click.echo(f"{name}={'' if value is None else value}")
    click.echo(f"# settings are valid; {len(config.rules)} alert rules, {len(config.receivers)} receiver(s)", err=True)
    from reporter.alerting.describe import describe
    from reporter.alerting.escalation import describe as describe_escalations

    for line in [*describe(config), *describe_escalations(config.rules, config.receivers)]:
        click.echo(f"# {line}", err=True)


@main.command(short_help="Show alert states and their last notifications.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def alerts(ctx: click.Context, as_json: bool) -> None:
    """Show alert states from the history: pending, firing and resolved-awaiting-notification, with
    pending-since, firing-since and the last notification per receiver. A silenced or inhibited alert is
    marked suppressed, with the reason; an alert no configured receiver accepts says "no receiver matches"."""
    from reporter.alerting.cli import show_alerts
    from reporter.alerting.loading import AlertingConfigError, load_alerting

    settings = _settings(ctx)
    try:
        config = load_alerting(settings)
    except AlertingConfigError as exc:
        click.echo(f"reporter: warning: bad alerting configuration ({exc}); receivers are not checked and only "
                   "the built-in inhibition rules apply", err=True)
        config = None
    show_alerts(settings, as_json, config)


@main.group(invoke_without_command=True, short_help="List the hosts of the fleet and their status; forget one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON ({\"hosts\": [...]}, as GET /api/v1/hosts).")
@click.pass_context
def hosts(ctx: click.Context, as_json: bool) -> None:
    """List the hosts writing into the history of REPORTER_HISTORY_URL, by name: role (node or agent), whether
    it leads, status of its latest snapshot (or down: no sample for 3 sample intervals), age of its last sample
    and reporter version. A SQLite history is single-host: this host only, as leader.

    Exit codes: 0 every host is up, 1 a host is down (or the history cannot be read), 2 bad setting.
    `reporter hosts forget NAME` removes a host gone for good.
    """
    if ctx.invoked_subcommand is not None:
        return
    from reporter.cli_hosts import list_hosts

    ctx.exit(list_hosts(_settings(ctx), as_json))


@hosts.command("forget", short_help="Remove a host gone for good from the fleet: its alerts resolve.")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.pass_context
def hosts_forget(ctx: click.Context, name: str, yes: bool) -> None:
    """Remove host NAME, decommissioned for good, from the fleet's registry: it leaves `reporter hosts`,
    /api/v1/hosts and the status page, and the leader resolves its alerts (host_down and its per-host alerts,
    each resolution notified once) at its next evaluation. Its samples are NOT deleted: they stay in the history
    until REPORTER_RETENTION_DAYS removes them (reports of past periods still show the host). A host that starts
    again registers again and is monitored again.

    Refused while the host's reporter runs (it holds its host-name lock): stop it first. Asks for confirmation
    unless --yes (required without a terminal).

    Exit codes: 0 forgotten, 1 refused (running, unknown name, not confirmed) or the history cannot be reached,
    2 bad setting, a SQLite history (a single host: nothing to forget) or no terminal without --yes.
    """
    from reporter.cli_hosts import forget_host

    ctx.exit(forget_host(_settings(ctx), name, yes))


@main.command("test-alert", short_help="Send a test notification to the receivers.")
@click.option("--receiver", "receiver_name", metavar="NAME", help="Only this receiver (default: every one).")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for delivery.")
@click.pass_context
def test_alert_command(ctx: click.Context, receiver_name: str | None, wait: float) -> None:
    """Send a test notification (alertname=test_alert) through the real path: outbox, signing, retries.

    Exits 0 when delivered to every receiver, 1 otherwise (a queued one is retried by the daemon).
    """
    settings = _settings(ctx)
    config = _alerting(ctx, settings)
    from reporter.alerting.cli import test_alert

    ctx.exit(test_alert(settings, config, receiver_name, wait))


@main.group(short_help="Mute notifications of matching alerts for a while.")
def silence() -> None:
    """Mute notifications of matching alerts for a while (alerts keep their state)."""


@silence.command("add", short_help="Add a silence (now, or a maintenance window ahead).")
@click.option("--match", "matchers", multiple=True, required=True, metavar="LABEL=VALUE",
              help="Label matcher as in Alertmanager: name=value, name!=value, name=~regex or name!~regex "
                   "(a regex matches the whole value); repeat to AND them.")
@click.option("--start", default=None, metavar="TIME",
              help="When it starts (default: now): ISO 8601 (2026-12-05T02:00, local unless it has an offset) or "
                   "HH:MM (the next such local time). A later start is listed as pending until then.")
@click.option("--end", default=None, metavar="TIME", help="When it ends (instead of --duration): ISO 8601 or HH:MM "
                                                          "(the next such local time after the start).")
@click.option("--duration", default=None, help="How long from the start: 30m, 2h, 1d...  [default: 2h]")
@click.option("--comment", required=True, help="Why (shown in `silence list`).")
@click.option("--author", default=None, help="Who (default: the current user).")
@click.pass_context
def silence_add_command(ctx: click.Context, matchers, start: str | None, end: str | None, duration: str | None,
                        comment: str, author: str | None) -> None:
    """Add a silence: alerts matching every --match keep their state but send nothing until it ends.

    \b
    Example:
      reporter silence add --match alertname=cpu_high --match service=redis \\
        --duration 2h --comment "redis upgrade"
      reporter silence add --match host=db1 --start 02:00 --end 04:00 --comment "db1 kernel update"
    """
    from datetime import UTC, datetime

    from reporter.alerting.cli import silence_add
    from reporter.alerting.rules import parse_duration
    from reporter.alerting.silences import Matcher, parse_when

    settings = _settings(ctx)
    now = datetime.now(UTC)
    when: dict[str, datetime] = {}
    if duration is not None and end is not None:
        click.echo("reporter: silence add --end: give --end or --duration, not both", err=True)
        ctx.exit(EXIT_CONFIG)
    # bad input: one line naming the option, exit 2 (never a traceback, e.g. for a duration too large)
    checks: list[tuple[str, Callable[[], object]]] = [
        ("--duration", lambda: parse_duration(duration or "2h")),
        *(("--match", lambda m=m: Matcher.parse(m)) for m in matchers),
        ("--start", lambda: start is None or when.setdefault("start", parse_when(start, settings.tz, now))),
        ("--end", lambda: end is None or when.setdefault("end", parse_when(end, settings.tz, now,
                                                                             when.get("start", now))))]
    for option, check in checks:
        try:
            check()
        except ValueError as exc:
            click.echo(f"reporter: silence add {option}: {exc}", err=True)
            ctx.exit(EXIT_CONFIG)
    try:
        silence_add(settings, matchers, parse_duration(duration or "2h"), comment, author, now,
                    when.get("start"), when.get("end"))
    except ValueError as exc:
        click.echo(f"reporter: silence add: {exc}", err=True)
        ctx.exit(EXIT_CONFIG)


@silence.command("list", short_help="List pending and active silences (--all: expired ones too).")
@click.option("--all", "include_expired", is_flag=True, help="Include expired silences.")
@click.pass_context
def silence_list_command(ctx: click.Context, include_expired: bool) -> None:
    """List silences with their state: pending (starts later), active (with --all, expired ones too)."""
    from reporter.alerting.cli import silence_list

    silence_list(_settings(ctx), include_expired)


@silence.command("expire", short_help="End a silence now.")
@click.argument("silence_id")
@click.pass_context
def silence_expire_command(ctx: click.Context, silence_id: str) -> None:
    """End a silence now (a pending one never starts). Exits 1 when no pending or active silence has that id."""
    from reporter.alerting.cli import silence_expire

    if not silence_expire(_settings(ctx), silence_id):
        click.echo(f"reporter: no active or pending silence {silence_id}", err=True)
        ctx.exit(EXIT_RUNTIME)
    click.echo(f"{silence_id} expired")


@main.command("ack", short_help="Acknowledge an alert: it stops repeating until it resolves.")
@click.argument("target", metavar="FINGERPRINT|ALERTNAME")
@click.option("--comment", default="", help="What is being done (shown in notifications and the report).")
@click.option("--by", "by", default=None, help="Who acknowledges (default: the current user).")
@click.pass_context
def ack_command(ctx: click.Context, target: str, comment: str, by: str | None) -> None:
    """Acknowledge a pending or firing alert, by fingerprint (see `reporter alerts`) or by alert name (every
    active alert of that rule): it is not sent again on repeat_interval nor escalated, and its notifications,
    `reporter alerts`, /alerts and the report say who and when. The acknowledgement ends when the alert resolves.

    Exits 1 when no pending or firing alert matches.

    \b
    Example:
      reporter ack cpu_high --comment "restarting the workers"
    """
    from reporter.alerting.cli import ack_alerts

    ctx.exit(ack_alerts(_settings(ctx), target, comment, by))


@main.command(short_help="Render a day's, week's or month's report on demand.")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The day to render (local to REPORTER_TIMEZONE).")
@click.option("--week", metavar="YYYY-Www", help="The ISO week to render (2026-W48: Monday to Sunday).")
@click.option("--month", metavar="YYYY-MM", help="The calendar month to render (2026-11).")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day of a range (with --to).")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day of a range, included.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the files (default: REPORTER_REPORT_DIR).")
@click.option("--format", "formats", default="both", show_default=True, metavar="html|pdf|both",
              help="Files to write: html, pdf, or both (also html,pdf).")
@click.option("--email", is_flag=True, help="Also email each report now (REPORTER_SMTP_*, REPORTER_EMAIL_*).")
@click.pass_context
def report(ctx: click.Context, day, week, month, first, last, out, formats: str, email: bool) -> None:
    """Render the report of a day, an ISO week or a calendar month (or of each day of a range, with a progress
    bar) from the history.

    Writes <period>.html and .pdf (and the full long lists as <period>.<list>.csv), <period> being 2026-12-03,
    2026-W48 or 2026-11. The daemon renders every finished period of REPORTER_REPORTS on its own; this command
    renders on demand and does not change that schedule. A period not over yet is covered until now.
    Exits 1 when a report failed to render or to send.

    \b
    Examples:
      reporter report --date 2026-12-03
      reporter report --week 2026-W48 --email
      reporter report --month 2026-11 --format pdf
    """
    from reporter.report.cli import run_report

    ctx.exit(run_report(_settings(ctx), day, first, last, out, formats, email, week=week, month=month))


@main.command(short_help="Give a SQLite history's free space back.")
@click.pass_context
def vacuum(ctx: click.Context) -> None:
    """Give a SQLite history's free space back to the filesystem; a history made by an older version is switched
    to incremental vacuum (the daemon then shrinks the file after each prune). Stop the daemon first; needs
    as much free disk space as the file."""
    from reporter.vacuum import run_vacuum

    run_vacuum(_settings(ctx))


@main.command(short_help="Export the history as CSV.")
@click.option("--from", "first", required=True, metavar="TIME", help="Start, ISO date or time (local if no offset).")
@click.option("--to", "last", required=True, metavar="TIME", help="End (excluded).")
@click.option("--metrics", metavar="A,B,...", help="Columns to export (default: all; names as in the history).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV file to write (default: stdout). A progress bar shows on a file export.")
@click.pass_context
def export(ctx: click.Context, first: str, last: str, metrics: str | None, out: Path | None) -> None:
    """Export the history as CSV: a header row, ISO 8601 UTC timestamps, one column per metric."""
    from reporter.report.cli import run_export

    ctx.exit(run_export(_settings(ctx), first, last, metrics, out))


@main.group(short_help="Show an example settings file.")
def config() -> None:
    """Settings helpers (`reporter check-config` validates the effective settings)."""


@config.command("example", short_help="Print settings.example.env (every setting, default, meaning).")
def config_example() -> None:
    """Print the example settings file: every REPORTER_* setting with its default and meaning.

    Save it as .env in the folder you run reporter from (every command reads it), then edit:
    reporter config example > .env
    """
    click.echo(example_settings(), nl=False)


def example_settings() -> str:
    """The text of ``settings.example.env`` as installed with the package."""
    from importlib.resources import files

    return files("reporter").joinpath("settings.example.env").read_text(encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
