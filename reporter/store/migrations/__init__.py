"""Alembic migrations of the history database, and the per-feature column step.

Frozen revisions: each file in ``versions/`` creates or changes the tables exactly as they were when it was
written, with literal names and types. A revision never imports a live schema module
(:mod:`reporter.store.schema`, :mod:`reporter.catalog`, ``alert_schema``, ``report_schema``...): those
describe the head schema, and a revision that read them would create a different database after the next
change, so an older database upgraded to head and a new one would differ. A change to a live table is a new
revision; ``tests/store/test_migrations.py`` builds a database at every revision, upgrades a database made by
each older revision to head (with rows that must survive), on SQLite and PostgreSQL, and checks that head
equals the live SQLAlchemy tables.

The per-feature AI columns (``ai_<feature>_requests|success|time_seconds`` for each feature of
``REPORTER_AI_FEATURES``) depend on the settings, so no fixed revision can create them: they are the one
settings-driven step, :mod:`reporter.store.migrations.feature_columns`, run by :func:`reporter.store.migrate.upgrade`
after the revisions, in the same transaction. It is versioned with the revisions: its column set is frozen in
that module (not read from the catalog) and is the set at head; a revision that changes the per-feature set
must also change the columns of the features already in the database (found by their ``ai_<feature>_requests``
column) and then change the step, so a feature configured later gets the head columns.
"""
