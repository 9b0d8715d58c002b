"""The CLI as a user runs it (subprocesses)."""

import json
import os
import subprocess
import sys

import pytest


def reporter(*args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "reporter", *args], env=full_env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["run", "sample", "check-config"])
@pytest.mark.parametrize(("name", "value"), [
    ("REPORTER_SAMPLE_INTERVAL", "-5"),
    ("REPORTER_HISTORY_URL", "::nope"),
    ("REPORTER_TIMEZONE", "Not/AZone"),
])
def test_bad_setting_exits_2_with_one_line(tmp_path, command, name, value):
    result = reporter(command, env={name: value}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.stderr


def test_bad_setting_in_env_file(tmp_path):
    (tmp_path / ".env").write_text("REPORTER_PROBE_TIMEOUT=soon\n")
    result = reporter("check-config", cwd=tmp_path)
    assert result.returncode == 2 and "REPORTER_PROBE_TIMEOUT" in result.stderr


def test_check_config_masks_secrets(tmp_path):
    result = reporter("check-config", cwd=tmp_path, env={
        "REPORTER_APP_DATABASE_URL": "postgresql+psycopg://app:Sup3rS3cret@db.example.com/app",
        "REPORTER_API_TOKEN": "tok-123456"})
    assert result.returncode == 0
    assert "Sup3rS3cret" not in result.stdout and "tok-123456" not in result.stdout
    assert "REPORTER_APP_DATABASE_URL=postgresql+psycopg://app:***@db.example.com/app" in result.stdout


def test_check_config_masks_secret_query_parameters(tmp_path):
    """A query parameter whose name contains password/secret/token/key is masked, wherever the word sits in it."""
    result = reporter("check-config", cwd=tmp_path, env={
        "REPORTER_APP_DATABASE_URL": "postgresql+psycopg://app@db.example.com/app?sslmode=require"
                                     "&sslpassword=QSECRETQ&client_secret=CLSECRET1",
        "REPORTER_OLLAMA_URL": "http://127.0.0.1:11434/?access_token=ACCTOK1&api_key=APIK1&apikey=APIK2"
                               "&passwd=PWD1X&pwd=PWD2X&x-api-key=APIK3"})
    assert result.returncode == 0, result.stderr
    for secret in ("QSECRETQ", "CLSECRET1", "ACCTOK1", "APIK1", "APIK2", "APIK3", "PWD1X", "PWD2X"):
        assert secret not in result.stdout + result.stderr, secret
    assert "sslmode=require&sslpassword=***&client_secret=***" in result.stdout


def test_sample_with_every_dependency_down(tmp_path):
    from tests.conftest import free_port

    port = free_port()
    result = reporter("sample", "--compact", cwd=tmp_path, env={
        "REPORTER_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "REPORTER_APP_DATABASE_URL": f"postgresql+psycopg://u:pw@127.0.0.1:{port}/x",
        "REPORTER_OLLAMA_URL": f"http://127.0.0.1:{port}", "REPORTER_PROBE_TIMEOUT": "1"})
    assert result.returncode == 0, result.stderr
    snapshot = json.loads(result.stdout)
    assert snapshot["status"] == "unhealthy"
    assert snapshot["system"]["cpu_percent"] is not None
    assert not (tmp_path / "data").exists()  # sample stores nothing


def test_help_describes_commands():
    result = reporter("--help")
    assert result.returncode == 0
    for command in ("run", "sample", "check-config"):
        assert command in result.stdout
    assert "Exit codes" in result.stdout


def command_listings():
    """Every group's help as a user sees it: (group, {command: short help}), at the usual 80 columns."""
    import click

    from reporter.cli import main

    def walk(group, path):
        result = reporter(*path, "--help", env={"COLUMNS": "80"})
        assert result.returncode == 0
        lines = result.stdout.split("Commands:\n", 1)[1].splitlines()
        yield " ".join(["reporter", *path]), dict(line.split(None, 1) for line in lines if line.strip())
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, [*path, name])

    return list(walk(main, []))


def test_every_command_is_listed_with_a_whole_sentence():
    listings = command_listings()
    assert {group for group, _ in listings} == {"reporter", "reporter silence", "reporter config", "reporter hosts"}
    for group, commands in listings:
        for name, text in commands.items():
            assert text.endswith(".") and not text.endswith(("...", "e.g.", "i.e.")), f"{group} {name}: {text}"
            assert len(text.split()) >= 2, f"{group} {name}: {text}"


def test_silence_add_help_shows_its_whole_example():
    result = reporter("silence", "add", "--help")
    text = " ".join(result.stdout.split())
    assert 'reporter silence add --match alertname=cpu_high --match service=redis \\ --duration 2h' in text


def test_config_example_prints_the_repository_settings_file(tmp_path):
    from pathlib import Path

    result = reporter("config", "example", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (Path(__file__).resolve().parents[1] / "settings.example.env").read_text()
    assert "REPORTER_SAMPLE_INTERVAL=10" in result.stdout
    assert "reporter config example" in " ".join(reporter("--help").stdout.split())  # the help points to it
    (tmp_path / ".env").write_text(result.stdout)  # saved as .env it is a valid settings file
    check = reporter("check-config", cwd=tmp_path)
    assert check.returncode == 0 and "warning" not in check.stderr, check.stderr


def test_unknown_setting_is_a_warning_with_a_suggestion(tmp_path):
    result = reporter("check-config", cwd=tmp_path, env={"REPORTER_SAMPLE_INTERVALL": "5"})
    assert result.returncode == 0
    assert "REPORTER_SAMPLE_INTERVALL is not a setting" in result.stderr
    assert "did you mean REPORTER_SAMPLE_INTERVAL?" in result.stderr


def test_missing_explicit_env_file_exits_2(tmp_path):
    result = reporter("--env-file", str(tmp_path / "nope.env"), "check-config", cwd=tmp_path)
    assert result.returncode == 2 and "no such file" in result.stderr


def test_bad_alerting_file_names_rule_and_field(tmp_path):
    (tmp_path / "alerting.toml").write_text('[rules.cpu_high]\nthreshold = "high"\n')
    result = reporter("run", cwd=tmp_path, env={"REPORTER_ALERTING_FILE": str(tmp_path / "alerting.toml")})
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "rules.cpu_high.threshold" in line and "Traceback" not in result.stderr


def test_read_commands_do_not_create_an_empty_history(tmp_path):
    for args in (["alerts"], ["silence", "list"], ["report", "--date", "2026-01-01"],
                 ["export", "--from", "2026-01-01", "--to", "2026-01-02"]):
        result = reporter(*args, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stderr)
        assert "no history at" in result.stderr
    assert not (tmp_path / "data").exists()


def test_report_of_a_future_day_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    result = reporter("report", "--date", "2999-01-01", cwd=tmp_path)
    assert result.returncode == 2 and "in the future" in result.stderr


def test_check_config_validates_the_alerting_file(tmp_path):
    (tmp_path / "a.toml").write_text('[[receivers]]\nname = "x"\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\n'
                                     'secret = "whsec_not base64!!"\n')
    result = reporter("check-config", cwd=tmp_path, env={"REPORTER_ALERTING_FILE": str(tmp_path / "a.toml")})
    assert result.returncode == 2 and "not base64" in result.stderr and "whsec_not" not in result.stderr


def _one_error_line(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", ["run", "check-config"])
@pytest.mark.parametrize(("name", "url"), [
    ("REPORTER_APP_DATABASE_URL", "postgresql+psycopg://u:SEC@RETxyz@db.example.com/db"),
    ("REPORTER_HISTORY_URL", "postgresql+psycopg://u:SEC@RETxyz@db.example.com/db"),
    ("REPORTER_REDIS_URL", "redis://:SEC@RETxyz@127.0.0.1:6379/0"),
    ("REPORTER_OLLAMA_URL", "http://u:SEC@RETxyz@127.0.0.1:11434"),
    ("REPORTER_WEBHOOK_URL", "https://u:SEC@RETxyz@hooks.example.com/x"),
    ("REPORTER_SLACK_WEBHOOK_URL", "https://u:SEC@RETxyz@hooks.slack.com/services/T/B/X"),
])
def test_raw_at_in_a_url_password_is_refused_without_showing_it(tmp_path, command, name, url):
    """issue 8 item 10: a raw '@' made the rest of the password the host name, shown everywhere."""
    result = reporter(command, cwd=tmp_path, env={name: url})
    line = _one_error_line(result)
    assert f"{name}: the password contains '@'; percent-encode it as %40" in line
    assert "SEC" not in result.stderr + result.stdout and "RETxyz" not in result.stderr + result.stdout


def test_percent_encoded_at_is_accepted_and_masked(tmp_path):
    result = reporter("check-config", cwd=tmp_path,
                      env={"REPORTER_APP_DATABASE_URL": "postgresql+psycopg://u:SEC%40RETxyz@db.example.com/db"})
    assert result.returncode == 0, result.stderr
    assert "REPORTER_APP_DATABASE_URL=postgresql+psycopg://u:***@db.example.com/db" in result.stdout
    assert "RETxyz" not in result.stdout + result.stderr


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/abc", "redis://127.0.0.1/1x", "rediss://h:6380/-1"])
def test_redis_url_with_a_non_numeric_database_exits_2(tmp_path, url):
    """issue 8 item 11: redis-py silently read database 0."""
    line = _one_error_line(reporter("check-config", cwd=tmp_path, env={"REPORTER_REDIS_URL": url}))
    assert line.startswith("reporter: bad setting REPORTER_REDIS_URL: the database") and "not a number" in line


@pytest.mark.parametrize("name", ["REPORTER_SAMPLE_INTERVAL", "REPORTER_USAGE_INTERVAL", "REPORTER_PROBE_TIMEOUT",
                                  "REPORTER_REPORT_TIMEOUT"])
@pytest.mark.parametrize(("value", "said"), [("nan", "not a number"), ("NaN", "not a number"),
                                             ("inf", "not a number (infinite)"),
                                             ("-Infinity", "not a number (infinite)")])
def test_nan_and_inf_in_a_float_setting_are_named(tmp_path, name, value, said):
    """issue 8 item 25: nan was explained as 'less than or equal to 3600'."""
    line = _one_error_line(reporter("check-config", cwd=tmp_path, env={name: value}))
    assert f"{name}: {said}" in line and "less than" not in line and "greater than" not in line


def test_unreadable_env_file_exits_2_naming_it(tmp_path):
    """issue 8 item 23: an unreadable .env was a traceback (a symlink loop is unreadable even for root)."""
    (tmp_path / ".env").symlink_to(".env")
    line = _one_error_line(reporter("check-config", cwd=tmp_path))
    assert line.startswith("reporter: .env: cannot read it (") and "symbolic links" in line
    line = _one_error_line(reporter("--env-file", str(tmp_path / ".env"), "run", cwd=tmp_path))
    assert f"{tmp_path / '.env'}: cannot read it" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_env_file_without_permission_exits_2(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("REPORTER_SAMPLE_INTERVAL=5\n")
    env_file.chmod(0)
    line = _one_error_line(reporter("check-config", cwd=tmp_path))
    assert line == "reporter: .env: cannot read it (Permission denied)"


@pytest.mark.parametrize(("text", "line_number", "said"), [
    ("REPORTER_SAMPLE_INTERVAL=5\n\n# a comment\nREPORTER_TOP_N\n", 4, "no '=' in this line"),
    ("REPORTER_SAMPLE_INTERVAL=5\nREPORTER_API_TOKEN s3cr3t-value\n", 2, "cannot parse this line"),
    ('\n\nREPORTER_EMAIL_SUBJECT="unclosed\n', 3, "cannot parse this line"),
])
def test_env_file_line_without_equals_names_file_and_line(tmp_path, text, line_number, said):
    """issue 8 item 23: a line without '=' was ignored without a word; its text (maybe a secret) is not shown."""
    (tmp_path / ".env").write_text(text)
    for command in ("check-config", "run"):
        line = _one_error_line(reporter(command, cwd=tmp_path))
        assert line.startswith(f"reporter: .env:{line_number}: {said}") and "expected NAME=VALUE" in line
        assert "s3cr3t" not in line


def test_a_folder_named_env_is_not_a_settings_file(tmp_path):
    (tmp_path / ".env").mkdir()  # a virtualenv called .env
    assert reporter("check-config", cwd=tmp_path).returncode == 0


def test_raw_at_in_a_receiver_url_of_the_alerting_file_is_refused(tmp_path):
    (tmp_path / "a.toml").write_text('[[receivers]]\nname = "ops"\ntype = "webhook"\n'
                                     'url = "https://u:SEC@RETxyz@hooks.example.com/x"\n')
    line = _one_error_line(reporter("check-config", cwd=tmp_path,
                                    env={"REPORTER_ALERTING_FILE": str(tmp_path / "a.toml")}))
    assert "receivers[0] (ops).url: the password contains '@'; percent-encode it as %40" in line
    assert "RETxyz" not in line


@pytest.mark.parametrize(("duration", "expected"), [
    ("999999999d", "'999999999d' is too large (at most 3650d"),
    ("99999999999999999999999s", "too large"),
    ("soon", "not a duration"),
])
def test_silence_add_bad_duration_is_one_line(tmp_path, duration, expected):
    """A duration too large for a date was an OverflowError traceback."""
    result = reporter("silence", "add", "--match", "alertname=x", "--duration", duration, "--comment", "c",
                      cwd=tmp_path, env={"REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}"})
    line = _one_error_line(result)
    assert line.startswith("reporter: silence add --duration: ") and expected in line


def test_export_writes_the_samples_in_range_as_csv(tmp_path):
    from datetime import UTC, datetime, timedelta

    from reporter.base.ms import to_ms
    from reporter.store.history import History

    url = f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url, ["grammar", "quiz"])
    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    with history.engine.begin() as conn:
        for i, cpu in enumerate([10.0, 12.5, None, 40.25]):  # every 10 minutes from 08:00
            conn.execute(history._insert, {"ts": to_ms(t0 + timedelta(minutes=10 * i)), "cpu_percent": cpu,
                                           "memory_percent": 50.0 + i})
    history.close()
    env = {"REPORTER_HISTORY_URL": url}
    result = reporter("export", "--from", "2026-11-02T08:05:00Z", "--to", "2026-11-02T08:30:00Z",
                      "--metrics", "cpu_percent,memory_percent", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [  # 08:00 before the start, 08:30 at the (excluded) end
        "timestamp,cpu_percent,memory_percent",
        "2026-11-02T08:10:00.000Z,12.5,51",
        "2026-11-02T08:20:00.000Z,,52",
    ]
    out = tmp_path / "all.csv"
    result = reporter("export", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-03T00:00:00Z", "--out", str(out),
                      cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("timestamp,") and "cpu_percent" in lines[0].split(",")
    result = reporter("export", "--from", "2026-11-02", "--to", "2026-11-03", "--metrics", "cpu_percent,nope",
                      cwd=tmp_path, env=env)
    assert result.returncode == 2 and "nope" in result.stderr and "Traceback" not in result.stderr
