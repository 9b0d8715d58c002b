"""Slack incoming-webhook body for one notification (Block Kit inside a coloured attachment).

Shape of the body (``POST`` it as JSON to the webhook URL)::

    {
      "text": "[FIRING:3] cpu_high on web2, service_down",  # fallback: notifications, previews
      "attachments": [{
        "color": "#d32f2f",                                   # by severity; green when resolved
        "fallback": "<same as text>",
        "blocks": [
          {"type": "header", ...},                            # ":rotating_light: [FIRING:3] cpu_high, ..."
          {"type": "context", ...},                           # counts, receiver, group labels, link
          {"type": "section", ...},                           # one per alert (name on host, severity, summary,
          ...                                                 #   description, labels, start/end time, who
                                                              #   acknowledged it and when)
          {"type": "context", ...}                            # "and N more", only when alerts are left out
        ]
      }]
    }

Slack's limits are respected: at most ``MAX_BLOCKS`` (50) blocks, at most ``MAX_SECTION_CHARS`` (3,000)
characters in a section or context text, at most ``MAX_HEADER_CHARS`` (150) in the header; longer text is
cut and ends with "…". Every value (labels, annotations, names) goes through :func:`escape_mrkdwn`, so a
value can neither inject a mention (``<!channel>``) nor a link. Alerts are shown firing first, then by
severity (critical, warning, info), so that the ones cut off by the block limit are the least urgent.
An alert's ``host`` label (every per-host alert of a fleet has one) is named in the title and its section
(``cpu_high on web2``) rather than among the other labels.

A message of one's own (the ``slack.txt.j2`` template, ``reporter.notify.templates``) goes out as
:func:`text_payload`: ``{"text": <the text>, "blocks": [<one mrkdwn section per 3,000 characters>]}``.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from reporter.base.timefmt import duration, format_local
from reporter.notify.notification import SEVERITIES, AlertNotice, Notification

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_FALLBACK_CHARS = 300
MAX_TEXT_CHARS = 4000  # the "text" of a templated message (Slack advises at most 4,000 characters)
# Per-field budgets inside a section, so that the start/end lines survive a very long description.
MAX_NAME_CHARS = 200
MAX_SUMMARY_CHARS = 500
MAX_DESCRIPTION_CHARS = 1500
MAX_LABELS_CHARS = 600
ELLIPSIS = "…"

COLOR_BY_SEVERITY = {"critical": "#d32f2f", "warning": "#f57c00", "info": "#1976d2"}
COLOR_RESOLVED = "#2e7d32"
COLOR_UNKNOWN = "#757575"
EMOJI_BY_SEVERITY = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}
EMOJI_RESOLVED = ":large_green_circle:"
HEADER_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}

_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape_mrkdwn(value: object) -> str:
    """``str(value)`` with Slack's control characters escaped: ``&`` → ``&amp;``, ``<`` → ``&lt;``, ``>`` → ``&gt;``.

    Slack decodes exactly these three entities for display; nothing else must be entity-encoded.
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with "…" when cut.

    Never splits an entity made by :func:`escape_mrkdwn` (``&amp;``, ``&lt;``, ``&gt;``).
    """
    if len(text) <= limit:
        return text
    head = _PARTIAL_ENTITY.sub("", text[: limit - len(ELLIPSIS)])
    return head + ELLIPSIS


def slack_payload(notification: Notification, tz: ZoneInfo) -> dict:
    """The Slack incoming-webhook body for ``notification``; times for people are shown in ``tz``.

    At most ``MAX_BLOCKS`` blocks: a header, a context line, one section per alert and, when alerts do not
    fit (or ``notification.truncated`` > 0), a final context block "and N more" where N counts the alerts not
    shown plus ``notification.truncated``.
    """
    alerts = sorted(notification.alerts, key=_urgency)
    status = notification.status
    fallback = truncate(_title(notification, alerts), MAX_FALLBACK_CHARS)

    blocks: list[dict] = [_header(notification, alerts), _context(notification, alerts)]
    room = MAX_BLOCKS - len(blocks)
    if len(alerts) > room or notification.truncated > 0:
        room -= 1  # keep one block for "and N more"
    shown = alerts[:room]
    blocks.extend(_section(alert, tz) for alert in shown)
    hidden = len(alerts) - len(shown) + notification.truncated
    if hidden > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {hidden} more"}]})

    attachment = {"color": _color(status, alerts), "fallback": fallback, "blocks": blocks}
    return {"text": fallback, "attachments": [attachment]}


def text_payload(text: str) -> dict:
    """The body of a message whose mrkdwn ``text`` is already written (and escaped): ``text`` (cut to
    ``MAX_TEXT_CHARS``; notifications and the plain-text retry show it) and the whole text as mrkdwn sections of
    at most ``MAX_SECTION_CHARS`` characters each, cut at line ends where possible, at most ``MAX_BLOCKS``."""
    text = text.strip("\n")
    chunks: list[str] = []
    for line in text.split("\n"):
        if chunks and len(chunks[-1]) + 1 + len(line) <= MAX_SECTION_CHARS:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(chunk, MAX_SECTION_CHARS),
                                           "verbatim": True}}
              for chunk in chunks[:MAX_BLOCKS] if chunk.strip()]
    return {"text": truncate(text, MAX_TEXT_CHARS), "blocks": blocks}


def _urgency(alert: AlertNotice) -> tuple[int, int]:
    severity = alert.labels.get("severity", "")
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
    return (0 if alert.status == "firing" else 1, rank)


def _color(status: str, alerts: list[AlertNotice]) -> str:
    """Green when resolved; else the colour of the most severe firing alert (grey for an unknown severity)."""
    if status == "resolved":
        return COLOR_RESOLVED
    firing = [a for a in alerts if a.status == "firing"]
    return COLOR_BY_SEVERITY.get(firing[0].labels.get("severity", ""), COLOR_UNKNOWN)


def _title(notification: Notification, alerts: list[AlertNotice]) -> str:
    """``[FIRING:2, RESOLVED:1] cpu_high, service_down`` (escaped), alert names in display order."""
    firing = sum(1 for a in alerts if a.status == "firing")
    resolved = len(alerts) - firing
    counts = [f"FIRING:{firing}"] if firing else []
    counts += [f"RESOLVED:{resolved}"] if resolved or not alerts else []
    hosts: dict[str, list[str]] = {}  # alert name -> its hosts, in display order
    for a in alerts:
        on = hosts.setdefault(a.labels.get("alertname", ""), [])
        if (host := a.labels.get("host")) and host not in on:
            on.append(host)
    names = [f"{name} on {', '.join(on)}" if on else name for name, on in hosts.items()]
    text = f"[{', '.join(counts)}] " + escape_mrkdwn(", ".join(names))
    if notification.truncated:
        text += f" (+{notification.truncated} more)"
    return text


def _header(notification: Notification, alerts: list[AlertNotice]) -> dict:
    text = f"{HEADER_EMOJI[notification.status]} {_title(notification, alerts)}"
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_CHARS), "emoji": True},
    }


def _context(notification: Notification, alerts: list[AlertNotice]) -> dict:
    """Counts, receiver, group labels and the external URL on one line."""
    firing = sum(1 for a in alerts if a.status == "firing")
    parts = [f"*{firing}* firing, *{len(alerts) - firing}* resolved"]
    parts.append(f"receiver *{escape_mrkdwn(notification.receiver)}*")
    if notification.group_labels:
        parts.append("group " + _pairs(notification.group_labels))
    if link := _link(notification.external_url, "reporter"):
        parts.append(link)
    text = truncate(" · ".join(parts), MAX_SECTION_CHARS)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def _section(alert: AlertNotice, tz: ZoneInfo) -> dict:
    """One alert: name, severity and status; summary; description; other labels; start (and end) in ``tz``."""
    severity = alert.labels.get("severity", "")
    emoji = (
        EMOJI_RESOLVED if alert.status == "resolved" else EMOJI_BY_SEVERITY.get(severity, ":white_circle:")
    )
    name = truncate(escape_mrkdwn(alert.labels.get("alertname", "")), MAX_NAME_CHARS)
    if host := alert.labels.get("host"):
        name += f"* on *{truncate(escape_mrkdwn(host), MAX_NAME_CHARS)}"
    lines = [f"{emoji} *{name}* · {truncate(escape_mrkdwn(severity), 50)} · *{alert.status.upper()}*"]
    if summary := alert.annotations.get("summary"):
        lines.append(truncate(f"*Summary:* {escape_mrkdwn(summary)}", MAX_SUMMARY_CHARS))
    if description := alert.annotations.get("description"):
        lines.append(truncate(f"*Description:* {escape_mrkdwn(description)}", MAX_DESCRIPTION_CHARS))
    labels = {k: v for k, v in alert.labels.items() if k not in ("alertname", "severity", "host")}
    if labels:
        lines.append(truncate(f"*Labels:* {_pairs(labels)}", MAX_LABELS_CHARS))
    times = f"*Started:* {format_local(alert.starts_at, tz)}"
    if alert.status == "resolved" and alert.ends_at is not None:
        lasted = duration((alert.ends_at - alert.starts_at).total_seconds())
        times += f" · *Ended:* {format_local(alert.ends_at, tz)} (after {lasted})"
    if link := _link(alert.generator_url, "source"):
        times += f" · {link}"
    lines.append(times)
    if alert.acknowledged_by:
        lines.append(truncate(_acknowledged(alert, tz), MAX_SUMMARY_CHARS))
    text = truncate("\n".join(lines), MAX_SECTION_CHARS)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _acknowledged(alert: AlertNotice, tz: ZoneInfo) -> str:
    """``:eyes: *Acknowledged* by ann at 2026-11-02 09:05 CET: on it`` (escaped)."""
    text = f":eyes: *Acknowledged* by {escape_mrkdwn(alert.acknowledged_by)}"
    if alert.acknowledged_at is not None:
        text += f" at {format_local(alert.acknowledged_at, tz)}"
    if alert.ack_comment:
        text += f": {escape_mrkdwn(alert.ack_comment)}"
    return text


def _pairs(labels: dict[str, str]) -> str:
    return ", ".join(f"{escape_mrkdwn(k)}={escape_mrkdwn(v)}" for k, v in sorted(labels.items()))


def _link(url: str, label: str) -> str:
    """A Slack link ``<url|label>`` for an http(s) URL short enough to show, else ""."""
    if not url.startswith(("http://", "https://")) or len(url) > 1000:
        return ""
    return f"<{escape_mrkdwn(url.replace('|', '%7C').replace(' ', '%20'))}|{label}>"


