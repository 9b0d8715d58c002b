"""``reporter hosts`` (list the fleet) and ``reporter hosts forget NAME`` (a host gone for good): what the
commands do; :mod:`reporter.cli` declares them. Each returns the exit code: 0 done, 1 a runtime failure or
refusal (the line says what to do), 2 a bad setting or usage."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

import click

from reporter import __version__
from reporter.base.errors import one_line
from reporter.base.timefmt import duration
from reporter.masking import mask
from reporter.settings import Settings

EXIT_RUNTIME, EXIT_CONFIG = 1, 2


def list_hosts(settings: Settings, as_json: bool) -> int:
    """Print the hosts of the history (a table, or ``{"hosts": [...]}`` as ``GET /api/v1/hosts``); 1 when a host
    is down (named on stderr) or the history cannot be read, else 0. Raises :class:`click.ClickException` for a
    history that is not there (exit 1, one line)."""
    from reporter.api.hostlist import host_entries, table
    from reporter.cli_history import read_only_engine
    from reporter.store.hosts import HostRegistry

    try:
        engine = read_only_engine(settings, "hosts")  # looks only: never creates nor migrates a schema
        try:
            entries = host_entries(HostRegistry(engine), settings.host_name, settings.fleet, datetime.now(UTC),
                                   settings.sample_interval, __version__)
        finally:
            engine.dispose()
    except click.ClickException:
        raise
    except Exception as exc:
        click.echo(f"reporter: cannot read the hosts from {mask(settings.history_url)} ({mask(one_line(exc))}); "
                   "check REPORTER_HISTORY_URL and that the database is up", err=True)
        return EXIT_RUNTIME
    if as_json:
        import json

        click.echo(json.dumps({"hosts": [e.as_json() for e in entries]}, indent=2))
    else:
        click.echo(table(entries))
    down = [e.name for e in entries if e.down]
    if down:
        click.echo(f"reporter: down (no sample for 3 intervals of {settings.sample_interval:g} s): "
                   f"{', '.join(down)}", err=True)
    return EXIT_RUNTIME if down else 0


def forget_host(settings: Settings, name: str, yes: bool, interactive: Callable[[], bool] | None = None) -> int:
    """Forget host ``name`` of the fleet (:mod:`reporter.fleet.forget`) after asking on the terminal unless
    ``yes``; ``interactive()`` says whether there is a terminal to ask on (default: stdin is one; without one,
    ``yes`` is required: exit 2). Exit codes: 0 forgotten; 1 unknown host (the known ones listed), host running,
    answer no, history unreachable; 2 a SQLite history (a single host) or no terminal without ``yes``. Raises
    :class:`click.ClickException` for a history that is not there (exit 1, one line)."""
    if not settings.fleet:
        click.echo("reporter: hosts forget: the history (REPORTER_HISTORY_URL) is SQLite, a single host: there is "
                   "no fleet to forget a host from (a fleet shares a PostgreSQL history)", err=True)
        return EXIT_CONFIG
    if not yes and not (interactive or sys.stdin.isatty)():
        click.echo(f"reporter: hosts forget: no terminal to confirm on; run `reporter hosts forget {name} --yes`",
                   err=True)
        return EXIT_CONFIG
    from reporter.cli_history import writable_engine
    from reporter.fleet.forget import HostRunning, UnknownHost, check, forget

    try:
        engine = writable_engine(settings, "hosts")
        try:
            row = check(engine, name)
            if not yes:
                age = ("never sampled" if row.last_sample is None else
                       f"last sample {duration(max(0.0, (datetime.now(UTC) - row.last_sample).total_seconds()))} ago")
                if not click.confirm(f"Forget host {name} ({age})? It leaves the host list and its alerts resolve; "
                                     "its samples stay until retention removes them", default=False):
                    click.echo(f"reporter: hosts forget: {name} not forgotten", err=True)
                    return EXIT_RUNTIME
            forget(engine, name)
        finally:
            engine.dispose()
    except (UnknownHost, HostRunning) as exc:
        click.echo(f"reporter: hosts forget: {mask(str(exc))}", err=True)
        return EXIT_RUNTIME
    except click.ClickException:
        raise
    except Exception as exc:
        click.echo(f"reporter: hosts forget: cannot reach the history at {mask(settings.history_url)} "
                   f"({mask(one_line(exc))}); check REPORTER_HISTORY_URL and that the database is up", err=True)
        return EXIT_RUNTIME
    click.echo(f"forgot host {name}: it is no longer listed and the leader resolves its alerts (host_down "
               "included) at its next evaluation; its samples stay until retention removes them")
    return 0
