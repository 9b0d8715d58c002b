"""The snapshot paths a rule may read: the metric catalog's paths plus the Snapshot model's other numbers.

A path is dotted (``system.cpu_percent``, ``ai.windows.5m.features.quiz.success_rate``) and ends at a number
or a boolean. Every metric of :mod:`reporter.catalog` in a rule section is readable (so a metric added there
can be alerted on); the values that are not stored metrics (windowed AI rates...) come from walking the model.
Dictionary levels of the model take their keys from the configuration: AI features from
``REPORTER_AI_FEATURES``, windows from the collector (``last_interval`` and ``5m``).
"""

from __future__ import annotations

import difflib
import types
import typing
from datetime import datetime

from pydantic import BaseModel

from reporter.catalog import catalog
from reporter.snapshot import Snapshot

RULE_SECTIONS = ("system", "services", "ai", "usage")  # the parts of a snapshot rules are evaluated on


def _unwrap(annotation):
    """``X | None`` -> X (other unions are returned unchanged)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _walk(model: type[BaseModel], prefix: str, keys: dict[str, list[str]], out: list[str]) -> None:
    for name, field in model.model_fields.items():
        annotation = _unwrap(field.annotation)
        path = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _walk(annotation, path + ".", keys, out)
        elif typing.get_origin(annotation) is dict:
            value = _unwrap(typing.get_args(annotation)[1])
            if isinstance(value, type) and issubclass(value, BaseModel):
                for key in keys.get(name, []):
                    _walk(value, f"{path}.{key}.", keys, out)
        elif isinstance(annotation, type) and issubclass(annotation, bool | int | float) \
                and not issubclass(annotation, datetime):
            out.append(path)


def snapshot_paths(features: list[str]) -> list[str]:
    """Every numeric (or boolean) path of a snapshot a rule can compare: the model's, in model order, then
    any catalog metric's path the walk did not reach.

    ``features``: the configured AI feature names (the keys of ``ai.features`` and of each window's features).
    """
    from reporter.collect.ai import WINDOWS

    keys = {"features": list(features), "windows": ["last_interval", *WINDOWS]}
    out: list[str] = []
    for section in RULE_SECTIONS:
        annotation = _unwrap(Snapshot.model_fields[section].annotation)
        _walk(annotation, section + ".", keys, out)
    known = set(out)
    out += [m.path for m in catalog(features).values() if m.section in RULE_SECTIONS and m.path not in known]
    return out


def unknown_path_message(path: str, known: list[str]) -> str:
    """One line for a path the snapshot lacks: the closest known path (``did you mean ...?``) or, without a
    close one, what exists at the level where the path goes wrong (``services has: database, redis, ollama``)."""
    head = f"the snapshot has no value {path!r}"
    segments = path.split(".")
    if len(segments) == 1:  # a bare name: the path that ends with it (cpu_percent -> system.cpu_percent)
        ends = [p for p in known if p.rpartition(".")[2] == path]
        if ends:
            return f"{head}; did you mean {ends[0]!r}?"
    for depth in range(len(segments) - 1, -1, -1):  # the longest prefix that exists
        prefix = ".".join(segments[:depth])
        children = list(dict.fromkeys(p[len(prefix) + 1 if prefix else 0:].split(".")[0] for p in known
                                      if not prefix or p.startswith(prefix + ".")))
        if children:
            break
    missing, rest = segments[depth], segments[depth + 1:]
    guesses = [c for c in children if missing and c.startswith(missing)] + \
        difflib.get_close_matches(missing, children, n=3, cutoff=0.6)
    for guess in guesses:
        candidate = ".".join([*segments[:depth], guess, *rest])
        if candidate in known:
            return f"{head}; did you mean {candidate!r}?"
    source = " (the features of REPORTER_AI_FEATURES)" if prefix.endswith("features") else ""
    return f"{head}; {prefix or 'a path'} {'has' if prefix else 'starts with'}: {', '.join(children)}{source}"
