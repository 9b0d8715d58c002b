"""The report's "AI service" section: what Ollama did with the configured model over the period (issue 13).

- **Residency**, per host that read Ollama's ``GET /api/ps`` (:class:`Residency`): the share of its samples with
  the model loaded (``ollama_model_loaded`` = 1 of the samples that read it), and of those loaded samples the
  share on the GPU (``ollama_model_cpu_offload_ratio`` 0) and partly on the CPU (ratio > 0); the highest ratio
  and its first sample; the loads the reporter saw (the increase of ``ollama_model_loads``, from the last reading
  in the hour before the period, resets counted); the synthetic probe's median time to first token and tokens
  per second (the medians of the samples that hold them).
- **Throughput**, per AI feature and overall (:class:`Throughput`), from the application's counters as the other
  AI figures: counter increases between consecutive app samples (a decrease is a reset: the step is the new
  value). A *token interval* is one where both ``ai_{f}_completion_tokens`` and ``ai_{f}_generation_seconds``
  increased or stayed (both read on either side); over the token intervals: tokens per second = completion
  tokens / generation seconds, tokens per request = tokens / request increase. Overall: the sums over the
  features. Compared with the previous period's tokens per second (percent change) when the report compares.
- **Cold loads**: the increase of ``ai_{f}_cold_loads`` per feature (any interval).

Absent data is None and not shown, never 0: a feature without token counters has no throughput, a host that
never read ``/api/ps`` nor ran the probe has no residency.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from reporter.base.ms import from_ms
from reporter.report.samples import Samples

if TYPE_CHECKING:
    from reporter.store.history import History

# the host columns the residency reads (per host, with the host's other figures)
HOST_COLUMNS = ("ollama_model_loaded", "ollama_model_cpu_offload_ratio", "ollama_model_loads",
                "ollama_probe_first_token_seconds", "ollama_probe_tokens_per_second")


@dataclass(frozen=True)
class Residency:
    """One host's view of the configured model over the period: ``read`` samples that read ``/api/ps`` (the
    loaded flag), ``loaded`` of them with the model loaded, ``on_gpu`` of those with offload ratio 0 and
    ``on_cpu`` with ratio > 0 (a loaded sample without a ratio is in neither); ``worst_ratio`` (0-1) the highest
    offload ratio of a loaded sample and ``worst_at`` its first sample (None: none); ``loads`` the increase of
    the reporter's load counter (None: never read twice); ``first_token`` (seconds) and ``probe_tps``
    (tokens/s): the medians of the synthetic probe's samples (None: the probe did not run)."""

    host: str
    read: int
    loaded: int
    on_gpu: int
    on_cpu: int
    worst_ratio: float | None
    worst_at: datetime | None
    loads: float | None
    first_token: float | None
    probe_tps: float | None

    @property
    def loaded_share(self) -> float | None:
        """Samples with the model loaded of those that read ``/api/ps``, percent."""
        return self.loaded / self.read * 100.0 if self.read else None

    @property
    def gpu_share(self) -> float | None:
        """Loaded samples fully on the GPU (offload ratio 0), percent of the loaded samples."""
        return self.on_gpu / self.loaded * 100.0 if self.loaded else None

    @property
    def cpu_share(self) -> float | None:
        """Loaded samples partly on the CPU (offload ratio > 0), percent of the loaded samples."""
        return self.on_cpu / self.loaded * 100.0 if self.loaded else None


@dataclass(frozen=True)
class Throughput:
    """One feature's (or, ``name`` None, every feature's) generation over the period: over its token intervals
    ``requests``, ``prompt_tokens``, ``completion_tokens`` and ``generation_seconds`` (sums of increases; None
    without token intervals); ``cold_loads`` (increase of its cold-load counter over any interval, None when
    never written); ``previous_tps`` (the previous period's tokens per second) and ``change`` (percent of it)."""

    name: str | None
    requests: float | None
    prompt_tokens: float | None
    completion_tokens: float | None
    generation_seconds: float | None
    cold_loads: float | None
    previous_tps: float | None = None
    change: float | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens / generation seconds (None without generation time)."""
        if self.completion_tokens is None or not self.generation_seconds:
            return None
        return self.completion_tokens / self.generation_seconds

    @property
    def prompt_per_request(self) -> float | None:
        """Prompt tokens per request over the token intervals (None without requests)."""
        return self.prompt_tokens / self.requests if self.prompt_tokens is not None and self.requests else None

    @property
    def completion_per_request(self) -> float | None:
        """Completion tokens per request over the token intervals (None without requests)."""
        return (self.completion_tokens / self.requests
                if self.completion_tokens is not None and self.requests else None)


@dataclass(frozen=True)
class AIService:
    """``Report.ai_service``: ``residency`` of each host that read Ollama's ``/api/ps`` or ran the probe (the
    hosts the report details), ``features`` with a token or cold-load figure, ``overall`` (None without token
    intervals), ``previous`` True when compared with a previous period."""

    residency: list[Residency]
    features: list[Throughput]
    overall: Throughput | None
    previous: bool = False

    @property
    def known(self) -> bool:
        """Something to show."""
        return bool(self.residency or self.features)

    @property
    def throughput(self) -> list[Throughput]:
        """The features with tokens per second."""
        return [f for f in self.features if f.tokens_per_second is not None]

    @property
    def cold_loads(self) -> float | None:
        """The application's cold loads of every feature (None when no feature wrote the counter)."""
        known = [f.cold_loads for f in self.features if f.cold_loads is not None]
        return sum(known) if known else None


def _median(values: np.ndarray) -> float | None:
    clean = values[~np.isnan(values)]
    return float(np.median(clean)) if len(clean) else None


def residency(host: str, table: Samples, base_loads: float | None) -> Residency | None:
    """The :class:`Residency` of ``host`` from its samples of the period (``table``: the columns of
    :data:`HOST_COLUMNS`, NaN where missing) and the last load count before the period (``base_loads``, the base
    of the first increase); None when no sample read ``/api/ps`` nor ran the probe."""
    loaded = table.column("ollama_model_loaded")
    ratio = table.column("ollama_model_cpu_offload_ratio")
    loads = table.column("ollama_model_loads")
    if base_loads is not None:
        loads = np.concatenate(([base_loads], loads))
    read = ~np.isnan(loaded)
    up = read & (loaded >= 0.5)
    rated = up & ~np.isnan(ratio)
    present = loads[~np.isnan(loads)]  # readings on either side of a missing one still make a step
    steps = np.diff(present)
    load_count = float(np.where(steps < 0, present[1:], steps).sum()) if len(present) > 1 else None
    first_token = _median(table.column("ollama_probe_first_token_seconds"))
    probe_tps = _median(table.column("ollama_probe_tokens_per_second"))
    if not read.any() and load_count is None and first_token is None and probe_tps is None:
        return None
    worst, worst_at = None, None
    if rated.any():
        at = int(np.flatnonzero(rated)[np.argmax(ratio[rated])])
        worst, worst_at = float(ratio[at]), from_ms(int(table.ts[at]))
    return Residency(host, int(read.sum()), int(up.sum()), int((rated & (ratio == 0)).sum()),
                     int((rated & (ratio > 0)).sum()), worst, worst_at, load_count, first_token, probe_tps)


def loads_before(history: History, host: str | None, start: datetime) -> float | None:
    """The last ``ollama_model_loads`` reading of ``host`` (None: the history's own) in the hour before
    ``start`` (the base of the period's first load increase), None when there is none."""
    found = None
    for chunk in history.row_chunks(["ollama_model_loads"], start - timedelta(hours=1), start, host=host):
        found = next((r[1] for r in reversed(chunk) if r[1] is not None), found)
    return found


def _sum(values: np.ndarray) -> float | None:
    clean = values[~np.isnan(values)]
    return float(clean.sum()) if len(clean) else None


def throughput(samples: Samples, feature: str) -> Throughput | None:
    """``feature``'s :class:`Throughput` from the app ``samples`` (the report's, a base row before the period
    first); None when it has neither token intervals nor cold loads."""
    if len(samples) < 2:
        return None
    completion = samples.increases(f"ai_{feature}_completion_tokens")
    seconds = samples.increases(f"ai_{feature}_generation_seconds")
    tokens = ~np.isnan(completion) & ~np.isnan(seconds)
    cold = _sum(samples.increases(f"ai_{feature}_cold_loads"))
    if not tokens.any() and cold is None:
        return None
    if not tokens.any():
        return Throughput(feature, None, None, None, None, cold)
    return Throughput(feature, _sum(samples.increases(f"ai_{feature}_requests")[tokens]),
                      _sum(samples.increases(f"ai_{feature}_prompt_tokens")[tokens]),
                      float(completion[tokens].sum()), float(seconds[tokens].sum()), cold)


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def overall(features: list[Throughput]) -> Throughput | None:
    """The sums of the features with token intervals (None when none has)."""
    timed = [f for f in features if f.generation_seconds is not None]
    if not timed:
        return None
    out = Throughput(None, None, None, None, None, None)
    for f in timed:
        out = replace(out, requests=_add(out.requests, f.requests), prompt_tokens=_add(out.prompt_tokens,
                                                                                        f.prompt_tokens),
                      completion_tokens=_add(out.completion_tokens, f.completion_tokens),
                      generation_seconds=_add(out.generation_seconds, f.generation_seconds))
    return out


def ai_service(hosts: list[Residency | None], samples: Samples, features: list[str]) -> AIService:
    """The period's :class:`AIService` from the hosts' residency (None: a host without Ollama figures, or not
    detailed) and the app ``samples``; without comparison (:func:`compared`)."""
    found = [t for f in features if (t := throughput(samples, f)) is not None]
    return AIService([h for h in hosts if h is not None], found, overall(found))


def _change(current: Throughput, before: Throughput | None) -> Throughput:
    prev = before.tokens_per_second if before is not None else None
    now = current.tokens_per_second
    change = (now - prev) / prev * 100.0 if now is not None and prev else None
    return replace(current, previous_tps=prev, change=change)


def compared(current: AIService, previous: AIService | None) -> AIService:
    """``current`` with each tokens per second compared with ``previous`` (the previous period's; None: no
    previous period, nothing compared)."""
    if previous is None:
        return current
    before = {f.name: f for f in previous.features}
    return AIService(current.residency, [_change(f, before.get(f.name)) for f in current.features],
                     None if current.overall is None else _change(current.overall, previous.overall),
                     previous=True)
