"""Which inhibition rules an alert matches, as a source and as a target, remembered per alert across passes.

An alert's labels do not change (its fingerprint is their hash), so each alert is matched against a rule list's
matchers once, not at every dispatcher pass or evaluation; an entry is used only while the alert's labels are
still those it was computed for. :func:`rule_matches` keeps one index per distinct rule list (the last few).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from reporter.alerting.inhibition import InhibitRule
from reporter.alerting.state import AlertRecord

MAX_ALERTS = 50_000  # entries per index; beyond, it starts over (alerts of the past are not kept forever)
MAX_INDEXES = 4  # rule lists remembered (a reload brings a new one)


class RuleMatches:
    """For ``rules`` (in order): per alert, the indexes of the rules whose source matchers its labels match
    (a set) and of those whose target matchers they match (ascending, and as a set)."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = tuple(rules)
        self._seen: dict[str, tuple[dict[str, str], frozenset[int], tuple[int, ...], frozenset[int]]] = {}

    def of(self, record: AlertRecord) -> tuple[frozenset[int], tuple[int, ...], frozenset[int]]:
        """``(source rules, target rules in order, target rules)`` of ``record`` (by index in ``rules``)."""
        labels = record.labels
        hit = self._seen.get(record.fingerprint)
        if hit is not None and hit[0] == labels:
            return hit[1], hit[2], hit[3]
        source = frozenset(i for i, rule in enumerate(self.rules) if all(m.matches(labels) for m in rule.source))
        target = tuple(i for i, rule in enumerate(self.rules) if all(m.matches(labels) for m in rule.target))
        if len(self._seen) >= MAX_ALERTS:
            self._seen = {}
        self._seen[record.fingerprint] = (dict(labels), source, target, frozenset(target))
        return source, target, frozenset(target)


_indexes: dict[tuple[InhibitRule, ...], RuleMatches] = {}
_lock = threading.Lock()


def rule_matches(rules: Sequence[InhibitRule]) -> RuleMatches:
    """The index of ``rules`` (the same one for an equal rule list, e.g. after a reload that kept them)."""
    key = tuple(rules)
    with _lock:
        index = _indexes.get(key)
        if index is None:
            while len(_indexes) >= MAX_INDEXES:
                del _indexes[next(iter(_indexes))]
            index = _indexes[key] = RuleMatches(key)
        return index
