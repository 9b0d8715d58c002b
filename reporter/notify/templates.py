"""Notification templates: Jinja2 files from a folder that replace the built-in text of Slack messages, emails,
webhook annotations and Apprise messages.

The folder (``[templates] dir`` of the alerting file, loaded by ``reporter.alerting.config``) may hold these
files; any of them may be left out (that text stays built-in), any other ``*.j2`` file is refused (a typo must
not be silently ignored); files not ending in ``.j2`` are ignored::

    slack.txt.j2                 the Slack message (mrkdwn); every value printed by {{ }} is escaped for Slack
    email_subject.txt.j2         the email subject (made one line)
    email_body.txt.j2            the email's plain-text part (alone: the email has no HTML part)
    email_body.html.j2           the email's HTML part (autoescaped: every value printed by {{ }} is HTML-escaped)
    webhook_summary.txt.j2       each alert's ``summary`` annotation in the webhook payload (context: ``alert``)
    webhook_description.txt.j2   each alert's ``description`` annotation in the webhook payload
    apprise_title.txt.j2         the Apprise title
    apprise_body.txt.j2          the Apprise body (plain text)

Context (the names of the Alertmanager webhook payload): ``status`` (``firing`` when any alert fires, else
``resolved``), ``receiver``, ``groupKey``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``,
``truncatedAlerts``, ``alerts`` (each: ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt`` (None
while firing), ``generatorURL``, ``fingerprint``; times are aware UTC datetimes), ``firing`` and ``resolved`` (the
alerts of that status); ``alert``: the alert being rendered (webhook templates only). Filters: ``localtime``
(a time in ``REPORTER_TIMEZONE``: ``2026-11-02 09:00:00 CET``; ``localtime("%H:%M")`` for a format of your
own), ``duration`` (seconds or a timedelta for people: ``7 min``).

Templates run in Jinja2's sandbox with ``StrictUndefined``: a missing label is an error, not an empty string
(``alert.labels.team | default("")`` when a label may be absent). :meth:`TemplateSet.load` renders every
template once against a sample notification (``cpu_high`` firing on one host and resolved on another, with labels
``alertname``, ``severity``, ``host``, ``service`` and annotations ``summary``, ``description``) and raises
TemplateError naming the file and line. At run time :meth:`TemplateSet.render` returns None when a template
fails: the caller uses its built-in text, the error is counted (``reporter.notify.template_errors``,
``reporter_template_errors_total{template}`` in ``/metrics``) and logged (once per template and error every
5 minutes), and the notification goes out. Jinja2 is loaded only when a folder is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from reporter.base.errors import one_line
from reporter.base.timefmt import duration, format_local
from reporter.masking import mask
from reporter.notify.notification import AlertNotice, Notification
from reporter.notify.slack import escape_mrkdwn
from reporter.notify.template_errors import failed
from reporter.notify.webhook import common_pairs, group_key

KNOWN = (
    "slack.txt.j2",
    "email_subject.txt.j2",
    "email_body.txt.j2",
    "email_body.html.j2",
    "webhook_summary.txt.j2",
    "webhook_description.txt.j2",
    "apprise_title.txt.j2",
    "apprise_body.txt.j2",
)
PER_ALERT = ("webhook_summary.txt.j2", "webhook_description.txt.j2")  # rendered once per alert, with ``alert``
SAMPLE_LABELS = ("alertname", "severity", "host", "service")
MAX_SOURCE_BYTES = 256 * 1024



class TemplateError(ValueError):
    """A template folder or file is unusable; the message is one line naming the file (and line)."""


class TemplateSet:
    """The templates of one folder, compiled and checked; :meth:`render` gives a template's text or None.

    ``folder``: the folder as configured (absolute); ``tz``: ``REPORTER_TIMEZONE`` for the ``localtime`` filter;
    ``sources``: the text of each template by file name (two sets with the same sources are equal)."""

    def __init__(self, folder: Path, sources: dict[str, str], tz: tzinfo) -> None:
        self.folder, self.sources, self.tz = folder, sources, tz
        self._templates: dict[str, jinja2.Template] = {}
        for name, source in sources.items():
            env = _environment(name, tz)
            try:
                self._templates[name] = env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{folder / name}:{exc.lineno}: {_describe(exc)}") from None

    @classmethod
    def load(cls, folder: Path, tz: tzinfo) -> TemplateSet:
        """Read, compile and check every ``*.j2`` file of ``folder`` (each rendered against
        :func:`sample_notification`). Raises TemplateError (one line, naming the file and line): a missing folder,
        an unknown or unreadable file, a syntax error, an error while rendering the sample."""
        if not folder.is_dir():
            raise TemplateError(f"{folder}: not a folder")
        files = sorted(p.name for p in folder.iterdir() if p.name.endswith(".j2"))
        unknown = [name for name in files if name not in KNOWN]
        if unknown:
            raise TemplateError(f"{folder}: unknown template(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
        sources = {}
        for name in files:
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise TemplateError(f"{path}: cannot read ({exc.strerror})") from None
            if len(data) > MAX_SOURCE_BYTES:
                raise TemplateError(f"{path}: larger than {MAX_SOURCE_BYTES // 1024} KiB")
            try:
                sources[name] = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise TemplateError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        templates = cls(folder, sources, tz)
        templates.check(sample_notification())
        return templates

    def names(self) -> list[str]:
        """The overridden templates' file names, in the order of ``KNOWN``."""
        return [name for name in KNOWN if name in self._templates]

    def has(self, name: str) -> bool:
        """True when ``name`` (a file name of ``KNOWN``) is overridden."""
        return name in self._templates

    def check(self, notification: Notification) -> None:
        """Render every template against ``notification`` (each alert for a per-alert template); raises
        TemplateError naming the file and the line of the first error."""
        for name, template in self._templates.items():
            alerts = notification.alerts if name in PER_ALERT else [None]
            for alert in alerts:
                try:
                    text = template.render(context(notification, alert))
                except Exception as exc:
                    raise TemplateError(f"{self._where(name, exc.__traceback__)}: {_describe(exc)}") from None
                if not text.strip() and name not in PER_ALERT:
                    raise TemplateError(f"{self.folder / name}: renders an empty text for the sample notification")

    def render(self, name: str, notification: Notification, alert: AlertNotice | None = None) -> str | None:
        """The text of template ``name`` for ``notification`` (and ``alert`` for a per-alert template); None when
        it is not overridden or fails (or renders only whitespace, except per-alert ones): the caller then uses its
        built-in text. A failure is counted and logged (rate-limited), never raised."""
        template = self._templates.get(name)
        if template is None:
            return None
        try:
            text = template.render(context(notification, alert))
        except Exception as exc:
            failed(name, f"{self._where(name, exc.__traceback__)}: {_describe(exc)}")
            return None
        if not text.strip() and name not in PER_ALERT:
            failed(name, f"{self.folder / name}: rendered an empty text")
            return None
        return text

    def _where(self, name: str, tb: TracebackType | None) -> str:
        """``<folder>/<name>:<line>`` of the innermost template frame in ``tb`` (without the line when none)."""
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<template>":
                line = tb.tb_lineno
            tb = tb.tb_next
        return f"{self.folder / name}" + (f":{line}" if line is not None else "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TemplateSet) and (other.folder, other.sources) == (self.folder, self.sources)

    __hash__ = None  # type: ignore[assignment]


def context(notification: Notification, alert: AlertNotice | None = None) -> dict[str, Any]:
    """The variables a template sees for ``notification`` (see the module's docstring)."""
    alerts = [_alert(a) for a in notification.alerts]
    values = {
        "status": notification.status,
        "receiver": notification.receiver,
        "groupKey": group_key(notification.receiver, notification.group_labels),
        "groupLabels": dict(sorted(notification.group_labels.items())),
        "commonLabels": common_pairs([a.labels for a in notification.alerts]),
        "commonAnnotations": common_pairs([a.annotations for a in notification.alerts]),
        "externalURL": notification.external_url,
        "truncatedAlerts": notification.truncated,
        "alerts": alerts,
        "firing": [a for a in alerts if a["status"] == "firing"],
        "resolved": [a for a in alerts if a["status"] == "resolved"],
    }
    if alert is not None:
        values["alert"] = _alert(alert)
    return values


def sample_notification() -> Notification:
    """A made-up notification every template is rendered against at start, as grouping by ``alertname`` gives:
    ``cpu_high`` firing on ``web1`` and resolved on ``web2`` (so ``commonLabels`` has ``alertname``, ``severity``
    and ``service``, not ``host``)."""
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    firing = AlertNotice("firing", {"alertname": "cpu_high", "severity": "critical", "host": "web1",
                                    "service": "system"},
                         {"summary": "CPU at 97%", "description": "CPU above 90% for 5 min"}, start, None,
                         "0123456789abcdef", "http://reporter.example.com/alerts")
    resolved = AlertNotice("resolved", {"alertname": "cpu_high", "severity": "critical", "host": "web2",
                                        "service": "system"},
                           {"summary": "CPU at 45%", "description": "CPU above 90% for 5 min"},
                           start - timedelta(hours=1), start, "fedcba9876543210", "")
    return Notification(id="msg_sample", receiver="sample", alerts=[firing, resolved], created_at=start,
                        group_labels={"alertname": "cpu_high"}, external_url="http://reporter.example.com")


def _alert(alert: AlertNotice) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": dict(sorted(alert.labels.items())),
        "annotations": dict(sorted(alert.annotations.items())),
        "startsAt": alert.starts_at,
        "endsAt": alert.ends_at if alert.status == "resolved" else None,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def _environment(name: str, tz: tzinfo) -> SandboxedEnvironment:
    """The sandbox for template ``name``: StrictUndefined; HTML templates autoescaped; the Slack template's
    printed values escaped for mrkdwn (``&``, ``<``, ``>``)."""
    finalize: Callable[[Any], Any] | None = escape_mrkdwn if name.startswith("slack") else None
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=name.endswith(".html.j2"),
                               finalize=finalize, trim_blocks=True, lstrip_blocks=True)
    env.filters["localtime"] = lambda value, fmt=None: _localtime(value, tz, fmt)
    env.filters["duration"] = _duration
    return env


def _localtime(value: datetime | None, tz: tzinfo, fmt: str | None) -> str:
    if value is None:
        return ""
    return format_local(value, tz) if fmt is None else value.astimezone(tz).strftime(fmt)


def _duration(value: float | timedelta) -> str:
    return duration(value.total_seconds() if isinstance(value, timedelta) else float(value))


def _describe(exc: Exception) -> str:
    """One line: a Jinja2 error's message (``'dict object' has no attribute 'service'``), else ``Type: message``."""
    if isinstance(exc, jinja2.TemplateError) and exc.message:
        return mask(" ".join(exc.message.split()))
    return one_line(exc)
