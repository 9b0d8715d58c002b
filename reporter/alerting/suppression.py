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

from reporter.alerting.inhibit_index import rule_matches
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
    inhibited by other alerts that match both. Each alert's matching rules are computed once
    (:mod:`reporter.alerting.inhibit_index`); each rule's sources are indexed by their ``equal`` labels."""
    records = list(records)
    if not rules or not any(r.state == AlertState.FIRING for r in records):
        return {}
    index = rule_matches(rules)
    rules = index.rules
    matched = [index.of(r) for r in records]
    # each rule's firing sources, by their ``equal`` labels (in the order of ``records``)
    by_equal: list[dict[tuple[str, ...], list[tuple[AlertRecord, frozenset[int]]]] | None] = [None] * len(rules)
    for source, (source_of, _, target_of) in zip(records, matched, strict=True):
        if source.state != AlertState.FIRING:
            continue
        for i in source_of:
            groups = by_equal[i]
            if groups is None:
                groups = by_equal[i] = {}
            groups.setdefault(tuple(source.labels.get(n, "") for n in rules[i].equal), []).append(
                (source, target_of))
    found: dict[str, tuple[list[str], str]] = {}
    first: dict[str, tuple[int, int]] = {}  # fingerprint -> (its first rule, its place): the order of ``found``
    for place, (target, (as_source, as_target, _)) in enumerate(zip(records, matched, strict=True)):
        for i in as_target:
            groups = by_equal[i]
            if groups is None:
                continue
            rule, both = rules[i], i in as_source
            # Alertmanager: an alert matching both sides is not inhibited by alerts matching both sides
            hits = [s for s, s_target in groups.get(tuple(target.labels.get(n, "") for n in rule.equal), ())
                    if s.fingerprint != target.fingerprint and not (both and i in s_target)]
            if not hits:
                continue
            entry = found.get(target.fingerprint)
            if entry is None:
                pairs = ",".join(f"{k}={v}" for k, v in sorted(hits[0].labels.items()) if k != "severity")
                entry = found[target.fingerprint] = ([], f"inhibited by {rule.name} (source: {pairs})")
                first[target.fingerprint] = (i, place)
            ids, known = entry[0], set(entry[0])
            for s in hits:
                if s.fingerprint not in known:
                    known.add(s.fingerprint)
                    ids.append(s.fingerprint)
    return {fp: found[fp] for fp in sorted(found, key=first.__getitem__)}


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
