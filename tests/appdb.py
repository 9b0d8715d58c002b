"""The reference app schema (README.md, "The application's database") and a small made-up data set, for SQLite
or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from reporter.usage_queries import REFERENCE_SCHEMA as DDL


def create_reference_db(url: str, now: datetime | None = None) -> dict:
    """Create the schema at ``url`` and fill it; returns the figures the usage collector must find."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    engine = create_engine(url)
    users = [
        ("user_001", "alice.example@example.com", now - timedelta(days=30), now - timedelta(hours=1)),
        ("user_002", "bob.example@example.com", now - timedelta(days=20), now - timedelta(hours=30)),
        ("user_003", "carol.example@example.com", now - timedelta(days=10), now - timedelta(minutes=5)),
    ]
    scenarios = [("restaurant_001", "Restaurant Reservation"), ("hotel_001", "Hotel Check-in"),
                 ("xss_001", "<img src=x onerror=alert(1)>")]
    conversations = [
        # id, user, scenario, started, ended, completed
        (1, "user_001", "restaurant_001", now - timedelta(hours=5), now - timedelta(hours=4), True),
        (2, "user_001", "restaurant_001", now - timedelta(hours=3), None, False),
        (3, "user_002", "restaurant_001", now - timedelta(hours=29), now - timedelta(hours=28), False),
        (4, "user_003", "hotel_001", now - timedelta(minutes=20), now - timedelta(minutes=6), True),
        (5, "user_003", "restaurant_001", now - timedelta(minutes=4), None, False),
    ]
    quizzes = [(i, "user_001" if i < 4 else "user_003", now - timedelta(hours=i), 0.5 + i / 20) for i in range(1, 7)]
    checks = [(1, "user_002", now - timedelta(hours=30))]
    with engine.begin() as conn:
        for ddl in DDL:
            conn.execute(text(ddl))
        conn.execute(text("INSERT INTO users VALUES (:a, :b, :c, :d)"),
                     [dict(zip("abcd", u, strict=True)) for u in users])
        conn.execute(text("INSERT INTO scenarios VALUES (:a, :b)"), [dict(zip("ab", s, strict=True)) for s in scenarios])
        conn.execute(text("INSERT INTO conversations VALUES (:a, :b, :c, :d, :e, :f)"),
                     [dict(zip("abcdef", c, strict=True)) for c in conversations])
        conn.execute(text("INSERT INTO quiz_attempts VALUES (:a, :b, :c, :d)"),
                     [dict(zip("abcd", q, strict=True)) for q in quizzes])
        conn.execute(text("INSERT INTO grammar_checks VALUES (:a, :b, :c)"),
                     [dict(zip("abc", g, strict=True)) for g in checks])
    engine.dispose()
    # activity: user_001 = 2 conversations + 3 quizzes = 5; user_003 = 2 + 3 = 5; user_002 = 1 + 1 = 2
    return {
        "total_users": 3,
        "active_users_24h": 2,
        "active_users_1h": 1,
        "total_scenarios": 3,
        "active_conversations": 2,
        "total_quizzes_taken": 6,
        "total_grammar_checks": 1,
        "top_users": [("user_001", "a***@example.com", 5), ("user_003", "c***@example.com", 5),
                      ("user_002", "b***@example.com", 2)],
        "popular_scenarios": [("restaurant_001", 4, 25.0), ("hotel_001", 1, 100.0)],
        # users.last_active_at, which disagrees with the latest activity row for user_002 (a conversation at
        # -29 h) and user_003 (a conversation at -4 min)
        "last_active": {u[0]: u[3] for u in users},
    }
