"""``reporter report`` options as a user runs them."""

from __future__ import annotations

import re

import pytest

from reporter.store.history import History
from tests.test_cli import reporter


def test_every_format_the_help_offers_is_accepted(tmp_path):
    help_text = reporter("report", "--help").stdout
    line = " ".join(help_text.split())
    offered = re.search(r"--format \S+ Files to write: html, pdf, or both", line)
    assert offered, help_text
    (tmp_path / "data").mkdir()
    History(f"sqlite:///{tmp_path / 'data' / 'history.db'}", ["grammar"]).close()
    for value in ("html", "pdf", "both", "html,pdf"):
        result = reporter("report", "--date", "2026-01-01", "--format", value, "--out", str(tmp_path / value),
                          cwd=tmp_path, env={"REPORTER_AI_FEATURES": "grammar"})
        assert result.returncode == 0, (value, result.stderr)
        written = sorted(p.suffix for p in (tmp_path / value).iterdir())
        assert written == {"html": [".html"], "pdf": [".pdf"]}.get(value, [".html", ".pdf"]), value


@pytest.mark.parametrize("value", ["docx", "", "html,docx"])
def test_an_unknown_format_exits_2_naming_the_choices(tmp_path, value):
    result = reporter("report", "--date", "2026-01-01", "--format", value, cwd=tmp_path)
    assert result.returncode == 2
    assert "--format" in result.stderr and "html, pdf or both" in result.stderr and "Traceback" not in result.stderr
