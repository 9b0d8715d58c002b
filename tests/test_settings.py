import pytest

from reporter.masking import mask
from reporter.settings import SettingsError, load_settings, masked_items


def test_defaults():
    settings = load_settings(None)
    assert settings.sample_interval == 10 and settings.http_host == "127.0.0.1"
    assert settings.ai_features == ["grammar", "quiz", "voice", "scenario"]
    assert settings.retention_days == 30 and settings.probe_timeout == 2


def test_env_and_env_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("REPORTER_SAMPLE_INTERVAL=15\nREPORTER_AI_FEATURES=grammar, chat\n")
    monkeypatch.setenv("REPORTER_SAMPLE_INTERVAL", "20")
    settings = load_settings(env_file)
    assert settings.sample_interval == 20  # the environment wins over the file
    assert settings.ai_features == ["grammar", "chat"]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("REPORTER_SAMPLE_INTERVAL", "-5", "greater than or equal to 1"),
    ("REPORTER_HISTORY_URL", "not a url", "not a SQLAlchemy URL"),
    ("REPORTER_APP_DATABASE_URL", "://", "not a SQLAlchemy URL"),
    ("REPORTER_REDIS_URL", "http://x", "redis://"),
    ("REPORTER_OLLAMA_URL", "ftp://x", "http://"),
    ("REPORTER_TIMEZONE", "Mars/Olympus", "unknown timezone"),
    ("REPORTER_AI_FEATURES", "Bad Name", "feature name"),
    ("REPORTER_USAGE_QUERIES", '{"nope": "SELECT 1"}', "unknown query"),
    ("REPORTER_HTTP_PORT", "70000", "less than or equal"),
    ("REPORTER_HISTORY_URL", "sqlite:///:memory:", "in-memory SQLite history"),
    ("REPORTER_HISTORY_URL", "sqlite:///file:h.db?uri=true&mode=memory", "in-memory SQLite history"),
    ("REPORTER_HISTORY_URL", "sqlite:///file::memory:?uri=true", "in-memory SQLite history"),
    ("REPORTER_HISTORY_URL", "sqlite:///file:?uri=true", "in-memory SQLite history"),
    ("REPORTER_HISTORY_URL", "sqlite:///file://evil.example/h.db?uri=true", "URI authority"),
    ("REPORTER_REPORTS", "daily,hourly", "unknown report(s) 'hourly'; known: daily, weekly, monthly"),
    ("REPORTER_WEEKLY_REPORT_TIME", "Mon 07:00", "HH:MM"),
    ("REPORTER_MONTHLY_REPORT_TIME", "24:00", "HH:MM"),
    ("REPORTER_WEBHOOK_URL", "http://", "URL with a host"),  # was taken, and failed on every notification
    ("REPORTER_SLACK_WEBHOOK_URL", "https:///services/T0/B0/x", "URL with a host"),
    ("REPORTER_EXTERNAL_URL", "http://:8321", "URL with a host"),
    ("REPORTER_WEBHOOK_URL", "http://hooks.example.com:99999/x", "Port out of range"),
    # HTTP trims the header: with a blank at an end no request could ever match, the API was locked for good
    ("REPORTER_API_TOKEN", "Tok-7f3a ", "printable ASCII without spaces"),
    ("REPORTER_API_TOKEN", "tök-7f3a", "printable ASCII without spaces"),
    # disk_percent was missing on every sample and the disk alert silent
    ("REPORTER_DISK_PATH", "/nonexistent/data", "/nonexistent/data does not exist"),
    ("REPORTER_DISK_PATH", "var/lib", "not an absolute path"),
    # every report email was refused by the SMTP server; a line break would add headers
    ("REPORTER_EMAIL_FROM", "x", "'x' is not an email address"),
    ("REPORTER_EMAIL_FROM", "reporter@example.com\r\nBcc: all@example.com", "is not an email address"),
])
def test_bad_value_is_one_line_naming_the_setting(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings(None)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and expected in message and "\n" not in message
    assert "7f3a" not in message  # a secret's value is never shown


@pytest.mark.parametrize("sender", ["reporter@localhost", "Reporter <reporter@example.com>",
                                    "\"Ops, reporter\" <ops@example.com>"])
def test_a_sender_may_have_a_display_name(monkeypatch, sender):
    monkeypatch.setenv("REPORTER_EMAIL_FROM", sender)
    assert load_settings(None).email_from == sender


def test_reports_and_their_times():
    settings = load_settings(None, reports=" Weekly, monthly,weekly ", weekly_report_time="07:30", monthly_report_time="")
    assert settings.reports == ["weekly", "monthly"] and settings.report_kinds == ["week", "month"]
    assert (settings.report_time_of("day"), settings.report_time_of("week"), settings.report_time_of("month")) == \
        ("00:10", "07:30", "00:10")
    assert load_settings(None, reports="").report_kinds == []  # no report at all
    assert load_settings(None).report_kinds == ["day", "week", "month"]  # all three by default


def test_secrets_masked():
    assert mask("postgresql://app:pa55@db/app") == "postgresql://app:***@db/app"
    assert mask("redis://:pa55@r:6379/0") == "redis://:***@r:6379/0"
    assert mask("https://x/hook?token=abc&x=1") == "https://x/hook?token=***&x=1"
    settings = load_settings(None, app_database_url="postgresql://app:pa55@db/app", api_token="t0ken")
    shown = dict(masked_items(settings))
    assert shown["REPORTER_API_TOKEN"] == "***"
    assert "pa55" not in str(shown)


def test_probe_timeout_must_fit_in_the_interval():
    with pytest.raises(SettingsError, match="REPORTER_PROBE_TIMEOUT: 10 s must be shorter than"):
        load_settings(None, probe_timeout=10, sample_interval=10)


def test_bad_number_says_what_is_expected(monkeypatch):
    monkeypatch.setenv("REPORTER_SAMPLE_INTERVAL", "10s")
    with pytest.raises(SettingsError, match="expected: seconds between samples"):
        load_settings(None)


def test_mask_hides_a_password_with_a_raw_at_and_registered_secrets():
    from reporter.masking import mask

    assert mask("postgresql+psycopg://u:SEC@RET@host/db") == "postgresql+psycopg://u:***@host/db"
    load_settings(None, app_database_url="postgresql+psycopg://u:Dist%40nctive9@127.0.0.1/db", api_token="tok-987")
    # a driver's message with the password decoded, or the token, never shows either
    assert mask('FATAL: password "Dist@nctive9" rejected; tok-987') == 'FATAL: password "***" rejected; ***'


@pytest.mark.parametrize(("name", "url", "said"), [
    ("REPORTER_REDIS_URL", "redis://:SEC/RETxyz@127.0.0.1:6379/0", "the password contains '/', '?' or '#'"),
    ("REPORTER_APP_DATABASE_URL", "postgresql+psycopg://u:SEC?RETxyz@db/x", "the password contains '/', '?' or '#'"),
    ("REPORTER_OLLAMA_URL", "http://u:SEC#RETxyz@127.0.0.1:11434", "the password contains '/', '?' or '#'"),
    ("REPORTER_HISTORY_URL", "postgresql+psycopg://u@x:SEC@RETxyz@db/x", "the password contains '@'"),
])
def test_url_password_that_would_be_misread_is_refused_unshown(monkeypatch, name, url, said):
    monkeypatch.setenv(name, url)
    with pytest.raises(SettingsError) as info:
        load_settings(None)
    assert str(info.value).startswith(f"{name}: {said}") and "RETxyz" not in str(info.value)


@pytest.mark.parametrize("name", ["REPORTER_OLLAMA_URL", "REPORTER_REDIS_URL", "REPORTER_APP_DATABASE_URL",
                                  "REPORTER_HISTORY_URL", "REPORTER_WEBHOOK_URL"])
@pytest.mark.parametrize("url", ["ops:SECRETxyz@127.0.0.1:11434", "//ops:SECRETxyz@127.0.0.1:11434",
                                 "ops:SEC@RETxyz@127.0.0.1"])
def test_a_url_without_its_scheme_is_refused_with_its_password_unshown(monkeypatch, name, url):
    # the scheme forgotten: the line still names the setting and shows the value, the password masked
    monkeypatch.setenv(name, url)
    with pytest.raises(SettingsError) as info:
        load_settings(None)
    said = str(info.value)
    assert said.startswith(f"{name}: ") and "RETxyz" not in said and "ops:***@127.0.0.1" in said


@pytest.mark.parametrize("url", ["https://hooks.example.com:8443/x@y", "https://hooks.example.com/p@q?u=a@b"])
def test_at_in_a_url_path_is_fine(url):
    assert load_settings(None, webhook_url=url).webhook_url == url


def test_settings_example_lists_every_setting_and_nothing_else():
    import re
    from pathlib import Path

    from reporter.settings import ENV_PREFIX, Settings

    text = (Path(__file__).parent.parent / "settings.example.env").read_text()
    listed = set(re.findall(r"^#? ?(REPORTER_[A-Z0-9_]+)=", text, re.M))
    expected = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert listed == expected, (sorted(expected - listed), sorted(listed - expected))
    # no sentence said twice (a paragraph of the history setting was repeated)
    long_comments = [line for line in text.splitlines() if line.startswith("#") and len(line) > 60]
    assert len(long_comments) == len(set(long_comments)), sorted(
        {line for line in long_comments if long_comments.count(line) > 1})


@pytest.mark.parametrize(("url", "relative"), [
    ("sqlite:///{d}/h.db", "h.db"),
    ("sqlite:///file:{d}/h.db?uri=true", "h.db"),
    ("sqlite:///file:{d}/a%2520b.db?uri=true&mode=rwc", "a b.db"),
    ("sqlite:///file://localhost{d}/h.db?uri=true", "h.db"),
    ("sqlite:///file:./sub/h.db?uri=true&cache=shared", "sub/h.db"),
    ("sqlite:///file:sub/h.db", "file:sub/h.db"),  # no uri=true: a plain (odd) file name
])
def test_history_path_is_the_file_sqlite_writes(tmp_path, monkeypatch, url, relative):
    from sqlalchemy import text

    from reporter.store.history import history_engine

    monkeypatch.chdir(tmp_path)
    url = url.format(d=tmp_path)
    path = load_settings(None, history_url=url).history_path()
    engine = history_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert path.resolve() == (tmp_path / relative).resolve() and path.resolve().stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({relative.split("/")[0]})  # no junk folder


def test_fleet_settings_default_to_this_machine_as_a_node(monkeypatch):
    """REPORTER_HOST_NAME defaults to the machine's host name (also when set empty), the role to node, every
    service probed; a PostgreSQL history makes a fleet, a SQLite one does not."""
    import socket

    monkeypatch.setenv("REPORTER_HOST_NAME", "")
    settings = load_settings(None)
    assert settings.host_name == socket.gethostname()[:64]
    assert (settings.role, settings.probes, settings.fleet) == ("node", ["database", "redis", "ollama"], False)
    assert load_settings(None, history_url="postgresql+psycopg://postgres@127.0.0.1/test").fleet
    monkeypatch.setenv("REPORTER_PROBES", "ollama, ,ollama")
    monkeypatch.setenv("REPORTER_ROLE", "agent")
    settings = load_settings(None)
    assert (settings.probes, settings.role) == (["ollama"], "agent")


@pytest.mark.parametrize(("name", "value", "said"), [
    ("REPORTER_HOST_NAME", "api 1", "a host name is 1-64 letters"),
    ("REPORTER_HOST_NAME", "-api", "a host name is 1-64 letters"),
    ("REPORTER_HOST_NAME", "a" * 65, "a host name is 1-64 letters"),
    ("REPORTER_ROLE", "leader", "REPORTER_ROLE"),
    ("REPORTER_PROBES", "redis,mysql", "unknown service(s) 'mysql'; known: database, redis, ollama"),
])
def test_bad_fleet_setting_is_one_line(monkeypatch, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    message = str(caught.value)
    assert message.startswith(name) and said in message and "\n" not in message
