"""Suppression: why an alert sends nothing while it keeps its state.

An alert is *suppressed* (Alertmanager's ``status.state = "suppressed"``) while an active silence matches it
(``silenced_by``: the silence ids) or while a firing alert inhibits it through an inhibition rule
(``inhibited_by``: the fingerprints of the inhibiting alerts, as Alertmanager's ``status.inhibitedBy``). The
dispatcher sends nothing for a suppressed alert; ``reporter alerts``, ``/alerts``, the snapshot and ``/metrics``
show it with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reporter.alerting.inhibition import InhibitRule
from reporter.alerting.model import AlertState
from reporter.alerting.silences import SilenceStore
from reporter.alerting.state import AlertRecord


@dataclass(frozen=True)
class Suppression:
    """Why one alert is suppressed: the ids of the active silences matching it, the fingerprints of the firing
    alerts inhibiting it, and one human line (``reason``) naming both (silence ids; rule and source labels)."""

    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)
    reason: str = ""


def inhibitions(records: Iterable[AlertRecord], rules: Sequence[InhibitRule]) -> dict[str, tuple[list[str], str]]:
    """``{fingerprint: ([source fingerprints], reason)}`` for each alert inhibited by a *firing* alert (the
    sources are the firing records; a source never inhibits itself). ``reason`` names the first rule that
    applies and its first source, e.g. ``inhibited by default:ollama_down (source: alertname=service_down,
    service=ollama)``. As in Alertmanager, an alert matching both a rule's source and target matchers is not
    inhibited by other alerts that match both. Linear in the alerts per rule: each rule's sources are indexed
    by their ``equal`` labels."""
    records = list(records)
    sources = [r for r in records if r.state == AlertState.FIRING]
    if not rules or not sources:
        return {}
    found: dict[str, tuple[list[str], str]] = {}
    for rule in rules:
        by_equal: dict[tuple[str, ...], list[AlertRecord]] = {}
        for source in sources:
            if all(m.matches(source.labels) for m in rule.source):
                by_equal.setdefault(tuple(source.labels.get(n, "") for n in rule.equal), []).append(source)
        if not by_equal:
            continue
        for target in records:
            if not all(m.matches(target.labels) for m in rule.target):
                continue
            both = all(m.matches(target.labels) for m in rule.source)
            # Alertmanager: an alert matching both sides is not inhibited by alerts matching both sides
            hits = [s for s in by_equal.get(tuple(target.labels.get(n, "") for n in rule.equal), ())
                    if s.fingerprint != target.fingerprint
                    and not (both and all(m.matches(s.labels) for m in rule.target))]
            if not hits:
                continue
            ids, reason = found.setdefault(target.fingerprint, ([], ""))
            if not reason:
                pairs = ",".join(f"{k}={v}" for k, v in sorted(hits[0].labels.items()) if k != "severity")
                found[target.fingerprint] = (ids, f"inhibited by {rule.name} (source: {pairs})")
            ids.extend(s.fingerprint for s in hits if s.fingerprint not in ids)
    return found


def suppressions(records: Iterable[AlertRecord], now: datetime, silences: SilenceStore | None,
                 rules: Sequence[InhibitRule]) -> dict[str, Suppression]:
    """``{fingerprint: Suppression}`` for the suppressed alerts among ``records`` at ``now`` (UTC). ``silences``
    None leaves silences out (they could not be read). Raises SQLAlchemy errors when the silences cannot be
    read."""
    records = list(records)
    silenced = silences.silenced_by(records, now) if silences is not None and records else {}
    inhibited = inhibitions(records, rules)
    result = {}
    for fp in sorted(silenced.keys() | inhibited.keys()):
        ids = silenced.get(fp, [])
        sources, why = inhibited.get(fp, ([], ""))
        reasons = ([f"silenced by {', '.join(ids)}"] if ids else []) + ([why] if why else [])
        result[fp] = Suppression(list(ids), list(sources), "; ".join(reasons))
    return result
