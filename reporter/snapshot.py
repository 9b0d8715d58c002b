"""The Snapshot: one typed model per sample, the single source for the JSON endpoint, history rows and rules.

Conventions: timestamps are UTC, serialised ISO 8601 with ``Z``; durations in seconds unless the name says
``_ms``; percentages 0-100 with 2 decimals (``reporter.rounding``); sizes in bytes unless the name says ``_gb``
(GiB, 2**30 bytes, as the seed showed).
A value that could not be read is ``None`` (JSON ``null``) and the reason is in the section's ``error``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PrivateAttr

from reporter.base.timefmt import format_utc

UTCDateTime = Annotated[datetime, PlainSerializer(format_utc, return_type=str, when_used="json")]


class Status(StrEnum):
    """Overall health: every service up -> healthy; some down -> degraded; all down -> unhealthy."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemSection(_Section):
    """Host metrics from psutil. ``cpu_percent`` is the average busy share of all CPUs since the previous sample."""

    cpu_percent: float | None = None
    memory_percent: float | None = None
    memory_used_gb: float | None = Field(None, description="total minus available, GiB (3 decimals)")
    memory_total_gb: float | None = None
    memory_used_bytes: int | None = Field(None, description="total minus available, exact bytes")
    memory_total_bytes: int | None = None
    disk_path: str | None = None
    disk_percent: float | None = None
    disk_used_gb: float | None = None
    disk_total_gb: float | None = None
    disk_used_bytes: int | None = Field(None, description="filesystem space in use, exact bytes")
    disk_total_bytes: int | None = None
    uptime_seconds: float | None = None
    load_1m: float | None = None
    load_5m: float | None = None
    load_15m: float | None = None
    swap_percent: float | None = Field(default=None, description="swap in use, percent (0 without swap)")
    network_receive_bytes_per_second: float | None = Field(
        default=None, description="received by all non-loopback interfaces since the previous sample; null on "
                                  "the first sample and when a counter went back (reset, interface gone or added)")
    network_transmit_bytes_per_second: float | None = Field(
        default=None, description="sent by all non-loopback interfaces since the previous sample (null as above)")
    disk_read_bytes_per_second: float | None = Field(
        default=None, description="read from all disks since the previous sample (null as above, or no counters)")
    disk_write_bytes_per_second: float | None = Field(
        default=None, description="written to all disks since the previous sample (null as above)")
    process_count: int | None = Field(default=None, description="processes on the host")
    error: str | None = None


class ServiceHealth(_Section):
    """One probe of a dependency: ``up`` is None only when the probe could not run at all."""

    up: bool | None = None
    latency_ms: float | None = Field(None, description="round trip of the probe, milliseconds")
    error: str | None = None


class LoadedModel(_Section):
    """One model Ollama holds in memory, from ``GET /api/ps`` (``size``, ``size_vram``, ``expires_at``,
    ``details.parameter_size``, ``details.quantization_level``); a field missing or malformed in the answer is
    None."""

    name: str
    size_bytes: int | None = Field(None, description="memory the loaded model takes (Ollama's size), bytes")
    vram_bytes: int | None = Field(None, description="of which in GPU memory (size_vram), bytes")
    cpu_offload_ratio: float | None = Field(None, description="share of the model outside GPU memory, "
                                                              "1 - size_vram / size (0-1, 4 decimals)")
    expires_in_seconds: float | None = Field(None, description="seconds until Ollama unloads it (expires_at - now)")
    parameter_size: str | None = Field(None, description='e.g. "7.2B"')
    quantization: str | None = Field(None, description='e.g. "Q4_0"')


class GenerationProbe(_Section):
    """The last synthetic generation (REPORTER_OLLAMA_PROBE_INTERVAL; off by default): a tiny fixed prompt
    through ``POST /api/generate`` (streamed), timed by reporter and by the server's own fields."""

    at: UTCDateTime = Field(description="time of the first sample carrying this result (the run ended within "
                                        "the sample interval before; its figures are stored in that sample only)")
    time_to_first_token_seconds: float | None = Field(None, description="request sent to first token received")
    tokens_per_second: float | None = Field(None, description="eval_count / eval_duration of the answer")
    load_seconds: float | None = Field(None, description="load_duration: time Ollama spent loading the model")
    total_seconds: float | None = Field(None, description="request sent to the last chunk received")
    error: str | None = None


class OllamaHealth(ServiceHealth):
    """Ollama probe (``GET /api/tags``, ``/api/ps``, ``/api/version``); ``is_available`` is true when the
    configured model is listed. The ``model_*`` fields describe the configured model in ``/api/ps`` (None
    when it could not be read; ``model_loaded`` false and the rest None when the model is not loaded)."""

    model: str
    is_available: bool | None = None
    models: list[str] = Field(default_factory=list)
    version: str | None = Field(None, description="Ollama's version (GET /api/version)")
    model_loaded: bool | None = Field(None, description="the configured model is in memory (GET /api/ps)")
    model_cpu_offload_ratio: float | None = Field(None, description="share of the configured model outside GPU "
                                                                    "memory (0-1); > 0 is a (partial) CPU fallback")
    model_size_bytes: int | None = Field(None, description="memory the loaded configured model takes, bytes")
    model_vram_bytes: int | None = Field(None, description="of which in GPU memory, bytes")
    model_loads: int | None = Field(None, description="times this reporter saw the configured model become loaded "
                                                      "since it started (a counter)")
    probe: GenerationProbe | None = Field(None, description="the last synthetic generation, when enabled")
    _loaded: list[LoadedModel] = PrivateAttr(default_factory=list)

    @property
    def loaded(self) -> list[LoadedModel]:
        """Every model in the probe's ``/api/ps`` answer (empty when none or unread); not part of this section's
        JSON: the sampler puts it in ``Snapshot.ai.models``."""
        return self._loaded

    @loaded.setter
    def loaded(self, models: list[LoadedModel]) -> None:
        self._loaded = list(models)


class Services(_Section):
    """Health of the application's dependencies."""

    database: ServiceHealth
    redis: ServiceHealth
    ollama: OllamaHealth


class FeatureStats(_Section):
    """Lifetime figures of one AI feature from its Redis counters (cumulative since the last Redis flush)."""

    requests: int | None = None
    success: int | None = None
    success_rate: float | None = Field(None, description="success / requests, percent")
    total_time_seconds: float | None = Field(None, description="summed response time, seconds")
    avg_time: float | None = Field(None, description="summed time / requests, seconds")
    # the optional token counters: None (never 0) while the application does not write them
    prompt_tokens: int | None = Field(None, description="ai:{feature}:prompt_tokens (Ollama's prompt_eval_count)")
    completion_tokens: int | None = Field(None, description="ai:{feature}:completion_tokens (eval_count)")
    generation_seconds: float | None = Field(None, description="ai:{feature}:generation_ns / 1e9 (eval_duration)")
    cold_loads: int | None = Field(None, description="ai:{feature}:cold_loads: requests that loaded the model")
    tokens_per_second: float | None = Field(None, description="completion_tokens / generation_seconds")


class FeatureWindow(_Section):
    """One feature's figures over a window, from counter increases (resets handled)."""

    requests: float | None = None
    success_rate: float | None = None
    avg_time: float | None = None
    tokens_per_second: float | None = Field(None, description="completion tokens / generation seconds")
    prompt_tokens_per_request: float | None = None
    completion_tokens_per_request: float | None = None
    cold_loads: float | None = None


class WindowStats(_Section):
    """AI figures over a window computed from the increase of the counters between samples.

    ``window_seconds`` is the span actually covered by samples (shorter than asked right after start).
    Rates are None when the window holds no request.
    """

    window_seconds: float
    requests: float | None = None
    requests_per_second: float | None = None
    avg_response_time: float | None = None
    success_rate: float | None = None
    error_rate: float | None = None
    cache_hit_rate: float | None = None
    tokens_per_second: float | None = Field(None, description="every feature's completion tokens / generation "
                                                              "seconds")
    completion_tokens: float | None = None
    prompt_tokens: float | None = None
    cold_loads: float | None = None
    features: dict[str, FeatureWindow] = Field(default_factory=dict)


class AISection(_Section):
    """AI usage from the app's Redis counters (seed field names) plus windowed values.

    ``windows`` has ``last_interval`` (since the previous sample) and ``5m`` (last five minutes); a window is
    None until two samples exist.
    """

    model: str
    is_available: bool | None = None
    total_requests: int | None = None
    total_time_seconds: float | None = None
    avg_response_time: float | None = Field(None, description="lifetime total_time / total_requests, seconds")
    cache_hits: int | None = None
    cache_hit_rate: float | None = Field(None, description="lifetime cache_hits / total_requests, percent")
    features: dict[str, FeatureStats] = Field(default_factory=dict)
    windows: dict[str, WindowStats | None] = Field(default_factory=dict)
    models: list[LoadedModel] = Field(default_factory=list, description="models Ollama holds in memory "
                                                                        "(GET /api/ps on this host)")
    error: str | None = None


class TopUser(_Section):
    """A user ranked by activity (conversations + quiz attempts + grammar checks); ``last_active`` is
    ``users.last_active_at`` (the latest activity row when the application left it null)."""

    user_id: str
    email: str | None = None
    activity_count: int
    last_active: UTCDateTime | None = None


class PopularScenario(_Section):
    """A scenario ranked by conversations started; ``completion_rate`` = completed / started, percent."""

    scenario_id: str
    name: str | None = None
    start_count: int
    completion_rate: float | None = None


class UsageSection(_Section):
    """Usage statistics from the application's database, collected every ``usage_interval`` seconds."""

    collected_at: UTCDateTime
    total_users: int | None = None
    active_users_24h: int | None = None
    active_users_1h: int | None = None
    total_scenarios: int | None = None
    active_conversations: int | None = None
    total_quizzes_taken: int | None = None
    total_grammar_checks: int | None = None
    top_users: list[TopUser] = Field(default_factory=list)
    popular_scenarios: list[PopularScenario] = Field(default_factory=list)


class ActiveAlert(_Section):
    """A pending or firing alert at the time of the snapshot (``active_at``: condition true since).

    ``suppressed`` is true while an active silence matches the alert or a firing alert inhibits it (its
    notifications are muted; the state goes on), with the ids of those silences in ``silenced_by`` and the
    fingerprints of the inhibiting alerts in ``inhibited_by``, as Alertmanager's ``status.state =
    "suppressed"``, ``status.silencedBy`` and ``status.inhibitedBy``; ``suppressed_reason`` says why in words.
    An acknowledged alert (it no longer repeats nor escalates) says who acknowledged it, when and their comment,
    until it resolves.
    """

    alertname: str
    state: str
    severity: str | None = None
    host: str | None = Field(None, description="the host it was evaluated on (its `host` label); none for an "
                                               "app-wide alert")
    labels: dict[str, str]
    summary: str | None = None
    value: float | None = None
    active_at: UTCDateTime | None = None
    fired_at: UTCDateTime | None = None
    fingerprint: str
    suppressed: bool = False
    silenced_by: list[str] = Field(default_factory=list, description="ids of the active silences matching it")
    inhibited_by: list[str] = Field(default_factory=list, description="fingerprints of the firing alerts "
                                                                      "inhibiting it")
    suppressed_reason: str | None = Field(None, description="why it is suppressed, e.g. \"inhibited by "
                                                            "default:ollama_down (source: ...)\"")
    acknowledged_by: str | None = Field(None, description="who acknowledged this episode (`reporter ack`, POST "
                                                          "/api/v1/alerts/{fingerprint}/ack); none: not acknowledged")
    acknowledged_at: UTCDateTime | None = None
    ack_comment: str | None = None


class Snapshot(_Section):
    """Everything known at one sample time. ``errors`` maps a collector name to what went wrong."""

    timestamp: UTCDateTime
    host: str
    status: Status
    system: SystemSection
    services: Services
    ai: AISection
    usage: UsageSection | None = None
    errors: dict[str, str] = Field(default_factory=dict)
    alerts: list[ActiveAlert] = Field(default_factory=list, description="pending and firing alerts")
    duration_ms: float = Field(description="wall time the sample took, milliseconds")
    spooled: int | None = Field(None, description="samples held in the local spool while the history cannot be "
                                                  "written (fleet mode; null on a SQLite history)")


NOT_PROBED = "not probed on this host"  # a service section's error when REPORTER_PROBES leaves it out
SAMPLED_BY_LEADER = "sampled by the leader"  # the ai section's error on a node that does not sample app-wide


def probed(health: ServiceHealth) -> bool:
    """False for a service this host does not probe (REPORTER_PROBES): ``up`` None with :data:`NOT_PROBED`."""
    return not (health.up is None and health.error == NOT_PROBED)


# the fields no collector fills: the sampler's own, and the alerts the rule evaluation adds
NOT_COLLECTED = frozenset({"timestamp", "host", "status", "errors", "alerts", "duration_ms", "spooled"})


def collector_places() -> dict[str, bool]:
    """Every place a collector fills (its ``name``, also its key in ``errors``), in snapshot order, with whether
    the snapshot requires it: the fields of :class:`Snapshot` but :data:`NOT_COLLECTED`, with the fields of
    :class:`Services` in place of ``services``. Today: system, database, redis, ollama, ai, usage (the only
    optional one)."""
    places: dict[str, bool] = {}
    for name, field in Snapshot.model_fields.items():
        if name == "services":
            places.update({n: f.is_required() for n, f in Services.model_fields.items()})
        elif name not in NOT_COLLECTED:
            places[name] = field.is_required()
    return places


def overall_status(services: Services) -> Status:
    """healthy when every probed service is up (and the model listed, when Ollama is probed), unhealthy when
    all probed ones are down, else degraded. Every field of ``services`` counts (a new probe's field too), but
    a service this host does not probe (:func:`probed`) does not; a host probing none is healthy."""
    checked = [getattr(services, name) for name in type(services).model_fields]
    ups = [health.up for health in checked if probed(health)]
    model_ok = services.ollama.is_available or not probed(services.ollama)
    if all(ups) and model_ok:
        return Status.HEALTHY
    if not any(ups):
        return Status.UNHEALTHY
    return Status.DEGRADED


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
