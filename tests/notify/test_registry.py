"""Receiver types as plug-ins: the registry names the known types, a type registered by a test is configured,
rendered, delivered and its declared secrets masked without any change to the outbox; the outbox, the worker
and the settings know no receiver type, and ``notify`` does not import ``alerting``."""

from __future__ import annotations

import ast
import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from reporter.alerting.dispatch import Dispatcher
from reporter.alerting.loading import AlertingConfigError, load_alerting
from reporter.logs import _UTCFormatter
from reporter.masking import mask
from reporter.notify.notification import Notification
from reporter.notify.outbox import Outbox
from reporter.notify.receivers import registry
from reporter.notify.receivers.base import DELIVERED, RETRY, Attempt, ReceiverOptions, ReceiverType
from reporter.notify.render import renderer
from reporter.settings import load_settings
from tests.notify.helpers import check_config
from tests.snapshots import FEATURES

REPORTER = Path(__file__).resolve().parents[2] / "reporter"
TOKEN = "memo-token-7f3e9a"


class MemoOptions(ReceiverOptions):
    box: str
    token: str


class MemoReceiver(ReceiverType):
    """A receiver type that delivers into a list in memory; refuses the first attempt with its token in the
    error (to see it masked)."""

    type = "memo"
    Options = MemoOptions
    secret_fields = ("token",)
    delivered: ClassVar[list[tuple[str, str, bytes]]] = []

    def render(self, notification: Notification, tz: ZoneInfo, max_alerts: int = 0) -> bytes:
        return ",".join(f"{a.labels['alertname']}:{a.status}" for a in notification.alerts).encode()

    async def send(self, client: Any, notification_id: str, body: bytes, timeout: float) -> Attempt:
        if not any(n == notification_id for n, _, _ in self.delivered) and body.endswith(b"!"):
            return Attempt(RETRY, None, f"token {self.options.token} refused", None, None, 0.1)
        self.delivered.append((notification_id, self.options.box, body))
        return Attempt(DELIVERED, None, None, None, None, 0.1)


@pytest.fixture
def memo():
    registry.register(MemoReceiver)
    MemoReceiver.delivered = []
    yield MemoReceiver
    registry.unregister("memo")


def _settings(tmp_path, text):
    path = tmp_path / "alerting.toml"
    path.write_text(text)
    return load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                         alerting_file=str(path))


def test_a_type_registered_in_a_test_is_configured_and_delivered_through_the_outbox(tmp_path, history, memo):
    settings = _settings(tmp_path, '[defaults]\nbackoff_initial = "0.01s"\nbackoff_max = "0.01s"\n'
                                   f'[[receivers]]\nname = "m"\ntype = "memo"\nbox = "inbox"\ntoken = "{TOKEN}"\n')
    config = load_alerting(settings)
    receiver = config.receivers[0]
    assert isinstance(receiver.kind, MemoReceiver) and receiver.kind.options.box == "inbox"
    assert mask(f"a line with {TOKEN} in it") == "a line with *** in it"  # declared secret registered
    outbox = Outbox(history.engine, config.receivers, config.defaults)
    now = datetime.now(UTC)
    dispatcher = Dispatcher(history.engine, config.receivers, config.defaults, renderer(ZoneInfo("UTC")))
    assert dispatcher.dispatch(now) == []  # no alert: nothing to send (the dispatcher takes the type too)
    outbox.enqueue("msg_1", "m", b"test_alert:firing", 1, now)
    assert asyncio.run(outbox.deliver_due(None)) == 1
    assert memo.delivered == [("msg_1", "inbox", b"test_alert:firing")]


def test_declared_secrets_are_masked_in_the_logs(tmp_path, history, memo, caplog):
    settings = _settings(tmp_path, f'[[receivers]]\nname = "m"\ntype = "memo"\nbox = "b"\ntoken = "{TOKEN}"\n')
    config = load_alerting(settings)
    outbox = Outbox(history.engine, config.receivers, config.defaults)
    outbox.enqueue("msg_2", "m", b"x!", 1, datetime.now(UTC))
    with caplog.at_level(logging.INFO, logger="reporter"):
        asyncio.run(outbox.deliver_next(None, "m"))
    assert outbox.status("msg_2")["attempts"] == 1 and TOKEN in outbox.status("msg_2")["last_error"]
    lines = [_UTCFormatter("%(message)s").format(r) for r in caplog.records if r.name.startswith("reporter")]
    assert any("token *** refused" in line for line in lines), lines
    assert not any(TOKEN in line for line in lines)


def test_unknown_type_is_refused_naming_the_known_types(tmp_path, memo):
    settings = _settings(tmp_path, '[[receivers]]\nname = "t"\ntype = "teams"\nurl = "https://x.example/h"\n')
    with pytest.raises(AlertingConfigError) as info:
        load_alerting(settings)
    assert str(info.value) == (f"{settings.alerting_file}: receivers[0] (t).type: unknown receiver type 'teams'; "
                               "known types: apprise, email, memo, slack, webhook")


def test_check_config_exits_2_on_an_unknown_type(tmp_path):
    result = check_config(tmp_path, '[[receivers]]\nname = "t"\ntype = "teams"\nurl = "https://x.example/h"\n')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "receivers[0] (t).type: unknown receiver type 'teams'" in lines[0]
    assert "known types: apprise, email, slack, webhook" in lines[0]


def test_a_types_own_field_error_names_the_field(tmp_path, memo):
    settings = _settings(tmp_path, '[[receivers]]\nname = "m"\ntype = "memo"\nbox = "b"\n')
    with pytest.raises(AlertingConfigError, match=r"receivers\[0\] \(m\)\.token: Field required"):
        load_alerting(settings)
    settings = _settings(tmp_path, '[[receivers]]\nname = "m"\ntype = "memo"\nbox = "b"\ntoken = "t"\nurl = "u"\n')
    with pytest.raises(AlertingConfigError, match=r"receivers\[0\] \(m\)\.url: unknown field"):
        load_alerting(settings)


def test_env_webhook_secret_errors_name_the_setting(tmp_path):
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", webhook_url="http://127.0.0.1:9/h",
                             webhook_secret="whsec_not base64!!")
    with pytest.raises(AlertingConfigError) as info:
        load_alerting(settings)
    assert str(info.value).startswith("REPORTER_WEBHOOK_SECRET: ") and "not base64" in str(info.value)
    assert "whsec_not" not in str(info.value)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_notify_does_not_import_alerting_and_settings_do_not_import_notify():
    for path in (REPORTER / "notify").rglob("*.py"):
        assert not [m for m in _imports(path) if m.startswith("reporter.alerting")], path
    assert not [m for m in _imports(REPORTER / "settings.py") if m.startswith("reporter.notify")]
    assert not [m for m in _imports(REPORTER / "smtp.py") if m.startswith(("reporter.report", "reporter.notify"))]


@pytest.mark.parametrize("module", ["outbox.py", "worker.py", "render.py", "retry.py"])
def test_outbox_and_worker_name_no_receiver_type(module):
    source = (REPORTER / "notify" / module).read_text().lower()
    for name in [*registry.known_types(), "smtp", ".type"]:
        assert name not in source, f"{module} mentions {name!r}"
