"""What ``reporter check-config`` says about the alerting configuration: each receiver's routing and grouping,
the inhibition rules in force, the time intervals (:func:`reporter.alerting.intervals.check_lines`) and
whether a failing receiver is reported. One line each, for people (secrets are never part of it)."""

from __future__ import annotations

from reporter.alerting.config import AlertingConfig, Receiver
from reporter.alerting.intervals import check_lines
from reporter.alerting.rules import duration_text


def receiver_line(receiver: Receiver, config: AlertingConfig) -> str:
    """``receiver ops (webhook): group_by [alertname], group_wait 10s, group_interval 1m, repeat_interval 4h``
    followed by its routing (matchers, least severity) when it has any."""
    g = receiver.grouping(config.defaults)
    routing = [str(m) for m in receiver.route]
    if receiver.min_severity:
        routing.append(f"severity >= {receiver.min_severity}")
    return (f"receiver {receiver.name} ({receiver.type}): group_by [{', '.join(g.by)}], group_wait "
            f"{duration_text(g.wait)}, group_interval {duration_text(g.interval)}, repeat_interval {duration_text(g.repeat)}"
            + (f"; only {', '.join(routing)}" if routing else "")
            + ("" if receiver.send_resolved else "; send_resolved false"))


def describe(config: AlertingConfig) -> list[str]:
    """The lines: one per receiver, then one per inhibition rule (``name: source ... -> target ...``), then the
    notification templates in use (with a ``[templates]`` table), then one per time interval with the receivers
    it mutes or activates."""
    lines = [receiver_line(r, config) for r in config.receivers] or ["no receivers: alerts are evaluated, not sent"]
    lines.append(f"{len(config.inhibit_rules)} inhibition rule(s)"
                 + ("" if config.defaults.default_inhibit_rules else " (built-in ones turned off)"))
    for rule in config.inhibit_rules:
        equal = f" with equal [{', '.join(rule.equal)}]" if rule.equal else ""
        lines.append(f"  {rule.name}: {', '.join(map(str, rule.source))} mutes "
                     f"{', '.join(map(str, rule.target))}{equal}")
    if config.templates is not None:
        lines.append(f"templates: {config.templates.folder}: {', '.join(config.templates.names()) or 'none'} "
                     "overridden, the other texts built in")
    lines.append(failing_line(config))
    return lines + check_lines(config.time_intervals, [(r.name, r.mute_time_intervals, r.active_time_intervals)
                                                       for r in config.receivers])


def failing_line(config: AlertingConfig) -> str:
    """Whether a receiver that fails permanently is reported (``receiver_failing``), and to whom."""
    rules = [r for r in config.rules if r.kind == "receiver_failing"]
    if not rules:
        return "receiver_failing off: a receiver that fails permanently is only logged"
    rule, count = rules[0], len(config.receivers)
    who = ("to the other receivers" if count > 1
           else f"to the other receivers, but with {count} receiver(s) there is none (only logged)")
    return (f"{rule.name}: a receiver answering 401/403/404/410, or {rule.op} {rule.threshold:g} permanent failures "
            f"in a row, is reported {who}")
