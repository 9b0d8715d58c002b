"""The collector protocol: what the sampler needs from each source it reads.

A collector reads one source (the host, a service, the AI counters, the usage queries) and returns the piece of
the snapshot it fills, a :class:`Section`. Its ``name`` is both the key of its error in ``Snapshot.errors`` and
its place in the snapshot: a field of :class:`reporter.snapshot.Snapshot` (``system``, ``ai``, ``usage``) or of
:class:`reporter.snapshot.Services` (``database``, ``redis``, ``ollama``).

The sampler (:class:`reporter.collect.sampler.Sampler`) runs the collectors it is given, each on a thread
bounded by ``REPORTER_PROBE_TIMEOUT``; the default list is :func:`reporter.collect.defaults.default_collectors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Section(Generic[T]):
    """What one collection produced: ``value``, the snapshot piece (None when the source gave nothing), and
    ``error``, one line with secrets masked (None when all went well), recorded as ``Snapshot.errors[name]``."""

    value: T | None
    error: str | None = None

    @classmethod
    def of(cls, value: T) -> Section[T]:
        """A section whose error is the model's own ``error`` field (every section model but usage has one)."""
        return cls(value, getattr(value, "error", None))


class Collector(Protocol):
    """One source of the snapshot.

    Required: ``name`` (see the module docstring) and :meth:`collect`. The others have defaults when a class
    subclasses ``Collector`` explicitly (as the built-in collectors do).

    - ``collect(now)`` never raises for a down source: the failure is the returned section's ``error``. If it
      raises anyway, times out, or is still stuck from an earlier sample, the sampler records that as the error
      and fills the place with :meth:`missing`.
    - ``interval``: seconds between collections (0: every sample); in between, the snapshot carries the last
      section and its error.
    - ``inline``: the collector only reads this host and cannot block (psutil): it runs on the sampling thread
      while the others wait on I/O, instead of on a pool thread.
    - ``app_wide``: the collector reads figures of the whole application, not of this host (the AI counters,
      the usage statistics): in a fleet only the node that samples app-wide (the leader) runs it.
    - Construction is cheap and connects to nothing: clients are made on the first :meth:`collect`.
    """

    name: str
    interval: float = 0.0
    inline: bool = False
    app_wide: bool = False

    def collect(self, now: datetime) -> Section[Any]:
        """Read the source at ``now`` (the snapshot's timestamp, aware UTC) and return its section."""
        ...

    def missing(self, error: str) -> Any:
        """The value that fills the place when :meth:`collect` gave none (``error`` says why); None by default
        (the place must then be optional in the snapshot, as ``usage`` is)."""
        return None

    def shift_clock(self, seconds: float) -> None:
        """The wall clock stepped by ``seconds``: move any wall times held (default: none held)."""
        return None

    def close(self) -> None:
        """Release clients made by :meth:`collect` (default: none)."""
        return None
