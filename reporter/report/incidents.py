"""The incidents of a report's period: its alert episodes (one fingerprint, firing to resolved), counted and
timed, compared with the previous period of the same kind, and the noisiest rules.

Definitions (stated in the report too):

- an *incident* is one alert episode that was firing at some point of the period (``Report.alerts``: most
  severe first, then the longest, then the earliest);
- *MTTR* (mean time to resolve) is the mean of the **whole** durations, firing to resolved, of the episodes
  **resolved during the period** (an episode that began before the period counts from its start; one still
  firing at the period's end is left out, it has no time to resolve yet);
- the *longest* is the episode that fired longest **within** the period (its clipped ``seconds``);
- an *inhibited* episode began while an alert that inhibits it (an inhibition rule in force) was firing, e.g.
  ``model_unavailable`` while ``service_down{service=ollama}`` fired: a consequence of that outage, counted
  apart and never as critical;
- the *noisiest rules* are the rules (alert names) with the most episodes in the period, then the longest total
  firing time within it.

Pure functions over :class:`~reporter.report.model.Report`; no database access.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from reporter.report.model import AlertEpisode, Report, severity_rank

NOISIEST = 5  # rules shown


@dataclass(frozen=True)
class RuleNoise:
    """One rule (alert name) over the period: its episodes, their total firing ``seconds`` within the period,
    its most severe severity, and its episodes in the previous period (None without a previous period)."""

    name: str
    episodes: int
    seconds: float
    severity: str
    previous: int | None = None


@dataclass(frozen=True)
class Incidents:
    """The incident figures of one period.

    ``episodes``: every episode (most severe first); ``count``: how many; ``critical``: those of severity
    ``critical``/``page`` not inhibited; ``inhibited``: those inhibited when they began (any severity);
    ``firing``: still firing at the end of the period; ``resolved``: resolved during it;
    ``seconds``: their total firing time within the period (seconds, overlapping episodes add up); ``mttr``: the
    mean whole duration of the resolved ones (seconds; None when none was resolved); ``longest``: the episode
    that fired longest within the period (None without episodes); ``noisiest``: the top rules by episode count.
    """

    episodes: list[AlertEpisode]
    count: int
    critical: int
    firing: int
    resolved: int
    seconds: float
    mttr: float | None
    longest: AlertEpisode | None
    noisiest: list[RuleNoise]
    inhibited: int = 0

    @property
    def longest_seconds(self) -> float | None:
        """The longest episode's firing time within the period, seconds (None without episodes)."""
        return None if self.longest is None else self.longest.seconds


def resolve_seconds(episode: AlertEpisode) -> float | None:
    """The whole duration of a resolved episode, firing to resolved, in seconds (None while still firing)."""
    return None if episode.end is None else max(0.0, (episode.end - episode.start).total_seconds())


def mean_time_to_resolve(episodes: list[AlertEpisode]) -> float | None:
    """MTTR in seconds: the mean whole duration of the resolved ``episodes`` (None when none is resolved)."""
    durations = [s for s in map(resolve_seconds, episodes) if s is not None]
    return sum(durations) / len(durations) if durations else None


def noisiest_rules(episodes: list[AlertEpisode], previous: list[AlertEpisode] | None = None,
                   limit: int = NOISIEST) -> list[RuleNoise]:
    """The ``limit`` rules with the most episodes, then the longest total firing time within the period, then by
    name; each with its episode count in ``previous`` (the previous period's episodes; None: not known)."""
    counts: dict[str, list[AlertEpisode]] = defaultdict(list)
    for episode in episodes:
        counts[episode.alertname].append(episode)
    before: dict[str, int] = defaultdict(int)
    for episode in previous or []:
        before[episode.alertname] += 1
    rules = [RuleNoise(name, len(found), sum(e.seconds for e in found),
                       min((e.severity for e in found), key=severity_rank),
                       None if previous is None else before[name])
             for name, found in counts.items()]
    return sorted(rules, key=lambda r: (-r.episodes, -r.seconds, r.name))[:limit]


def incidents(report: Report) -> Incidents:
    """The incident figures of ``report`` from its episodes (``report.alerts``), the noisiest rules compared with
    ``report.previous`` (when it is there). Never raises; an empty period gives zero counts and None figures."""
    episodes = list(report.alerts)
    previous = None if report.previous is None else list(report.previous.alerts)
    return Incidents(
        episodes=episodes,
        count=len(episodes),
        critical=sum(1 for e in episodes if severity_rank(e.severity) == 0 and not e.inhibited_by),
        firing=sum(1 for e in episodes if e.firing),
        resolved=sum(1 for e in episodes if not e.firing),
        seconds=sum(e.seconds for e in episodes),
        mttr=mean_time_to_resolve(episodes),
        longest=max(episodes, key=lambda e: (e.seconds, -e.start.timestamp()), default=None),
        noisiest=noisiest_rules(episodes, previous),
        inhibited=sum(1 for e in episodes if e.inhibited_by),
    )
