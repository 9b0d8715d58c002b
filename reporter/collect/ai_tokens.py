"""The optional token counters of each AI feature: reading them, and their lifetime and windowed figures.

Keys per feature (prefix ``ai:`` by default), written by the application with ``INCRBY`` (see
:mod:`reporter.ai_usage`), from Ollama's response fields:

- ``{feature}:prompt_tokens`` (``prompt_eval_count``) and ``{feature}:completion_tokens`` (``eval_count``): tokens;
- ``{feature}:generation_ns`` (``eval_duration``): integer nanoseconds spent generating the completion tokens;
- ``{feature}:cold_loads``: requests that waited for the model to load (``load_duration`` above a threshold).

Unlike the request counters, an absent key is None (the application does not write it: not shown, never 0). A
value is a whole number from 0 to 2^63 - 1 (Redis's own limit for ``INCRBY``), read exactly (``generation_ns``
legitimately passes 2^53 after 104 days of generation); anything else (a float, a negative number, text) is None
with one warning.

Units in the counters (:meth:`reporter.collect.ai.AICollector.read`, the counter window, and
:meth:`reporter.store.history.History.counter_samples`, which returns the history column under the same key):
tokens and loads as integers, ``generation_ns`` as **seconds** rounded to the microsecond, exactly the value the
history column ``ai_{feature}_generation_seconds`` (seconds x 10^6) stores and gives back, so that a window
seeded from history at start gives the same tokens per second as the live one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace

from reporter.counters import CounterSample, window_increase
from reporter.snapshot import FeatureStats, FeatureWindow, WindowStats

TOKEN_COUNTERS = ("prompt_tokens", "completion_tokens", "generation_ns", "cold_loads")
MAX_INT64 = 2**63 - 1  # INCRBY's limit


def token_names(features: Iterable[str]) -> list[str]:
    """The token counter names without prefix, four per feature in :data:`TOKEN_COUNTERS` order."""
    return [f"{feature}:{counter}" for feature in features for counter in TOKEN_COUNTERS]


def ns_to_seconds(nanoseconds: int) -> float:
    """Integer nanoseconds as seconds rounded to the microsecond (the history column's precision), computed
    on integers so that nothing is lost before the one division."""
    return ((nanoseconds + 500) // 1000) / 1_000_000


def token_value(name: str, raw: bytes) -> tuple[float | None, str | None]:
    """``(value, None)`` for a usable raw Redis value of token counter ``name`` (``generation_ns`` converted to
    seconds, see the module docstring), ``(None, problem)`` otherwise: "not a whole number", "not a number",
    "negative" or "too large"."""
    if raw.isdigit():  # ASCII digits only: the fast path for what INCRBY writes
        number = int(raw)
        if number > MAX_INT64:
            return None, f"too large (the limit is 2^63 - 1 = {MAX_INT64}, Redis's own for INCRBY)"
        return (ns_to_seconds(number) if name.endswith(":generation_ns") else number), None
    text = raw.strip()
    if text.startswith(b"-") and text[1:].isdigit():
        return None, "negative (a counter only grows from 0)"
    try:
        float(text)
    except ValueError:
        return None, "not a number"
    return None, "not a whole number (write it with INCRBY: integer tokens, loads or nanoseconds)"


def mark_resets(values: Mapping[str, float | None], absent: Collection[str]) -> Mapping[str, float | None]:
    """The values to put in the counter window: ``values`` with each ``absent`` token counter set to 0, so that
    a key deleted (Redis flushed: a reset) or written for the first time counts from 0 in the next window. The
    figures of a counter absent from the latest read are not shown (:func:`add_window` takes ``absent``), so a
    counter never written stays None, never 0."""
    return {**values, **dict.fromkeys(absent, 0)} if absent else values


def mark_seeded_resets(samples: Sequence[CounterSample], features: Sequence[str]) -> list[CounterSample]:
    """:func:`mark_resets` over samples read from history (oldest first), where an absent key was stored as
    null: a token counter is taken as absent in a row whose ``{feature}:requests`` was read (not null)."""
    out: list[CounterSample] = []
    names = [(f"{f}:requests", f"{f}:{c}") for f in features for c in TOKEN_COUNTERS]
    for sample in samples:
        absent = [name for requests, name in names
                  if sample.values.get(name) is None and sample.values.get(requests) is not None]
        values = mark_resets(sample.values, absent)
        out.append(sample if values is sample.values else replace(sample, values=values))
    return out


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole <= 0:
        return None
    return round(part / whole, 6)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def add_lifetime(stats: FeatureStats, counters: Mapping[str, float | None], feature: str) -> None:
    """Fill the token fields of ``stats`` from the lifetime ``counters`` (None where absent or unusable);
    ``tokens_per_second`` = completion tokens / generation seconds (6 decimals)."""
    completion = counters.get(f"{feature}:completion_tokens")
    seconds = counters.get(f"{feature}:generation_ns")
    stats.prompt_tokens = _int(counters.get(f"{feature}:prompt_tokens"))
    stats.completion_tokens = _int(completion)
    stats.generation_seconds = seconds
    stats.cold_loads = _int(counters.get(f"{feature}:cold_loads"))
    stats.tokens_per_second = _ratio(completion, seconds)


def add_window(stats: WindowStats, samples: Sequence[CounterSample], features: Sequence[str],
               absent: Collection[str] = ()) -> None:
    """Fill the token figures of a window (its ``features`` entries already made) from the counter increases
    over ``samples`` (resets handled; a counter in ``absent``, not in Redis at the latest read, is None): per
    feature ``tokens_per_second`` = completion tokens / generation
    seconds, ``prompt_`` and ``completion_tokens_per_request`` = tokens / requests, ``cold_loads``; overall the
    sums over the features that write them (None when none does), tokens per second over the features that
    write both completion tokens and generation time."""
    totals: dict[str, float | None] = {"prompt_tokens": None, "completion_tokens": None, "cold_loads": None}
    rate_tokens = rate_seconds = 0.0
    for feature in features:
        increases = {c: None if f"{feature}:{c}" in absent else window_increase(samples, f"{feature}:{c}")
                     for c in TOKEN_COUNTERS}
        requests = stats.features[feature].requests if feature in stats.features else window_increase(
            samples, f"{feature}:requests")
        completion, seconds = increases["completion_tokens"], increases["generation_ns"]
        window = stats.features.setdefault(feature, FeatureWindow())
        window.tokens_per_second = _ratio(completion, seconds)
        window.prompt_tokens_per_request = _ratio(increases["prompt_tokens"], requests)
        window.completion_tokens_per_request = _ratio(completion, requests)
        window.cold_loads = increases["cold_loads"]
        for name in totals:
            if (value := increases[name]) is not None:
                totals[name] = (totals[name] or 0.0) + value
        if completion is not None and seconds is not None:
            rate_tokens += completion
            rate_seconds += seconds
    stats.prompt_tokens = totals["prompt_tokens"]
    stats.completion_tokens = totals["completion_tokens"]
    stats.cold_loads = totals["cold_loads"]
    stats.tokens_per_second = _ratio(rate_tokens, rate_seconds)
