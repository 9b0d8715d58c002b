"""Default SQL for usage statistics, written for the reference schema in README.md ("The application's database").

Each can be replaced with ``REPORTER_USAGE_QUERIES`` (a JSON object of name -> SQL). Scalar queries return one
number; ``top_users`` returns ``user_id, email, activity_count, last_active`` (``last_active`` is
``users.last_active_at``, the application's own record that ``active_users_24h`` counts too, so a user counted
as active today never shows an older date; the latest activity row only when that column is null);
``popular_scenarios`` returns ``scenario_id, name, start_count, completed_count``. Bound parameters available:
``:since`` (UTC datetime, 24 h ago), ``:since_1h`` (1 h ago) and ``:limit`` (rows wanted). Plain SQL that runs on
SQLite, PostgreSQL and MySQL.
"""

# the reference schema (README.md, "The application's database"): what the default queries are written for; the
# tests' application database and docs/example_report.py create it
REFERENCE_SCHEMA = [
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, created_at TIMESTAMP, last_active_at TIMESTAMP)",
    "CREATE TABLE scenarios (id TEXT PRIMARY KEY, name TEXT)",
    "CREATE TABLE conversations (id INTEGER PRIMARY KEY, user_id TEXT, scenario_id TEXT, started_at TIMESTAMP,"
    " ended_at TIMESTAMP NULL, completed BOOLEAN)",
    "CREATE TABLE quiz_attempts (id INTEGER PRIMARY KEY, user_id TEXT, created_at TIMESTAMP, score REAL)",
    "CREATE TABLE grammar_checks (id INTEGER PRIMARY KEY, user_id TEXT, created_at TIMESTAMP)",
]

SCALAR_QUERIES = {
    "total_users": "SELECT COUNT(*) FROM users",
    "active_users_24h": "SELECT COUNT(*) FROM users WHERE last_active_at >= :since",
    "active_users_1h": "SELECT COUNT(*) FROM users WHERE last_active_at >= :since_1h",
    "total_scenarios": "SELECT COUNT(*) FROM scenarios",
    "active_conversations": "SELECT COUNT(*) FROM conversations WHERE ended_at IS NULL",
    "total_quizzes_taken": "SELECT COUNT(*) FROM quiz_attempts",
    "total_grammar_checks": "SELECT COUNT(*) FROM grammar_checks",
}

LIST_QUERIES = {
    "top_users": """
        SELECT u.id AS user_id, u.email AS email, COUNT(*) AS activity_count,
               COALESCE(u.last_active_at, MAX(a.at)) AS last_active
        FROM users u
        JOIN (
            SELECT user_id, started_at AS at FROM conversations
            UNION ALL SELECT user_id, created_at AS at FROM quiz_attempts
            UNION ALL SELECT user_id, created_at AS at FROM grammar_checks
        ) a ON a.user_id = u.id
        GROUP BY u.id, u.email, u.last_active_at
        ORDER BY activity_count DESC, u.id
        LIMIT :limit
    """,
    "popular_scenarios": """
        SELECT s.id AS scenario_id, s.name AS name, COUNT(c.id) AS start_count,
               SUM(CASE WHEN c.completed THEN 1 ELSE 0 END) AS completed_count
        FROM scenarios s
        JOIN conversations c ON c.scenario_id = s.id
        GROUP BY s.id, s.name
        ORDER BY start_count DESC, s.id
        LIMIT :limit
    """,
}

DEFAULT_QUERIES = {**SCALAR_QUERIES, **LIST_QUERIES}
