"""Reading Ollama's ``GET /api/ps`` and ``GET /api/version`` answers (parsing only: the requests are made by
:class:`reporter.collect.services.OllamaProbe`).

``/api/ps`` answers ``{"models": [{"name", "model", "size", "size_vram", "expires_at", "details":
{"parameter_size", "quantization_level", ...}, ...}, ...]}``: the models Ollama holds in memory. Each becomes a
:class:`reporter.snapshot.LoadedModel`; ``/api/version`` answers ``{"version": "0.5.7"}``.

Nothing here raises for bad data: a field missing or malformed is None and a :class:`Problem` names it (the
probe logs each problem once, see :class:`ProblemLog`); an answer that is not the expected object at all is a
:class:`ValueError` (the caller's one problem for the whole answer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from reporter.snapshot import LoadedModel

MAX_SIZE = 2**63 - 1  # a byte count beyond this is not Ollama's (a Go int64)
MAX_TEXT = 64  # version, parameter size, quantisation longer than this are not Ollama's
MAX_NAME = 512  # a model name longer than this is not Ollama's (host, namespace, model and tag)
MAX_MODELS = 64  # Ollama holds a few models at once: the entries after these are not read


@dataclass(frozen=True)
class Problem:
    """One malformed or missing part of an answer: ``key`` stays the same while the problem lasts (it names the
    part, not its value, which may change on every answer), ``message`` says what was found, for the log."""

    key: str
    message: str
    model: str | None = None  # the model entry the problem is in (None: the answer as a whole)


class ProblemLog:
    """Logs each problem once, when it appears, instead of on every sample.

    Problems are kept per ``scope`` (an endpoint, or one model of ``/api/ps``): :meth:`report` replaces a scope's
    problems with the ones of its latest answer; one that was there already is not logged again, one that went
    away is forgotten (logged again if it comes back). A scope not read this time keeps its problems (a failed
    read is not a fix, nor is a model unloaded between two requests). The :data:`MAX_MODELS` model scopes
    reported most recently are kept (models by the thousand, each seen once, cannot fill the memory).
    """

    MAX_MODELS = MAX_MODELS

    def __init__(self, logger: logging.Logger, hint: str) -> None:
        self.logger, self.hint = logger, hint
        self.current: dict[str, dict[str, str]] = {}

    def report(self, scope: str, problems: list[Problem]) -> None:
        """The problems of ``scope``'s latest answer (an empty list: it was fine); logs the new ones."""
        before = self.current.pop(scope, {})
        now = {p.key: p.message for p in problems}
        for key, message in now.items():
            if key not in before:
                self.logger.warning("%s; %s", message, self.hint)
        self.current[scope] = now  # last in the order: the most recent

    def report_ps(self, loaded: list[LoadedModel], problems: list[Problem]) -> None:
        """The problems of an ``/api/ps`` answer: the answer's own in scope ``ps``, each loaded model's in its
        own scope (a model absent from this answer keeps its problems until it is read again)."""
        names = list(dict.fromkeys(m.name for m in loaded))
        self.report("ps", [p for p in problems if p.model is None])
        for name in names:
            self.report(f"ps:{name}", [p for p in problems if p.model == name])
        models = [scope for scope in self.current if scope.startswith("ps:")]
        for scope in models[:max(0, len(models) - self.MAX_MODELS)]:
            del self.current[scope]


def model_key(name: str) -> str:
    """An Ollama model name as Ollama resolves it: a name without a tag is ``:latest`` (the tag follows the last
    ``/``: in ``registry.example.com:5000/team/mistral`` the ``:5000`` is a port)."""
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


def offload_ratio(size: int | None, vram: int | None) -> float | None:
    """``1 - vram / size``, the share of a loaded model outside GPU memory (0-1, 4 decimals); None when a size is
    missing or ``size`` is 0."""
    if size is None or vram is None or size <= 0:
        return None
    return round(min(1.0, max(0.0, 1.0 - vram / size)), 4)


def _bytes(entry: dict, field: str, where: str, problems: list[Problem]) -> int | None:
    value = entry.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SIZE:
        return value
    why = "missing" if value is None else "negative" if isinstance(value, int | float) and value < 0 else \
        "not a whole number of bytes"
    problems.append(Problem(f"{where}:{field}", f"Ollama /api/ps: {where}: {field} is {_show(value)} ({why})"))
    return None


def _text(entry: Any, field: str, where: str, problems: list[Problem]) -> str | None:
    value = entry.get(field) if isinstance(entry, dict) else None
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT:
        return value
    problems.append(Problem(f"{where}:{field}", f"Ollama /api/ps: {where}: details.{field} is {_show(value)} "
                                                f"(not a short text)"))
    return None


def _expires_in(value: Any, now: datetime, where: str, problems: list[Problem]) -> float | None:
    """Seconds from ``now`` to ``expires_at`` (RFC 3339, as Go writes it; 0 when already past), rounded to 0.1 s;
    None for Go's zero time (no expiry set) and, with a problem, for anything else that is not a date."""
    try:
        expires = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        expires = None
    if expires is None or expires.tzinfo is None:
        problems.append(Problem(f"{where}:expires_at", f"Ollama /api/ps: {where}: expires_at is {_show(value)} "
                                                       f"(not a date with a time zone)"))
        return None
    if expires.year <= 1:  # Go's zero time.Time: Ollama has not set it
        return None
    return round(max(0.0, (expires - now).total_seconds()), 1)


def _show(value: Any) -> str:
    """A value for a log line: ``repr``, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def loaded_model(entry: dict, name: str, now: datetime, problems: list[Problem]) -> LoadedModel:
    """One ``/api/ps`` entry as a :class:`LoadedModel` (``now``: aware, for ``expires_in_seconds``); appends to
    ``problems`` what is missing or malformed, each with ``model`` = ``name`` (``size_vram`` above ``size`` makes
    ``vram_bytes`` and the ratio None)."""
    where = f"model {_show(name)}"
    found: list[Problem] = []
    size = _bytes(entry, "size", where, found)
    vram = _bytes(entry, "size_vram", where, found)
    if size is not None and vram is not None and vram > size:
        found.append(Problem(f"{where}:size_vram>size", f"Ollama /api/ps: {where}: size_vram {vram} is larger "
                                                         f"than size {size}"))
        vram = None
    details = entry.get("details")
    model = LoadedModel(name=name, size_bytes=size, vram_bytes=vram, cpu_offload_ratio=offload_ratio(size, vram),
                        expires_in_seconds=_expires_in(entry.get("expires_at"), now, where, found),
                        parameter_size=_text(details, "parameter_size", where, found),
                        quantization=_text(details, "quantization_level", where, found))
    problems.extend(replace(p, model=name) for p in found)
    return model


def parse_ps(payload: Any, now: datetime) -> tuple[list[LoadedModel], list[Problem]]:
    """The loaded models of a decoded ``/api/ps`` answer, in Ollama's order, and the problems found in them: the
    first :data:`MAX_MODELS` entries (more is a problem), an entry without a name of at most :data:`MAX_NAME`
    characters left out. ``ValueError`` when the answer has no ``models`` list (nothing can be said about what is
    loaded)."""
    models = payload.get("models") if isinstance(payload, dict) else None
    if not isinstance(models, list):
        raise ValueError(f"answer has no 'models' list (models is {_show(models)})")
    loaded: list[LoadedModel] = []
    problems: list[Problem] = []
    if len(models) > MAX_MODELS:
        problems.append(Problem("entry:count", f"Ollama /api/ps: {len(models)} models listed; the first "
                                               f"{MAX_MODELS} are read"))
    for entry in models[:MAX_MODELS]:
        name = (entry.get("name") or entry.get("model")) if isinstance(entry, dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            problems.append(Problem("entry:name", f"Ollama /api/ps: an entry without a name: {_show(entry)}"))
            continue
        loaded.append(loaded_model(entry, name, now, problems))
    return loaded, problems


def find(model: str, loaded: list[LoadedModel]) -> LoadedModel | None:
    """The entry of ``model`` among ``loaded`` (names compared as :func:`model_key` resolves them), or None."""
    wanted = model_key(model)
    return next((m for m in loaded if model_key(m.name) == wanted), None)


def parse_version(payload: Any) -> str:
    """The version of a decoded ``/api/version`` answer; ``ValueError`` when it has none (or not a short text)."""
    version = payload.get("version") if isinstance(payload, dict) else None
    if not isinstance(version, str) or not 0 < len(version) <= MAX_TEXT:
        raise ValueError(f"answer has no 'version' text (version is {_show(version)})")
    return version
