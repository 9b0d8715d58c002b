"""Which snapshots a rule is evaluated on: every host's (per-host rules) or the leader's once (app-wide rules).

A fleet's leader evaluates the per-host rules on every host's latest snapshot, each alert labelled
``host=<name>``, and the app-wide rules once, on its own snapshot, with no ``host`` label (so their fingerprint
does not change when leadership moves). A rule is app-wide when every value it reads is the application's, not a
host's: an ``error_spike``, ``anomaly``, ``throughput_drop`` or ``receiver_failing`` rule; a threshold rule whose
metric (and ``min_count_metric``) are under ``ai.`` or ``usage.``; a ``predict_linear`` or ``increase`` rule on a
metric of the catalog's ``ai`` or ``usage`` sections. Every other rule (system, services, ``host_down``) is per host.
"""

from __future__ import annotations

from dataclasses import dataclass

from reporter.alerting.rules import Rule

APP_SECTIONS = ("ai", "usage")  # snapshot sections (and catalog sections) sampled once for the whole fleet
HOST_LABEL = "host"


def app_wide_rule(rule: Rule, features: list[str]) -> bool:
    """True when ``rule`` reads only app-wide values (see the module docstring)."""
    if rule.kind in ("error_spike", "anomaly", "throughput_drop", "receiver_failing"):
        return True
    if rule.kind == "host_down":
        return False
    if rule.kind in ("predict_linear", "increase"):
        from reporter.catalog import catalog

        metric = catalog(features).get(rule.metric)
        return metric is not None and metric.section in APP_SECTIONS
    paths = [p for _, path, guard in rule.instances() for p in (path, guard) if p is not None]
    return all(path.split(".", 1)[0] in APP_SECTIONS for path in paths)


def without_host(labels: dict[str, str]) -> dict[str, str]:
    """``labels`` less the ``host`` label (an alert's labels as its rule instance makes them)."""
    return {k: v for k, v in labels.items() if k != HOST_LABEL}


@dataclass(frozen=True)
class Instance:
    """One labelled instance of a rule: its labels and fingerprint (without ``host``), the snapshot paths it
    reads, and whether it is app-wide (evaluated once, on the leader's snapshot, with no ``host`` label)."""

    rule: Rule
    labels: dict[str, str]
    fingerprint: str
    path: str
    guard: str | None
    app_wide: bool = False
