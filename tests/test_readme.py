"""README.md stays true: its rule table is the default rules, its "Trying it" steps work from a second shell."""

from __future__ import annotations

import re
from pathlib import Path

from reporter.alerting.rules import build_rules, default_rules, parse_duration
from reporter.settings import Settings
from reporter.store.history import History
from tests.receiver import Receiver as HTTPReceiver
from tests.test_cli import reporter

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def rule_table() -> dict[str, list[str]]:
    """The Alerting section's rule table: rule name -> [condition, for, severity]."""
    rows = {}
    lines = section("Alerting").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| rule "))
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.fullmatch(r"`([a-z0-9_]+)`", cells[0])
        assert name, f"first cell is not a rule name: {line}"
        rows[name.group(1)] = cells[1:]
    return rows


def test_readme_rule_table_lists_exactly_the_default_rules():
    features = Settings().ai_features
    table = rule_table()
    assert list(table) == list(default_rules(features))
    for rule in build_rules({}, features):
        condition, for_, severity = table[rule.name]
        assert severity == rule.severity, rule.name
        assert (parse_duration(for_) if for_ != "-" else 0) == rule.for_seconds, rule.name
        # a flag rule says "false"/"not listed" instead; an anomaly rule's bounds come from its baseline
        if rule.kind != "anomaly" and not (rule.op == "==" and rule.threshold == 0):
            assert re.search(rf"\b{rule.threshold:g}\b", condition), (rule.name, condition)
        if rule.alert_name != rule.name:  # an alert named otherwise says so
            assert f"`{rule.alert_name}`" in condition, rule.name


def test_trying_it_works_from_a_second_shell(tmp_path):
    """The steps of "Trying it", in a fresh folder: the `.env` and the alerting file as the README gives them,
    `reporter test-alert --receiver demo` from a shell that has no REPORTER_* variable."""
    text = section("Alerting").split("**Trying it**", 1)[1]
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    env_file = next(body for lang, body in blocks if body.startswith("# .env"))
    toml = next(body for lang, body in blocks if lang == "toml")
    alerting_name = re.search(r"^REPORTER_ALERTING_FILE=(\S+)$", env_file, re.M).group(1)
    receiver = HTTPReceiver()
    try:
        (tmp_path / ".env").write_text(env_file)
        (tmp_path / alerting_name).write_text(toml.replace("http://127.0.0.1:9000/hook", receiver.url))
        (tmp_path / "data").mkdir()
        History(f"sqlite:///{tmp_path / 'data' / 'history.db'}", Settings().ai_features).close()  # the daemon's
        result = reporter("test-alert", "--receiver", "demo", "--wait", "10", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "demo: delivered" in result.stdout
        assert receiver.wait_for(1)[0].json()["receiver"] == "demo"
    finally:
        receiver.stop()


def test_trying_the_reports_renders_last_week_with_its_verdict(tmp_path):
    """The two commands of the Reports section's "Trying it", run by bash in a fresh folder with this install's
    `.venv/bin/` and no REPORTER_* variable: last week's report is rendered, with a verdict and incidents."""
    import os
    import subprocess
    import sys

    text = section("Reports").split("**Trying it**", 1)[1]
    script = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    assert "reporter report --week" in script
    (tmp_path / "data").mkdir()
    bin_dir = str(Path(sys.executable).parent) + "/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace(".venv/bin/", bin_dir)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [html] = (tmp_path / "reports").glob("*-W*.html")
    page = html.read_text(encoding="utf-8")
    assert "Weekly report" in page and 'class="verdict' in page and "<h2>Incidents</h2>" in page
    assert (tmp_path / "reports" / html.name.replace(".html", ".pdf")).is_file()
