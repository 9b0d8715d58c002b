"""Which alert episodes of a report were inhibited when they began firing, by Alertmanager's inhibition rules
(:mod:`reporter.alerting.inhibition`): the rules in force (the alerting file's ``inhibit_rules``, with the built-in
ones unless turned off).

An episode (the *target*) is inhibited when, at the moment it began firing, another episode (the *source*) was
firing (``source.start <= target.start`` and the source resolved after that, or still fires) for a rule whose
target matchers match the target's labels, whose source matchers match the source's, with the rule's ``equal``
labels the same on both (a label absent on both counts as equal). As in Alertmanager, an episode matching both
sides of a rule is not inhibited by the episodes that also match both (so never by itself). An episode that began
before its source fired is not inhibited: it was notified as an alert of its own.

Per rule, the sources are grouped by their ``equal`` labels and sorted by start, with the latest end so far: each
target is one binary search per rule it matches (a month holds thousands of episodes).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from reporter.alerting.inhibition import InhibitRule
from reporter.report.model import AlertEpisode

LABELS_SHOWN = 48  # characters of a source's labels shown beside its name; longer: its name alone


def source_name(source: AlertEpisode, target: AlertEpisode) -> str:
    """How a report names the inhibiting episode: its alert name with the labels that tell it apart and that the
    target does not share (``service_down{service=ollama}``), or the name alone when there are none or they are
    long."""
    labels = sorted((k, v) for k, v in source.distinguishing_labels.items() if target.labels.get(k) != v)
    inner = ",".join(f"{k}={v}" for k, v in labels)
    return f"{source.alertname}{{{inner}}}" if inner and len(inner) <= LABELS_SHOWN else source.alertname


class _Group:
    """The sources of one rule with the same ``equal`` label values: their starts (ascending) and, for each
    prefix, the source that fires longest (an open one wins)."""

    __slots__ = ("latest", "starts")

    def __init__(self, sources: list[AlertEpisode]) -> None:
        sources.sort(key=lambda e: e.start)
        self.starts = [e.start for e in sources]
        self.latest: list[AlertEpisode] = []
        best: AlertEpisode | None = None
        for episode in sources:
            if best is None or (best.end is not None and (episode.end is None or episode.end > best.end)):
                best = episode
            self.latest.append(best)

    def firing_at(self, at: datetime) -> AlertEpisode | None:
        """A source that began at ``at`` or before and was still firing at ``at`` (None: none)."""
        k = bisect.bisect_right(self.starts, at)
        if not k:
            return None
        best = self.latest[k - 1]
        return best if best.end is None or best.end > at else None


def _key(labels: dict[str, str], equal: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in equal)


def mark_inhibited(episodes: Sequence[AlertEpisode], sources: Sequence[AlertEpisode],
                   rules: Sequence[InhibitRule]) -> list[AlertEpisode]:
    """``episodes`` (in their order), each inhibited one with ``inhibited_by`` set (the first rule, in order,
    that inhibits it names its source: :func:`source_name`). ``sources``: every episode that may have inhibited
    them (those of the period and those before it; ``episodes`` are among them as sources too)."""
    rules = list(rules)
    if not rules or not episodes:
        return list(episodes)
    first, last = min(e.start for e in episodes), max(e.start for e in episodes)
    sources = [s for s in sources if s.start <= last and (s.end is None or s.end > first)]
    # per rule: the sources by ``equal`` key (all of them; and those not matching the target side, for a target
    # that matches both sides)
    every: list[dict[tuple[str, ...], list[AlertEpisode]]] = [{} for _ in rules]
    one_sided: list[dict[tuple[str, ...], list[AlertEpisode]]] = [{} for _ in rules]
    for source in sources:
        for i, rule in enumerate(rules):
            if all(m.matches(source.labels) for m in rule.source):
                key = _key(source.labels, rule.equal)
                every[i].setdefault(key, []).append(source)
                if not all(m.matches(source.labels) for m in rule.target):
                    one_sided[i].setdefault(key, []).append(source)
    groups = [({k: _Group(v) for k, v in a.items()}, {k: _Group(v) for k, v in b.items()})
              for a, b in zip(every, one_sided, strict=True)]
    marked = []
    for episode in episodes:
        labels = episode.labels
        for i, rule in enumerate(rules):
            if not every[i] or not all(m.matches(labels) for m in rule.target):
                continue
            both = all(m.matches(labels) for m in rule.source)
            group = groups[i][1 if both else 0].get(_key(labels, rule.equal))
            found = group.firing_at(episode.start) if group is not None else None
            if found is not None:
                episode = replace(episode, inhibited_by=source_name(found, episode))
                break
        marked.append(episode)
    return marked
