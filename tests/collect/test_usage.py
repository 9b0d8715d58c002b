import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from reporter.collect.sources import app_database_engine
from reporter.collect.usage import UsageCollector, UsageUnavailable, mask_email
from tests.appdb import create_reference_db


def check_figures(section, expected):
    for name in ("total_users", "active_users_24h", "active_users_1h", "total_scenarios", "active_conversations",
                 "total_quizzes_taken", "total_grammar_checks"):
        assert getattr(section, name) == expected[name], name
    assert [(u.user_id, u.email, u.activity_count) for u in section.top_users] == expected["top_users"]
    assert {u.user_id: u.last_active.replace(tzinfo=None) for u in section.top_users} == expected["last_active"]
    assert [(s.scenario_id, s.start_count, s.completion_rate) for s in section.popular_scenarios] == \
        expected["popular_scenarios"]


def test_reference_schema_on_postgresql(pg_schema_url):
    expected = create_reference_db(pg_schema_url)
    section = UsageCollector(app_database_engine(pg_schema_url, 2.0)).read()
    check_figures(section, expected)


def test_each_statement_is_parsed_once_not_at_every_read(tmp_path):
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'app.db'}"
    expected = create_reference_db(url)
    engine = app_database_engine(url, 2.0)
    statements: list[list] = [[]]
    event.listen(engine, "before_execute", lambda conn, clause, *rest: statements[-1].append(clause))
    collector = UsageCollector(engine)
    check_figures(collector.read(), expected)
    statements.append([])
    check_figures(collector.read(), expected)
    assert len(statements[0]) == 3  # the scalar figures in one statement, the two lists
    assert [id(c) for c in statements[0]] == [id(c) for c in statements[1]]


def test_reference_schema_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    expected = create_reference_db(url)
    check_figures(UsageCollector(app_database_engine(url, 2.0)).read(), expected)


def add_users(url: str, now: datetime) -> dict[str, datetime | None]:
    """Users whose ``last_active_at`` and activity rows disagree: active now with their last quizzes four days
    old (the application records logins and reviews in ``last_active_at`` only), and one never stamped."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users VALUES (:id, :email, :created, :last)"), [
            {"id": "user_010", "email": "dan@example.com", "created": now - timedelta(days=9),
             "last": now - timedelta(minutes=10)},
            {"id": "user_011", "email": "eve@example.com", "created": now - timedelta(days=9), "last": None}])
        conn.execute(text("INSERT INTO quiz_attempts VALUES (:id, :user, :at, 0.5)"), [
            {"id": 100 + i, "user": user, "at": now - timedelta(days=4, hours=i)}
            for i, user in enumerate(["user_010"] * 6 + ["user_011"] * 6)])
    engine.dispose()
    return {"user_010": now - timedelta(minutes=10), "user_011": now - timedelta(days=4, hours=6)}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_last_active_is_the_users_last_active_at_not_the_latest_activity_row(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'app.db'}" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    expected = create_reference_db(url, now)
    expected["last_active"].update(add_users(url, now))
    section = UsageCollector(app_database_engine(url, 2.0), top_n=10).read(now.replace(tzinfo=UTC))
    shown = {u.user_id: u.last_active.replace(tzinfo=None) for u in section.top_users}
    assert shown == expected["last_active"]
    assert section.active_users_24h == 3  # user_010 is counted active today ...
    assert shown["user_010"] >= now - timedelta(hours=24)  # ... and so shows a time of today, not four days ago


def test_show_emails_and_top_n(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    create_reference_db(url)
    section = UsageCollector(app_database_engine(url, 2.0), top_n=1, show_emails=True).read()
    assert [u.email for u in section.top_users] == ["alice.example@example.com"]
    assert len(section.popular_scenarios) == 1


def test_missing_tables_make_usage_unavailable(pg_schema_url):
    with pytest.raises(UsageUnavailable, match="does not exist"):
        UsageCollector(app_database_engine(pg_schema_url, 2.0)).read()


def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(UsageUnavailable):
        UsageCollector(app_database_engine(f"sqlite:///{path}", 2.0)).read()
    assert not Path(path).exists()


def test_one_failing_query_leaves_the_rest(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    create_reference_db(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE grammar_checks"))
    engine.dispose()
    overrides = {"top_users": "SELECT id AS user_id, email, 1 AS activity_count, NULL AS last_active FROM users"}
    with caplog.at_level(logging.WARNING):
        section = UsageCollector(app_database_engine(url, 2.0), overrides).read()
    assert section.total_grammar_checks is None and section.total_users == 3
    assert len(section.top_users) == 3
    assert any("total_grammar_checks" in r.getMessage() for r in caplog.records)


def test_query_override_returning_garbage_is_missing(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    create_reference_db(url)
    section = UsageCollector(app_database_engine(url, 2.0), {"total_users": "SELECT 'many'"}).read()
    assert section.total_users is None and section.total_scenarios == 3


@pytest.mark.parametrize(("email", "masked"), [
    ("user123@example.com", "u***@example.com"), ("nodomain", "***"), (None, None), ("", "")])
def test_mask_email(email, masked):
    assert mask_email(email) == masked


def test_a_query_that_keeps_failing_is_logged_once_then_its_recovery(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    create_reference_db(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE grammar_checks RENAME TO grammar_checks_old"))
    collector = UsageCollector(app_database_engine(url, 2.0))
    caplog.set_level(logging.INFO, "reporter")
    for _ in range(5):  # five usage intervals
        assert collector.read().total_grammar_checks is None
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE grammar_checks_old RENAME TO grammar_checks"))
    engine.dispose()
    assert collector.read().total_grammar_checks is not None
    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.getMessage().startswith("usage query total_grammar_checks")]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert lines[0][1].startswith("usage query total_grammar_checks: failed: ")
    assert lines[1][1].startswith("usage query total_grammar_checks: recovered after")


def test_huge_names_from_the_application_are_cut(tmp_path):
    """A 100,000-character scenario name (or user id, email) went whole into every snapshot (/snapshot was
    107 KB), the status page and the report; now 200 characters at most, the last one '…'."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    create_reference_db(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE scenarios SET name = :n"), {"n": "<b>" + "Z" * 100_000})
        conn.execute(text("UPDATE users SET email = :e"), {"e": "a" * 5000 + "@example.com"})
    engine.dispose()
    section = UsageCollector(app_database_engine(url, 2.0), show_emails=True).read()
    names = [s.name for s in section.popular_scenarios]
    assert names and all(len(n) == 200 and n.startswith("<b>ZZ") and n.endswith("Z…") for n in names)
    emails = [u.email for u in section.top_users]
    assert emails and all(len(e) == 200 and e.endswith("…") for e in emails)
    assert len(section.model_dump_json()) < 20_000
