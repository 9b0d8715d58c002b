"""``reporter alerts``, ``reporter test-alert`` and ``reporter silence ...``: the alerting commands."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import time
import uuid
from datetime import UTC, datetime

import click
import httpx
from sqlalchemy import func, select

from reporter.alerting.acks import AckError, AckStore
from reporter.alerting.config import AlertingConfig, Receiver
from reporter.alerting.inhibition import DEFAULT_RULES
from reporter.alerting.model import AlertNotice, Notification, fingerprint
from reporter.alerting.pipeline import external_url
from reporter.alerting.silences import Matcher, SilenceStore
from reporter.alerting.state import AlertRecord, AlertStore
from reporter.alerting.suppression import Suppression, suppressions
from reporter.base.ms import from_ms
from reporter.base.timefmt import format_local, format_utc
from reporter.cli_history import open_history
from reporter.masking import mask
from reporter.notify.outbox import Outbox
from reporter.notify.render import renderer
from reporter.settings import Settings
from reporter.store.alert_schema import notification_log, outbox


def _when(value: datetime | None, tz) -> str:
    return "-" if value is None else format_local(value, tz)


def _utc(value: datetime | None) -> str | None:
    """A time in JSON as everywhere else (snapshot, API): UTC, milliseconds, ``Z``."""
    return None if value is None else format_utc(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _line(text: str) -> None:
    """Echo one line of text output with every control character a space: a silence comment, an author, an
    acknowledgement or a summary written through the API could otherwise move the cursor, retitle the terminal
    or forge lines (``\\x1b]0;...``, ``\\r\\n``)."""
    click.echo(_CONTROL.sub(" ", text))


def show_alerts(settings: Settings, as_json: bool, config: AlertingConfig | None = None) -> None:
    """Print every stored alert with its state, pending-since and last notification per receiver.

    A silenced or inhibited alert is marked suppressed with the reason (silence ids, inhibiting rule and alert);
    an acknowledged one says who and when. ``config`` (None when it cannot be read: the built-in inhibition rules
    apply) gives the inhibition rules and the receivers, to tell an alert that no receiver accepts ("no receiver
    matches") from one not notified yet, and the receivers muted now by their time intervals
    (``muted_receivers`` in JSON: name -> reason).
    """
    receivers = config.receivers if config is not None else None
    history = open_history(settings)
    try:
        records = AlertStore(history.engine).load()
        with history.engine.connect() as conn:
            log_rows = conn.execute(select(notification_log)).all()
            deliveries = _latest_deliveries(conn)
        live = [r for r in records.values() if r.resolved_at is None]
        suppressed = suppressions(live, datetime.now(UTC), SilenceStore(history.engine),
                                  config.inhibit_rules if config is not None else DEFAULT_RULES)
        acked = AckStore(history.engine).acked(records.values())
    finally:
        history.close()
    routes = {fp: [r.name for r in receivers if r.accepts(rec.labels)] for fp, rec in records.items()} \
        if receivers is not None else {}
    now = datetime.now(UTC)
    muted = {r.name: reason for r in receivers or [] if (reason := r.muted(now))}  # by their time intervals
    sent: dict[str, list[str]] = {}
    for row in log_rows:
        last = max(v for v in (row.firing_sent_at, row.resolved_sent_at) if v is not None) \
            if (row.firing_sent_at or row.resolved_sent_at) else None
        kind = "resolved" if row.resolved_sent_at and last == row.resolved_sent_at else "firing"
        sent.setdefault(row.fingerprint, []).append(f"{row.receiver}: {kind} at {_when(from_ms(last), settings.tz)}")
    if as_json:
        click.echo(json.dumps([{
            "fingerprint": r.fingerprint, "alertname": r.alertname, "host": r.labels.get("host"),
            "state": "resolved" if r.resolved_at else str(r.state), "labels": r.labels,
            "annotations": r.annotations, "value": r.value,
            "active_at": _utc(r.active_at), "fired_at": _utc(r.fired_at),
            "resolved_at": _utc(r.resolved_at), "notified": sent.get(r.fingerprint, []),
            "deliveries": {n: deliveries[n] for n in routes.get(r.fingerprint) or [] if n in deliveries},
            "suppressed": r.fingerprint in suppressed, "silenced_by": _of(suppressed, r).silenced_by,
            "inhibited_by": _of(suppressed, r).inhibited_by, "suppressed_reason": _of(suppressed, r).reason or None,
            "receivers": routes.get(r.fingerprint),
            "muted_receivers": {n: muted[n] for n in routes.get(r.fingerprint) or [] if n in muted},
            "acknowledged": _ack_json(acked.get(r.fingerprint)),
        } for r in records.values()], indent=2))
        return
    if not records:
        click.echo("no active alerts")
        return
    width = max(len(r.labels.get("host", "-")) for r in records.values())
    for r in sorted(records.values(), key=lambda r: (str(r.state) != "firing", r.alertname, r.labels.get("host", ""))):
        state = "resolved" if r.resolved_at else str(r.state)
        extra = " ".join(f"{k}={v}" for k, v in r.labels.items() if k not in ("alertname", "severity", "host"))
        mark = " [suppressed]" if r.fingerprint in suppressed else ""
        host = r.labels.get("host", "-")  # "-": an app-wide alert (or one stored before hosts)
        _line(f"{state:8} {host:{width}} {r.alertname} {r.labels.get('severity', '')} {extra}".rstrip() + mark)
        _line(f"         pending since {_when(r.active_at, settings.tz)}; firing since {_when(r.fired_at, settings.tz)}"
                   + (f"; resolved {_when(r.resolved_at, settings.tz)}" if r.resolved_at else ""))
        _line(f"         {r.annotations.get('summary', '')}")
        if r.fingerprint in suppressed:
            _line(f"         suppressed: {suppressed[r.fingerprint].reason} (notifications muted)")
        if ack := acked.get(r.fingerprint):
            _line(f"         acknowledged by {ack.by} at {_when(ack.at, settings.tz)}"
                       + (f": {ack.comment}" if ack.comment else "") + " (no repeats, no escalation)")
        unsent = _not_notified(routes.get(r.fingerprint), receivers, r.fingerprint in suppressed)
        for line in sent.get(r.fingerprint, [unsent]):
            _line(f"         last notification: {line}")
        for name in routes.get(r.fingerprint) or []:
            if (latest := deliveries.get(name)) and latest["status"] != "delivered":
                code = f", last answer {latest['status_code']}" if latest["status_code"] else ""
                error = f": {latest['error']}" if latest["error"] else ""
                _line(f"         delivery to {name}: its latest notification is {latest['status']} after "
                           f"{latest['attempts']} attempt(s){code}{error}")
        for name in routes.get(r.fingerprint) or []:
            if name in muted:
                _line(f"         receiver {name} muted now: {muted[name]} (told when the window ends)")


def _latest_deliveries(conn) -> dict[str, dict]:
    """Per receiver, how its most recent notification in the outbox fares: ``status`` (pending, delivered,
    failed, expired), ``attempts``, the last answer's ``status_code`` and ``error`` (masked, one line); a
    notification queued is not one delivered."""
    newest = select(outbox.c.receiver, func.max(outbox.c.created_at).label("at")).group_by(outbox.c.receiver) \
        .subquery()
    rows = conn.execute(select(outbox.c.receiver, outbox.c.status, outbox.c.attempts, outbox.c.last_status_code,
                               outbox.c.last_error)
                        .join(newest, (outbox.c.receiver == newest.c.receiver) & (outbox.c.created_at == newest.c.at)))
    return {row.receiver: {"status": row.status, "attempts": row.attempts, "status_code": row.last_status_code,
                           "error": mask(row.last_error)[:200] if row.last_error else None} for row in rows}


def _ack_json(ack) -> dict | None:
    return None if ack is None else {"by": ack.by, "at": _utc(ack.at), "comment": ack.comment}


def _not_notified(routes: list[str] | None, receivers: list[Receiver] | None, silenced: bool) -> str:
    if receivers is not None and not receivers:
        return "no receiver matches (no receiver is configured)"
    if routes == []:
        return "no receiver matches"
    return "none (suppressed)" if silenced else "not notified yet"


def _of(suppressed: dict[str, Suppression], record: AlertRecord) -> Suppression:
    return suppressed.get(record.fingerprint, Suppression())


def test_alert(settings: Settings, config: AlertingConfig, receiver_name: str | None, wait: float) -> int:
    """Send a test notification through the real path (outbox, retries) to one or every receiver.

    Returns 0 when every one was delivered within ``wait`` seconds, 1 otherwise.
    """
    receivers = [r for r in config.receivers if receiver_name in (None, r.name)]
    if not receivers:
        names = ", ".join(r.name for r in config.receivers) or "none configured"
        raise click.UsageError(f"no receiver {receiver_name!r} (receivers: {names})" if receiver_name else
                               "no receiver configured: set REPORTER_SLACK_WEBHOOK_URL, REPORTER_WEBHOOK_URL or "
                               "receivers in REPORTER_ALERTING_FILE")
    history = open_history(settings)
    render = renderer(settings.tz)
    outbox = Outbox(history.engine, receivers, config.defaults)
    url = external_url(settings)  # as the daemon sends it
    now = datetime.now(UTC)
    ids = {}
    for receiver in receivers:
        labels = {"alertname": "test_alert", "severity": "info", "receiver": receiver.name}
        notification = Notification(
            id=f"msg_{uuid.uuid4().hex}", receiver=receiver.name, created_at=now, external_url=url,
            alerts=[AlertNotice("firing", labels, {"summary": "Test notification from reporter",
                                                   "description": f"Sent by `reporter test-alert` at "
                                                                  f"{_when(now, settings.tz)}."},
                                now, None, fingerprint(labels), generator_url=f"{url}/alerts")])
        outbox.enqueue(notification.id, receiver.name, render(receiver, notification), 1, now)
        ids[receiver.name] = notification.id

    async def deliver() -> None:
        # no client-wide timeout (httpx's default is 5 s): each attempt is bounded by its receiver's own timeout
        async with httpx.AsyncClient(timeout=None, follow_redirects=False) as client:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                await outbox.deliver_due(client)
                states = [_status(outbox, i)["status"] for i in ids.values()]
                if all(s != "pending" for s in states):
                    return
                await asyncio.sleep(0.2)

    try:
        asyncio.run(deliver())
        failures = 0
        for name, notification_id in ids.items():
            status = _status(outbox, notification_id)
            line = f"{name}: {status['status']} after {status['attempts']} attempt(s)"
            if status["status"] != "delivered":
                failures += 1
                line += f"; last error: {status['last_error']}"
                if status["status"] == "pending":
                    line += " (still queued: the daemon keeps retrying it)"
            _line(line)  # the last error quotes the receiver's answer
    finally:
        history.close()
    return 0 if failures == 0 else 1


def silence_add(settings: Settings, matchers: tuple[str, ...], seconds: float, comment: str, author: str | None,
                now: datetime, start: datetime | None = None, end: datetime | None = None) -> None:
    """Store a silence from ``start`` (None: now) until ``end`` (None: for ``seconds``) and print its id and
    times; ValueError (one line) when the times are wrong."""
    parsed = [Matcher.parse(m) for m in matchers]
    history = open_history(settings)
    try:
        silence = SilenceStore(history.engine).add(parsed, seconds, comment, author or getpass.getuser(), now,
                                                   starts_at=start, ends_at=end)
    finally:
        history.close()
    since = f" from {_when(silence.starts_at, settings.tz)}" if silence.state(now) == "pending" else ""
    _line(f"{silence.id}{since} until {_when(silence.ends_at, settings.tz)}"
          f"{' (pending)' if since else ''}: {' '.join(map(str, parsed))}")  # a matcher's value is typed text


def silence_list(settings: Settings, include_expired: bool) -> None:
    """Print the silences, one a line: id, state (pending, active, expired), start -> end, matchers, author."""
    now = datetime.now(UTC)
    history = open_history(settings)
    try:
        silences = SilenceStore(history.engine).list(now, include_expired)
    finally:
        history.close()
    if not silences:
        click.echo("no silences")
    for s in silences:
        _line(f"{s.id}  {s.state(now):7}  {_when(s.starts_at, settings.tz)} -> {_when(s.ends_at, settings.tz)}"
                   f"  {' '.join(map(str, s.matchers))}  by {s.created_by}: {s.comment}")


def silence_expire(settings: Settings, silence_id: str) -> bool:
    history = open_history(settings)
    try:
        return SilenceStore(history.engine).expire(silence_id, datetime.now(UTC))
    finally:
        history.close()


def ack_alerts(settings: Settings, target: str, comment: str, by: str | None) -> int:
    """``reporter ack``: acknowledge the pending or firing alert with fingerprint ``target``, or every one of the
    alert name ``target``, as ``by`` (default: the OS user); prints one line per alert acknowledged. Returns 0, or
    1 with one line on stderr when no active alert matches or the acknowledgement is refused."""
    history = open_history(settings)
    now = datetime.now(UTC)
    try:
        store = AckStore(history.engine)
        try:
            found = store.matching(target, AlertStore(history.engine).load().values())
            acked = [(record, store.ack(record.fingerprint, by or getpass.getuser(), comment, now))
                     for record in found]
        except AckError as exc:
            click.echo(f"reporter: ack: {exc}", err=True)
            return 1
    finally:
        history.close()
    for record, ack in acked:
        extra = " ".join(f"{k}={v}" for k, v in sorted(record.labels.items()) if k not in ("alertname", "severity"))
        _line(f"acknowledged {record.fingerprint} {record.alertname} {extra}".rstrip()
              + f" ({record.state}) by {ack.by} at {_when(ack.at, settings.tz)}")
    return 0


def _status(outbox: Outbox, notification_id: str) -> dict:
    """The outbox row of a notification this command queued (kept: only the daemon's prune deletes rows, days
    after their delivery); LookupError when it is gone all the same."""
    status = outbox.status(notification_id)
    if status is None:
        raise LookupError(f"notification {notification_id} is no longer in the outbox")
    return status
