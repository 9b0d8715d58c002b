"""Notification templates (``[templates] dir``): the Slack text, the email subject and parts, the webhook
annotations and the Apprise message replaced by Jinja2 files, delivered to real loopback receivers (HTTP, SMTP);
a bad template refused at start (exit 2, one line naming the file and line); a render error at run time falls
back to the built-in text, is counted and logged once, and the notification still goes out."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from reporter.alerting.loading import AlertingConfigError, load_alerting
from reporter.alerting.model import fingerprint
from reporter.notify import template_errors
from reporter.notify import templates as templates_module
from reporter.notify.notification import AlertNotice, Notification
from reporter.notify.outbox import Outbox
from reporter.notify.slack import MAX_SECTION_CHARS, text_payload
from reporter.settings import load_settings
from tests.daemon.helpers import RUN, daemon_env
from tests.notify.helpers import check_config
from tests.receiver import Receiver
from tests.smtp import SMTPServer
from tests.snapshots import FEATURES

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # 14:00 CEST
HOSTILE = '<script>alert("x")</script> & <!channel>'
SLACK = ('{% for a in alerts %}*{{ a.labels.alertname }}* on {{ a.labels.host }} since '
         '{{ a.startsAt | localtime }}: {{ a.annotations.summary }}\n{% endfor %}<{{ externalURL }}|open reporter>\n')


def _alert(status="firing", **labels) -> AlertNotice:
    labels = {"alertname": "cpu_high", "severity": "critical", "host": "web-1", **labels}
    return AlertNotice(status, labels, {"summary": "CPU at 95%", "description": "CPU above 90% for 5 min"}, START,
                       START if status == "resolved" else None, fingerprint(labels), "")


def _notification(*alerts: AlertNotice, receiver: str = "ops", id: str = "ntf_tpl") -> Notification:
    return Notification(id=id, receiver=receiver, alerts=list(alerts or [_alert()]), created_at=START,
                        external_url="http://reporter.example.com")


def _config(tmp_path: Path, receiver: str, files: dict[str, str], **settings):
    folder = tmp_path / "tpl"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    path = tmp_path / "alerting.toml"
    path.write_text(f'[templates]\ndir = "tpl"\n[[receivers]]\nname = "ops"\n{receiver}\n')
    return load_alerting(load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                                       alerting_file=str(path), timezone="Europe/Berlin", **settings))


def _deliver(history, config, notification: Notification) -> int:
    receiver = config.receivers[0]
    outbox = Outbox(history.engine, config.receivers, config.defaults)
    outbox.enqueue(notification.id, receiver.name, receiver.render(notification, ZoneInfo("Europe/Berlin")), 1,
                   datetime.now(UTC))

    async def go() -> int:
        async with httpx.AsyncClient() as client:
            return await outbox.deliver_due(client)

    return asyncio.run(go())


@pytest.fixture
def loopback():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def test_slack_template_replaces_the_message_with_every_value_escaped(tmp_path, history, loopback):
    config = _config(tmp_path, f'type = "slack"\nurl = "{loopback.url}"', {"slack.txt.j2": SLACK})
    alert = _alert(host="web-<1>&")
    alert = AlertNotice(alert.status, alert.labels, {"summary": HOSTILE}, START, None, alert.fingerprint)
    assert _deliver(history, config, _notification(alert)) == 1
    body = loopback.wait_for(1)[0].json()
    expected = ("*cpu_high* on web-&lt;1&gt;&amp; since 2024-05-01 14:00:00 CEST: "
                "&lt;script&gt;alert(\"x\")&lt;/script&gt; &amp; &lt;!channel&gt;\n"
                "<http://reporter.example.com|open reporter>")  # the template's own link stays a link
    assert body == {"text": expected, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": expected,
                                                                              "verbatim": True}}]}


def test_a_long_slack_text_is_cut_into_sections_within_slack_limits():
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # ~10,000 characters
    payload = text_payload(text)
    sections = [b["text"]["text"] for b in payload["blocks"]]
    assert len(sections) == 4 and all(len(s) <= MAX_SECTION_CHARS for s in sections)
    assert "\n".join(sections) == text and len(payload["text"]) <= 4000


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")  # the message went over SMTP with CRLF line ends


@pytest.fixture
def smtp():
    server = SMTPServer()
    yield server
    server.stop()


def test_email_templates_make_subject_and_parts_with_html_escaped(tmp_path, history, smtp):
    files = {"email_subject.txt.j2": "{{ status | upper }}:\n{{ commonLabels.alertname }} on {{ alerts[0].labels.host }}",
             "email_body.txt.j2": "team {{ alerts[0].labels.team | default('-') }} since "
                                  "{{ alerts[0].startsAt | localtime }}\n",
             "email_body.html.j2": "<p>team <b>{{ alerts[0].labels.team | default('-') }}</b></p>\n"}
    config = _config(tmp_path, 'type = "email"\nto = ["oncall@example.com"]', files, smtp_host="127.0.0.1",
                     smtp_port=smtp.port, smtp_security="none", email_from="reporter@example.com")
    assert _deliver(history, config, _notification(_alert(team=HOSTILE))) == 1
    message = smtp.wait_for(1)[0]
    assert message["Subject"] == "FIRING: cpu_high on web-1"  # made one line
    assert _lf(message.get_body(("plain",)).get_content()) == f"team {HOSTILE} since 2024-05-01 14:00:00 CEST\n"
    page = _lf(message.get_body(("html",)).get_content())
    assert "<script>" not in page and "<!channel>" not in page  # the value stays text in the HTML part
    assert page == ("<p>team <b>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;!channel&gt;</b></p>\n")


def test_a_plain_text_email_template_alone_sends_no_built_in_html(tmp_path, history, smtp):
    config = _config(tmp_path, 'type = "email"\nto = ["oncall@example.com"]',
                     {"email_body.txt.j2": "{{ alerts | length }} alert(s)"}, smtp_host="127.0.0.1",
                     smtp_port=smtp.port, smtp_security="none")
    assert _deliver(history, config, _notification()) == 1
    message = smtp.wait_for(1)[0]
    assert not message.is_multipart() and _lf(message.get_content()) == "1 alert(s)\n"
    assert message["Subject"] == "[FIRING:1] cpu_high"  # not overridden: built in


def test_webhook_templates_replace_the_annotations(tmp_path, history, loopback):
    config = _config(tmp_path, f'type = "webhook"\nurl = "{loopback.url}"',
                     {"webhook_summary.txt.j2": "{{ alert.labels.alertname }} on {{ alert.labels.host }} "
                                                "({{ alert.status }} of {{ alerts | length }})\n"})
    assert _deliver(history, config, _notification(_alert(), _alert("resolved", host="web-2"))) == 1
    payload = loopback.wait_for(1)[0].json()
    assert [a["annotations"] for a in payload["alerts"]] == [
        {"summary": "cpu_high on web-1 (firing of 2)", "description": "CPU above 90% for 5 min"},
        {"summary": "cpu_high on web-2 (resolved of 2)", "description": "CPU above 90% for 5 min"}]
    assert payload["commonAnnotations"] == {"description": "CPU above 90% for 5 min"}  # the summaries now differ


def test_apprise_templates_make_title_and_body(tmp_path, history, loopback):
    config = _config(tmp_path, f'type = "apprise"\nurls = ["json://127.0.0.1:{loopback.port}/hook"]',
                     {"apprise_title.txt.j2": "{{ firing | length }} firing",
                      "apprise_body.txt.j2": "{% for a in alerts %}{{ a.labels.host }}: {{ a.annotations.summary }}"
                                             "{% endfor %}"})
    assert _deliver(history, config, _notification()) == 1
    body = loopback.wait_for(1)[0].json()
    assert body["title"] == "1 firing" and body["message"] == "web-1: CPU at 95%"


def test_a_render_error_at_run_time_sends_the_built_in_text_counted_and_logged_once(tmp_path, history, loopback,
                                                                                     caplog):
    # the sample alerts have a service label, so the template passes at start; this alert has none
    config = _config(tmp_path, f'type = "slack"\nurl = "{loopback.url}"',
                     {"slack.txt.j2": "{{ status }}\n{{ alerts[0].labels.service }}"})
    before = template_errors.error_counts().get("slack.txt.j2", 0)
    with caplog.at_level(logging.WARNING, logger="reporter.notify.templates"):
        for i in range(3):
            assert _deliver(history, config, _notification(id=f"ntf_{i}")) == 1
    got = loopback.wait_for(3)
    assert len(got) == 3 and all(r.json()["text"] == "[FIRING:1] cpu_high on web-1" for r in got)  # built in
    assert "attachments" in got[0].json()
    assert template_errors.error_counts()["slack.txt.j2"] == before + 3
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings  # an alert storm gives one warning per template and error
    assert "slack.txt.j2:2" in warnings[0] and "'dict object' has no attribute 'service'" in warnings[0]


def test_templates_dir_is_relative_to_the_alerting_file(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    config = _config(tmp_path, 'type = "webhook"\nurl = "http://127.0.0.1:9/hook"', {"slack.txt.j2": "{{ status }}"})
    assert config.templates is not None and config.templates.folder == tmp_path / "tpl"
    assert config.templates.names() == ["slack.txt.j2"] and config.receivers[0].kind.templates is config.templates


@pytest.mark.parametrize(("files", "expected"), [
    ({"slack.txt.j2": "ok\n{% if %}"}, "tpl/slack.txt.j2:2: Expected an expression, got 'end of statement block'"),
    ({"email_body.html.j2": "a\nb\n{{ alerts[0].labels.team }}"},
     "tpl/email_body.html.j2:3: 'dict object' has no attribute 'team'"),
    ({"slak.txt.j2": "{{ status }}"}, "tpl: unknown template(s) slak.txt.j2; known: slack.txt.j2, "),
    ({"apprise_title.txt.j2": "{% if false %}x{% endif %}"},
     "tpl/apprise_title.txt.j2: renders an empty text for the sample notification"),
])
def test_a_bad_template_stops_check_config_with_exit_2_naming_file_and_line(tmp_path, files, expected):
    (tmp_path / "tpl").mkdir()
    for name, text in files.items():
        (tmp_path / "tpl" / name).write_text(text)
    result = check_config(tmp_path, '[templates]\ndir = "tpl"\n')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "a.toml: templates.dir: " in lines[0] and expected in lines[0], lines


def test_check_config_shows_the_folder_and_the_overridden_templates(tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "webhook_summary.txt.j2").write_text("{{ alert.labels.alertname }}")
    (tmp_path / "tpl" / "slack.txt.j2").write_text("{{ status }}")
    (tmp_path / "tpl" / "README.md").write_text("not a template: ignored")
    result = check_config(tmp_path, '[templates]\ndir = "tpl"\n')
    assert result.returncode == 0, result.stderr
    assert (f"# templates: {tmp_path / 'tpl'}: slack.txt.j2, webhook_summary.txt.j2 overridden, the other texts "
            "built in") in result.stderr


@pytest.mark.parametrize(("table", "expected"), [
    ('[templates]\ndirectory = "tpl"\n', "templates: unknown field(s) ['directory']; expected dir"),
    ("[templates]\n", "templates.dir: missing"),
    ('[templates]\ndir = "nowhere"\n', "nowhere: not a folder"),
    ('templates = "tpl"\n', "templates: must be a table"),
])
def test_a_bad_templates_table_names_the_field(tmp_path, table, expected):
    path = tmp_path / "alerting.toml"
    path.write_text(table)
    with pytest.raises(AlertingConfigError) as info:
        load_alerting(load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", alerting_file=str(path)))
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)


def test_the_sample_notification_has_what_the_docs_promise():
    sample = templates_module.sample_notification()
    assert [a.status for a in sample.alerts] == ["firing", "resolved"]
    assert all(set(a.labels) == set(templates_module.SAMPLE_LABELS) for a in sample.alerts)
    assert json.dumps(templates_module.context(sample), default=str)  # every value is plain data


def test_the_documented_example_template_renders(tmp_path):
    reference = (Path(__file__).resolve().parents[2] / "docs" / "alerting.md").read_text(encoding="utf-8")
    example = reference.split("```jinja\n", 1)[1].split("```", 1)[0]
    (tmp_path / "slack.txt.j2").write_text(example)
    loaded = templates_module.TemplateSet.load(tmp_path, ZoneInfo("Europe/Berlin"))
    text = loaded.render("slack.txt.j2", templates_module.sample_notification())
    assert text == ("🔴 *cpu_high* on web1: CPU at 97%\n  since 09:00\n"
                    "✅ *cpu_high* on web2: CPU at 45%\n  since 08:00, for 1 h 00 min\n"
                    "<http://reporter.example.com|open reporter>")


def test_reporter_run_refuses_to_start_with_a_bad_template(tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "slack.txt.j2").write_text("{{ status }}\n{{ alerts[0].labels.team }}\n")
    (tmp_path / "a.toml").write_text('[templates]\ndir = "tpl"\n')
    settings = {"REPORTER_ALERTING_FILE": str(tmp_path / "a.toml"),
                "REPORTER_HISTORY_URL": f"sqlite:///{tmp_path / 'h.db'}", "REPORTER_HTTP_PORT": "0"}
    result = subprocess.run(RUN, cwd=tmp_path, env=daemon_env(settings), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"reporter: bad alerting configuration: {tmp_path / 'a.toml'}: templates.dir: "
                                     f"{tmp_path / 'tpl' / 'slack.txt.j2'}:2: 'dict object' has no attribute 'team'")
    assert not (tmp_path / "h.db").exists()  # stopped before anything started


def test_a_reload_applies_an_edited_template(tmp_path, history):
    from reporter.alerting.pipeline import Alerting

    config = _config(tmp_path, 'type = "webhook"\nurl = "http://127.0.0.1:9/hook"',
                     {"webhook_summary.txt.j2": "old {{ alert.labels.alertname }}"})
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(tmp_path / "alerting.toml"))
    alerting = Alerting(settings, config, history)
    (tmp_path / "tpl" / "webhook_summary.txt.j2").write_text("new {{ alert.labels.alertname }}")
    summary = alerting.reload(load_alerting(settings))
    assert "1 receiver(s) (0 added, 0 removed, 1 changed)" in summary
    body = json.loads(alerting.dispatcher.receivers[0].render(_notification(), ZoneInfo("UTC")))
    assert body["alerts"][0]["annotations"]["summary"] == "new cpu_high"
