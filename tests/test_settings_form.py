"""A setting whose value does not match its form (a time, a choice) is one line saying what is expected, never
pydantic's regular expression."""

import pytest

from tests.test_cli import reporter


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("REPORTER_WEEKLY_REPORT_TIME", "25:00", "HH:MM"),
    ("REPORTER_MONTHLY_REPORT_TIME", "7", "HH:MM"),
    ("REPORTER_REPORT_TIME", "noon", "HH:MM"),
    ("REPORTER_SMTP_SECURITY", "ssl", "none, starttls or tls"),
])
def test_a_value_out_of_form_names_the_form_not_a_regex(tmp_path, name, value, expected):
    result = reporter("check-config", env={name: value}, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert name in lines[0] and expected in lines[0] and f"'{value}'" in lines[0], lines[0]
    assert "pattern" not in lines[0] and "^" not in lines[0] and "\\d" not in lines[0], lines[0]
