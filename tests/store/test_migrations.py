"""The history migrations, on SQLite and PostgreSQL: a fresh database at every revision has the tables and
columns that revision describes; a database made by each older revision (with rows) upgrades to head and keeps
its rows; head equals the live SQLAlchemy tables; revisions import no live schema module (they are frozen).

The expected schema below is written out by hand, revision by revision: a new revision adds its entry to
``CHANGES`` (the test of the revision list fails until it does), and to ``PG_CHANGES`` what it adds on
PostgreSQL only. The day partitions of ``samples`` (PostgreSQL, ``samples_pYYYYMMDD``) are not tables of the
schema: they hold rows and are left out of the comparisons.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, inspect, select, text
from sqlalchemy.engine import Engine

from reporter.store.history import history_engine
from reporter.store.migrate import HEAD, alembic_config, current_revision, upgrade
from reporter.store.migrations.feature_columns import add_feature_columns, feature_columns, stored_features

VERSIONS = Path(__file__).parents[2] / "reporter" / "store" / "migrations" / "versions"

# what each revision adds: table -> columns (a table seen for the first time is created with these columns)
CHANGES: dict[str, dict[str, set[str]]] = {
    "0001": {
        "samples": {
            "ts", "cpu_percent", "memory_percent", "memory_used_gb", "memory_total_gb", "disk_percent",
            "disk_used_gb", "disk_total_gb", "uptime_seconds", "load_1m", "load_5m", "load_15m", "database_up",
            "database_latency_ms", "redis_up", "redis_latency_ms", "ollama_up", "ollama_latency_ms",
            "ollama_model_available", "ai_total_requests", "ai_total_time_seconds", "ai_cache_hits",
            "usage_total_users", "usage_active_users_24h", "usage_total_scenarios", "usage_active_conversations",
            "usage_total_quizzes_taken", "usage_total_grammar_checks", "status_code", "sample_duration_ms",
        },
        "usage_lists": {"kind", "ts", "body"},
    },
    "0002": {"samples": {"usage_active_users_1h"}},
    "0003": {
        "alerts": {"fingerprint", "rule", "labels", "annotations", "state", "active_at", "fired_at",
                   "resolved_at", "value", "updated_at"},
        "alert_events": {"id", "at", "fingerprint", "rule", "state", "value", "labels"},
        "notification_log": {"receiver", "fingerprint", "starts_at", "firing_sent_at", "resolved_sent_at"},
        "outbox": {"id", "receiver", "created_at", "status", "body", "alert_count", "attempts", "next_attempt_at",
                   "lease_until", "last_status_code", "last_error", "last_response", "delivered_at"},
        "delivery_attempts": {"id", "notification_id", "at", "duration_ms", "status_code", "outcome", "error"},
        "silences": {"id", "matchers", "starts_at", "ends_at", "comment", "created_by", "created_at"},
    },
    "0004": {"meta": {"key", "value"}},
    "0005": {
        "reports": {"day", "status", "claimed_by", "lease_until", "attempts", "next_attempt_at", "rendered_at",
                    "files", "error", "updated_at"},
        "report_emails": {"day", "status", "attempts", "next_attempt_at", "lease_until", "created_at", "sent_at",
                          "last_error"},
    },
    "0006": {"samples": {"swap_percent", "network_receive_bytes_per_second", "network_transmit_bytes_per_second",
                         "disk_read_bytes_per_second", "disk_write_bytes_per_second", "process_count"}},
    "0007": {
        "hosts": {"name", "node_id", "role", "version", "pid", "address", "started_at", "seen_at", "last_sample",
                  "status", "snapshot"},
        "leadership": {"id", "epoch", "host", "node_id", "since"},
    },
    "0008": {},
    "0009": {"acks": {"fingerprint", "starts_at", "acked_by", "comment", "at"},
             "escalations": {"fingerprint", "starts_at", "receiver", "at"}},
    "0010": {"samples": {"ollama_model_loaded", "ollama_model_cpu_offload_ratio", "ollama_model_size_bytes",
                         "ollama_model_vram_bytes", "ollama_model_loads", "ollama_probe_first_token_seconds",
                         "ollama_probe_tokens_per_second"}},
}
# what a revision adds on PostgreSQL only (a fleet's samples carry their host, and mark the app-wide rows)
PG_CHANGES: dict[str, dict[str, set[str]]] = {"0007": {"samples": {"host"}}, "0008": {"samples": {"app"}}}
REVISIONS = list(CHANGES)
PARTITION = re.compile(r"^samples_p\d{8}$")

# one row per table, inserted into a database made by an older revision; each must survive the upgrade
ROWS: dict[str, dict[str, object]] = {
    "samples": {"ts": 1_000, "cpu_percent": 4200, "ai_total_requests": 7, "ai_grammar_requests": 3},
    "usage_lists": {"kind": "top_users", "ts": 1_000, "body": "[]"},
    "alerts": {"fingerprint": "f" * 16, "rule": "cpu_high", "labels": "{}", "annotations": "{}",
               "state": "firing", "fired_at": 2_000, "value": 97.5, "updated_at": 2_000},
    "alert_events": {"at": 2_000, "fingerprint": "f" * 16, "rule": "cpu_high", "state": "firing", "labels": "{}"},
    "notification_log": {"receiver": "ops", "fingerprint": "f" * 16, "starts_at": 2_000},
    "outbox": {"id": "n1", "receiver": "ops", "created_at": 2_000, "status": "pending", "body": b"{}",
               "alert_count": 1, "attempts": 0, "next_attempt_at": 2_000},
    "delivery_attempts": {"notification_id": "n1", "at": 2_000, "duration_ms": 1.5, "outcome": "retry"},
    "silences": {"id": "s1", "matchers": "[]", "starts_at": 0, "ends_at": 9_000, "comment": "deploy",
                 "created_by": "ops", "created_at": 0},
    "meta": {"key": "ai_prefix", "value": "ai:"},
    "reports": {"day": "2026-11-29", "status": "done", "attempts": 1, "updated_at": 3_000},
    "report_emails": {"day": "2026-11-29", "status": "pending", "attempts": 0, "next_attempt_at": 3_000,
                      "created_at": 3_000},
    "hosts": {"name": "web-1", "node_id": "n1", "role": "node", "version": "1.0", "pid": 7, "started_at": 1_000,
              "seen_at": 2_000, "last_sample": 1_000, "status": "healthy", "snapshot": "{}"},
    "acks": {"fingerprint": "f" * 16, "starts_at": 2_000, "acked_by": "ops", "comment": "", "at": 2_500},
    "escalations": {"fingerprint": "f" * 16, "starts_at": 2_000, "receiver": "pager", "at": 3_000},
}


def expected(revision: str, features: list[str] = (), dialect: str = "sqlite") -> dict[str, set[str]]:
    """Table -> columns of a database at ``revision`` (plus the feature columns of ``features``) on
    ``dialect``."""
    tables: dict[str, set[str]] = {"alembic_version": {"version_num"}}
    for rev in REVISIONS[: REVISIONS.index(revision) + 1]:
        changes = [CHANGES[rev], PG_CHANGES.get(rev, {})] if dialect == "postgresql" else [CHANGES[rev]]
        for change in changes:
            for table, columns in change.items():
                tables.setdefault(table, set()).update(columns)
    for feature in features:  # before 0010, a feature had its first three columns only
        columns = feature_columns(feature)
        tables["samples"].update(columns if REVISIONS.index(revision) >= REVISIONS.index("0010") else columns[:3])
    return tables


def actual(engine: Engine) -> dict[str, set[str]]:
    """Table -> columns (the day partitions of samples left out)."""
    inspector = inspect(engine)
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()
            if not PARTITION.match(t)}


def partitions(engine: Engine) -> list[str]:
    """The day partitions of samples, by name."""
    return sorted(t for t in inspect(engine).get_table_names() if PARTITION.match(t))


def upgrade_to(engine: Engine, revision: str) -> None:
    """Alembic alone (no feature step) to ``revision``, as the test of one revision needs."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """An empty history database: a SQLite file, or a private PostgreSQL schema."""
    url = f"sqlite:///{tmp_path / 'h.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    engine = history_engine(url)
    yield engine
    engine.dispose()


def test_the_revisions_are_the_ones_described_here():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    chain = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert chain == REVISIONS, "a new revision adds its tables/columns to CHANGES in this test"
    assert chain[-1] == HEAD


def test_revisions_import_no_live_schema_module():
    """A revision built from the live tables would create a different database after the next change."""
    for path in sorted(VERSIONS.glob("0*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in {"alembic", "sqlalchemy", "__future__"}, f"{path.name} imports {module}"


def test_a_fresh_database_at_every_revision(engine):
    assert current_revision(engine) is None
    for revision in REVISIONS:
        upgrade_to(engine, revision)
        assert current_revision(engine) == revision
        assert actual(engine) == expected(revision, dialect=engine.dialect.name), revision


@pytest.mark.parametrize("revision", REVISIONS[:-1])
def test_a_database_made_by_an_older_revision_upgrades_to_head(engine, revision):
    pg = engine.dialect.name == "postgresql"
    fleet_samples = pg and "host" in expected(revision, dialect="postgresql")["samples"]
    upgrade_to(engine, revision)
    with engine.begin() as conn:
        add_feature_columns(conn, ["grammar"])  # as the daemon of that revision did at start
        if fleet_samples:  # a fleet's row: its host, in its day's partition
            conn.execute(text("CREATE TABLE samples_p19700101 PARTITION OF samples FOR VALUES FROM (0) TO (86400000)"))
        stored = {}
        for name in expected(revision):
            if name in ROWS:
                table = Table(name, MetaData(), autoload_with=conn)
                row = {**ROWS[name], "host": "web-1"} if name == "samples" and fleet_samples else ROWS[name]
                if name == "samples" and "app" in table.c:  # from 0008 on, the writer marks app-wide rows
                    row = {**row, "app": True}
                conn.execute(table.insert(), row)
                stored[name] = row
    upgrade(engine, ["grammar", "voice"], host="old-box")
    assert current_revision(engine) == HEAD
    assert actual(engine) == expected(HEAD, ["grammar", "voice"], engine.dialect.name)
    # 0007 on PostgreSQL: the pre-fleet rows belong to the migrating node's host, which meta records
    migrated = pg and not fleet_samples
    with engine.connect() as conn:
        for name, row in stored.items():
            table = Table(name, MetaData(), autoload_with=conn)
            got = conn.execute(select(*(table.c[c] for c in row))).mappings().all()
            extra = [{"key": "history_host", "value": "old-box"}] if migrated and name == "meta" else []
            assert [dict(r) for r in got] == [row, *extra], name
        assert conn.execute(text("SELECT id, epoch, host FROM leadership")).all() == [(1, 0, None)]
        if pg:  # the rows of day 0 (1970-01-01) are in that day's partition; an app-wide value marks them app
            host = "old-box" if migrated else "web-1"
            assert conn.execute(text("SELECT host, ts, app FROM samples_p19700101")).all() == [(host, 1_000, True)]
        if migrated:
            assert conn.execute(text("SELECT name, started_at, last_sample FROM hosts")).all() == [
                ("old-box", 1_000, 1_000)]
    assert partitions(engine) == (["samples_p19700101"] if pg else [])


def test_head_equals_the_live_tables(engine):
    """Migrations and the SQLAlchemy tables the code reads and writes describe the same schema (names, types,
    nullability, keys, indexes): a change to a live table without a revision fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from reporter.catalog import catalog
    from reporter.store import alert_schema, fleet_schema, report_schema
    from reporter.store.schema import meta_table, samples_table, usage_lists_table

    features = ["grammar", "quiz", "voice", "scenario"]
    live = MetaData()
    samples_table(live, list(catalog(features).values()), fleet=engine.dialect.name == "postgresql")
    usage_lists_table(live)
    meta_table(live)
    for table in [*alert_schema.metadata.tables.values(), *report_schema.metadata.tables.values(),
                  *fleet_schema.metadata.tables.values()]:
        table.to_metadata(live)
    upgrade(engine, features)
    with engine.begin() as conn:  # a row, so that PostgreSQL has a day partition the comparison must skip
        conn.execute(text("INSERT INTO samples (ts) VALUES (0)" if engine.dialect.name == "sqlite" else
                          "CREATE TABLE samples_p19700101 PARTITION OF samples FOR VALUES FROM (0) TO (86400000)"))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: not (kind == "table" and PARTITION.match(name or ""))})
        diff = compare_metadata(context, live)
    assert diff == []
    primary_key = inspect(engine).get_pk_constraint("samples")["constrained_columns"]
    assert primary_key == (["host", "ts"] if engine.dialect.name == "postgresql" else ["ts"])


def test_downgrade_to_base_and_up_again(engine):
    from alembic import command

    upgrade(engine, ["grammar"])
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert actual(engine) == {"alembic_version": {"version_num"}}
    upgrade(engine, ["grammar"])
    assert actual(engine) == expected(HEAD, ["grammar"], engine.dialect.name)


def test_the_feature_column_step_is_idempotent_and_keeps_removed_features(engine):
    upgrade(engine, ["grammar", "voice"])
    with engine.begin() as conn:
        assert stored_features(conn) == ["grammar", "voice"]
        assert add_feature_columns(conn, ["grammar", "voice"]) == []
        assert add_feature_columns(conn, ["quiz"]) == feature_columns("quiz")
    upgrade(engine, ["voice"])  # a feature removed from the settings keeps its columns
    assert actual(engine) == expected(HEAD, ["grammar", "quiz", "voice"], engine.dialect.name)


def test_the_feature_columns_are_the_catalogs():
    """The frozen step and the live catalog name the same per-feature columns."""
    from reporter.catalog import feature_metrics

    assert feature_columns("grammar") == [m.name for m in feature_metrics("grammar")]


def test_the_migration_child_gives_the_stored_rows_the_nodes_host(pg_schema_url):
    """An existing single-host PostgreSQL history (revision 0006, rows over two days) upgraded by the daemon's
    migration child: the rows are kept, in the partitions of their days, under the host the daemon passes."""
    from reporter.daemon.migration import migrate_in_child

    engine = history_engine(pg_schema_url)
    try:
        upgrade_to(engine, "0006")
        with engine.begin() as conn:
            add_feature_columns(conn, ["grammar"])
            conn.execute(text("INSERT INTO samples (ts, cpu_percent, ai_grammar_requests) VALUES "
                              "(1764547200000, 1, 2), (1764633599999, 3, 4), (1764633600000, 5, NULL)"))
        migrate_in_child(pg_schema_url, ["grammar"], host="db-1")
        assert current_revision(engine) == HEAD
        assert partitions(engine) == ["samples_p20251201", "samples_p20251202"]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT host, ts, cpu_percent, ai_grammar_requests FROM samples_p20251201 "
                                     "ORDER BY ts")).all() == [("db-1", 1764547200000, 1, 2),
                                                              ("db-1", 1764633599999, 3, 4)]
            assert conn.execute(text("SELECT host, ts FROM samples_p20251202")).all() == [("db-1", 1764633600000)]
            assert conn.execute(text("SELECT value FROM meta WHERE key = 'history_host'")).scalar() == "db-1"
    finally:
        engine.dispose()


def test_a_big_postgresql_history_migrates_past_the_statement_timeout(pg_schema_url):
    """The history engine bounds each statement (10 s); copying a long single-host history into the day
    partitions can take longer than such a bound, so the migration lifts it for its own transaction. Here the
    bound is 100 ms and the history 100,000 samples."""
    from sqlalchemy import event

    engine = history_engine(pg_schema_url)
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("SET statement_timeout = 100"))
    try:
        upgrade_to(engine, "0006")
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("INSERT INTO samples (ts, cpu_percent, memory_percent, load_1m) "
                              "SELECT g * 10000::bigint, 1, 2, 3 FROM generate_series(0, 99999) AS g"))
        with engine.connect() as conn, pytest.raises(Exception, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(0.3)"))  # the bound holds outside the migration
        upgrade(engine, [], host="old-box")
        assert current_revision(engine) == HEAD
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*), min(host), max(host) FROM samples")).one() == (
                100_000, "old-box", "old-box")
        assert len(partitions(engine)) == 12  # 100,000 samples 10 s apart: 11.6 days
    finally:
        engine.dispose()


def test_nodes_starting_together_on_a_new_postgresql_history(pg_schema_url):
    """Three nodes start on the same new PostgreSQL history at the same moment, each with its migration child:
    one migrates, the others wait for it (an advisory lock of the schema) and find it at head; none fails. Then
    again with a new feature's columns to add."""
    import threading

    from reporter.daemon.migration import migrate_in_child

    errors: list[Exception] = []

    def start(host: str, barrier: threading.Barrier, features: list[str]) -> None:
        barrier.wait()
        try:
            migrate_in_child(pg_schema_url, features, host=host)
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    for features in (["grammar"], ["grammar", "voice"]):
        barrier = threading.Barrier(3)
        threads = [threading.Thread(target=start, args=(f"node-{i}", barrier, features)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [str(e) for e in errors] == []
    engine = history_engine(pg_schema_url)
    try:
        assert current_revision(engine) == HEAD
        assert actual(engine) == expected(HEAD, ["grammar", "voice"], "postgresql")
    finally:
        engine.dispose()


def test_a_fleet_history_downgrades_to_one_unpartitioned_samples(pg_schema_url):
    """Downgrading a PostgreSQL fleet history below 0007 keeps one row per millisecond: the migrated host's
    (meta history_host) where hosts share one, else the first host by name."""
    from alembic import command

    engine = history_engine(pg_schema_url)
    try:
        upgrade_to(engine, "0006")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO samples (ts, cpu_percent) VALUES (1000, 1)"))
        upgrade(engine, [], host="old-box")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO samples (host, ts, cpu_percent) VALUES ('a-box', 1000, 2), "
                              "('a-box', 2000, 3), ('z-box', 2000, 4), ('z-box', 3000, 5)"))
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        assert actual(engine) == expected("0006", dialect="postgresql") and partitions(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT ts, cpu_percent FROM samples ORDER BY ts")).all() == [
                (1000, 1), (2000, 3), (3000, 5)]
            assert conn.execute(text("SELECT count(*) FROM meta WHERE key = 'history_host'")).scalar() == 0
        assert inspect(engine).get_pk_constraint("samples")["constrained_columns"] == ["ts"]
        upgrade(engine, [], host="old-box")  # and up again
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()
