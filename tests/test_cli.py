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
    assert {group for group, _ in listings} == {"reporter", "reporter silence", "reporter config"}
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
