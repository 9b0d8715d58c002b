"""The settings-driven step of the history schema: the per-feature AI columns of ``samples``.

Each configured AI feature (``REPORTER_AI_FEATURES``, e.g. ``grammar``) has seven nullable BIGINT columns in
``samples``: ``ai_<feature>_requests``, ``ai_<feature>_success`` (requests), ``ai_<feature>_time_seconds``
(seconds x 1000) and, since revision 0010, the optional token counters ``ai_<feature>_prompt_tokens``,
``_completion_tokens``, ``_generation_seconds`` (seconds x 10^6) and ``_cold_loads``: the counters the sampler
reads from Redis, as fixed-point integers. Which features exist is a setting, so the columns cannot be a fixed
Alembic revision: :func:`add_feature_columns` runs after the revisions, at every start, and adds the columns of
features that do not have them yet (idempotent; a feature removed from the settings keeps its columns and its
history).

Versioned with the revisions, frozen like them: the column set below is the head set (as of revision 0010) and
is not read from the live catalog (:func:`reporter.catalog.feature_metrics`; a test checks that the two agree).
Changing it takes a revision that changes the columns of the features already stored (:func:`stored_features`
finds them, as revision 0010 did) and then this set, so new and old features end alike.
"""

from __future__ import annotations

import re

from sqlalchemy import BigInteger, Column, inspect
from sqlalchemy.engine import Connection

# the per-feature columns as of revision 0010 (0001's three, and 0010's optional token counters): name suffix ->
# stored as BIGINT, nullable
SUFFIXES = ("requests", "success", "time_seconds", "prompt_tokens", "completion_tokens", "generation_seconds",
            "cold_loads")
FEATURE_REQUESTS = re.compile(r"^ai_([a-z][a-z0-9_]*)_requests$")
NOT_A_FEATURE = {"total"}  # ai_total_requests is a fixed column of revision 0001


def feature_columns(feature: str) -> list[str]:
    """The column names of one feature, e.g. ``grammar`` -> ``["ai_grammar_requests", "ai_grammar_success",
    "ai_grammar_time_seconds"]``."""
    return [f"ai_{feature}_{suffix}" for suffix in SUFFIXES]


def stored_features(conn: Connection) -> list[str]:
    """The features that have columns in ``samples`` (by their ``ai_<feature>_requests`` column), sorted."""
    names = (c["name"] for c in inspect(conn).get_columns("samples"))
    return sorted({m.group(1) for n in names if (m := FEATURE_REQUESTS.match(n)) and m.group(1) not in NOT_A_FEATURE})


def add_feature_columns(conn: Connection, features: list[str]) -> list[str]:
    """Add to ``samples`` the columns of ``features`` that it lacks, on ``conn`` (in its transaction); returns
    the names added, in order ([] when none: idempotent). Needs the ``samples`` table (revision 0001 or later).
    Raises SQLAlchemy's ``OperationalError``/``ProgrammingError`` when the database refuses the change."""
    existing = {c["name"] for c in inspect(conn).get_columns("samples")}
    missing = [name for f in features for name in feature_columns(f) if name not in existing]
    if missing:
        from alembic.migration import MigrationContext  # loaded only when a column is added
        from alembic.operations import Operations

        ops = Operations(MigrationContext.configure(conn))
        for name in missing:
            ops.add_column("samples", Column(name, BigInteger, nullable=True))
    return missing
