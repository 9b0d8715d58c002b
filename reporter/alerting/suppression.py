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
    by_equal: list[dict[tuple[str, ...], _Sources] | None] = [None] * len(rules)
    for source, (source_of, _, target_of) in zip(records, matched, strict=True):
        if source.state != AlertState.FIRING:
            continue
        for i in source_of:
            groups = by_equal[i]
            if groups is None:
                groups = by_equal[i] = {}
            equal = rules[i].equal
            key = tuple(source.labels.get(n, "") for n in equal) if equal else ()
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Sources()
            group.add(source, target_of)
    found: dict[str, tuple[dict[str, None], str]] = {}  # fingerprint -> (source fingerprints in order, reason)
    reasons: dict[tuple[int, str], str] = {}  # (rule, first source) -> reason
    first: dict[str, tuple[int, int]] = {}  # fingerprint -> (its first rule, its place): the order of ``found``
    for place, (target, (as_source, as_target, _)) in enumerate(zip(records, matched, strict=True)):
        for i in as_target:
            groups = by_equal[i]
            if groups is None:
                continue
            rule = rules[i]
            group = groups.get(tuple(target.labels.get(n, "") for n in rule.equal) if rule.equal else ())
            if group is None:
                continue
            both = i in as_source
            if not both and target.fingerprint not in group.fingerprints:  # every source of the group
                source, fingerprints = group.records[0], group.fingerprints
            else:  # Alertmanager: an alert matching both sides is not inhibited by alerts matching both sides
                hits = [s for s, s_target in zip(group.records, group.target_of, strict=True)
                        if s.fingerprint != target.fingerprint and not (both and i in s_target)]
                if not hits:
                    continue
                source, fingerprints = hits[0], dict.fromkeys(s.fingerprint for s in hits)
            entry = found.get(target.fingerprint)
            if entry is None:
                reason = reasons.get((i, source.fingerprint))
                if reason is None:
                    pairs = ",".join(f"{k}={v}" for k, v in sorted(source.labels.items()) if k != "severity")
                    reason = reasons[(i, source.fingerprint)] = f"inhibited by {rule.name} (source: {pairs})"
                found[target.fingerprint] = (dict(fingerprints), reason)
                first[target.fingerprint] = (i, place)
            else:
                entry[0].update(fingerprints)  # new ones after, in their order
    return {fp: (list(found[fp][0]), found[fp][1]) for fp in sorted(found, key=first.__getitem__)}


class _Sources:
    """The firing sources of one inhibition rule with the same ``equal`` label values, in order: the records,
    the rules each matches as a target, and their fingerprints (each once)."""

    __slots__ = ("fingerprints", "records", "target_of")

    def __init__(self) -> None:
        self.records: list[AlertRecord] = []
        self.target_of: list[frozenset[int]] = []
        self.fingerprints: dict[str, None] = {}

    def add(self, record: AlertRecord, target_of: frozenset[int]) -> None:
        self.records.append(record)
        self.target_of.append(target_of)
        self.fingerprints[record.fingerprint] = None


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
        result[fp] = Suppression(list(ids), sources, "; ".join(reasons))  # inhibitions() made ``sources`` anew
    return result
