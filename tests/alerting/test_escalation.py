"""Escalation: an alert still firing and not acknowledged escalate_after after it fired reaches escalate_to once
per episode, through the outbox, with real loopback receivers and an injected clock; its configuration."""

import pytest
from sqlalchemy import select

from reporter.alerting.acks import AckStore
from reporter.alerting.dispatch import Dispatcher
from reporter.alerting.escalation import Escalation
from reporter.alerting.rules import build_rules
from reporter.alerting.silences import Matcher, SilenceStore
from reporter.alerting.state import AlertStore
from reporter.notify.render import renderer
from reporter.store.alert_schema import escalations
from tests.alerting.helpers import TZ, Pipeline, webhook
from tests.alerting.test_config import RECEIVER, reporter
from tests.receiver import Receiver as HTTPReceiver
from tests.snapshots import FEATURES, at

NOBODY = ['alertname="nothing"']  # the pager takes no alert by its own routing: only escalations


@pytest.fixture
def ops():
    r = HTTPReceiver()
    yield r
    r.stop()


@pytest.fixture
def pager():
    r = HTTPReceiver()
    yield r
    r.stop()


def escalating(history, ops, pager, rules=None, **ops_fields):
    """ops takes cpu_high (escalating to pager unless ``ops_fields`` say otherwise); cpu_high fires at 300 s."""
    ops_fields.setdefault("escalate_after", "2m")
    ops_fields.setdefault("escalate_to", "pager")
    receivers = [webhook(ops, **{k: v for k, v in ops_fields.items() if v is not None}),
                 webhook(pager, name="pager", matchers=NOBODY)]
    p = Pipeline(history, receivers)
    p.evaluator.configure(build_rules(rules or {}, FEATURES), p.defaults)
    p.dispatcher.escalation = Escalation(history.engine, build_rules(rules or {}, FEATURES), receivers,
                                         renderer(TZ), "http://reporter.example.com")
    return p


def test_escalated_once_per_episode_after_escalate_after(history, ops, pager):
    p = escalating(history, ops, pager)
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 1  # ops only
    p.feed(range(310, 430, 10), cpu=95)
    assert p.dispatch(410) == []  # fired at 300: 2 minutes are up at 420
    assert len(p.dispatch(420)) == 1
    for t in range(430, 600, 10):
        p.feed([t], cpu=95)
        assert p.dispatch(t) == [], t
    p.deliver(rounds=2)
    [got] = pager.wait_for(1)
    alert = got.json()["alerts"][0]
    assert got.json()["receiver"] == "pager"
    assert alert["labels"]["escalated_from"] == "ops" and alert["labels"]["alertname"] == "cpu_high"
    assert alert["annotations"]["summary"].startswith("Escalated: not acknowledged 2m after it fired. ")
    # resolved, then a new episode: escalated again, once
    p.feed([600], cpu=80)
    p.dispatch(610)
    p.feed(range(620, 1050, 10), cpu=95)
    escalated = [t for t in range(920, 1050, 10) if len(p.dispatch(t)) == 1 and t > 930]
    assert escalated == [1040]  # fired at 920, + 120 s
    p.deliver(rounds=2)
    assert len(pager.wait_for(2)) == 2
    assert len(pager.received) == 2


def test_an_acknowledged_alert_is_not_escalated(history, ops, pager):
    p = escalating(history, ops, pager)
    p.feed(range(0, 310, 10), cpu=95)
    p.dispatch(310)
    [fp] = AlertStore(history.engine).load()
    AckStore(history.engine).ack(fp, "ann", "on it", at(400))
    for t in range(310, 700, 10):
        p.feed([t], cpu=95)
        assert p.dispatch(t) == [], t
    with history.engine.connect() as conn:
        assert conn.execute(select(escalations)).all() == []


def test_a_silenced_alert_is_not_escalated(history, ops, pager):
    p = escalating(history, ops, pager)
    SilenceStore(history.engine).add([Matcher.parse("alertname=cpu_high")], 3600, "maintenance", "ann", at(0))
    for t in range(0, 700, 10):
        p.feed([t], cpu=95)
        assert p.dispatch(t) == [], t


def test_time_spent_suppressed_does_not_count_towards_escalate_after(history, ops, pager):
    """Silenced for longer than escalate_after: when the silence ends, ops hears of the alert first, and the
    escalation follows escalate_after later (not with the first notification)."""
    p = escalating(history, ops, pager)
    silence = SilenceStore(history.engine).add([Matcher.parse("alertname=cpu_high")], 600, "deploy", "ann", at(0))
    sent = {}
    for t in range(0, 900, 10):
        p.feed([t], cpu=95)
        if t == 600:
            assert silence.ends_at == at(600)
        sent[t] = len(p.dispatch(t))
    notified = [t for t, n in sent.items() if n]
    # ops at the silence's end (600); pager 2 minutes after the last pass that saw it silenced (590)
    assert notified == [600, 710] and sent[600] == 1, sent


def test_a_restart_does_not_escalate_again(history, ops, pager):
    p = escalating(history, ops, pager)
    p.feed(range(0, 430, 10), cpu=95)
    p.dispatch(310)
    assert len(p.dispatch(420)) == 1
    # a new process: a new dispatcher and escalation on the same database
    again = Dispatcher(history.engine, p.receivers, p.defaults, renderer(TZ))
    again.escalation = Escalation(history.engine, build_rules({}, FEATURES), p.receivers, renderer(TZ))
    p.feed(range(430, 500, 10), cpu=95)
    assert again.dispatch(at(490)) == []
    p.deliver(rounds=2)
    assert len(pager.wait_for(1)) == 1


def test_the_rule_setting_wins_over_the_receiver(history, ops, pager):
    # the receiver escalates nowhere; the rule escalates to the pager after one minute
    p = escalating(history, ops, pager, rules={"cpu_high": {"escalate_after": "1m", "escalate_to": "pager"}},
                   escalate_after=None, escalate_to=None)
    p.feed(range(0, 370, 10), cpu=95)
    p.dispatch(310)
    assert p.dispatch(350) == []
    assert len(p.dispatch(360)) == 1
    p.deliver(rounds=2)
    [got] = pager.wait_for(1)
    assert got.json()["alerts"][0]["labels"]["escalated_from"] == "ops"
    # a rule's escalate_after alone changes the receiver's delay
    esc = Escalation(history.engine, build_rules({"cpu_high": {"escalate_after": "5m"}}, FEATURES),
                     [webhook(ops, escalate_after="2m", escalate_to="pager"), webhook(pager, name="pager")],
                     renderer(TZ))
    [target] = esc.targets(AlertStore(history.engine).load().popitem()[1])
    assert (target.to, target.after, target.sources) == ("pager", 300.0, ["ops"])


ESCALATING = RECEIVER + 'escalate_after = "30m"\nescalate_to = "pager"\n'
PAGER = '[[receivers]]\nname = "pager"\ntype = "webhook"\nurl = "http://127.0.0.1:9/pager"\n'


@pytest.mark.parametrize(("text", "expected"), [
    (ESCALATING, "receivers[0] (ops).escalate_to: no receiver 'pager' (receivers: ops)"),
    (RECEIVER + 'escalate_to = "pager"\n' + PAGER, "receivers[0] (ops): escalate_after: needed with escalate_to"),
    (RECEIVER + 'escalate_after = "5m"\n' + PAGER, "receivers[0] (ops): escalate_to: needed with escalate_after"),
    (RECEIVER + 'escalate_after = "5m"\nescalate_to = "ops"\n', "escalate_to: names this receiver itself"),
    (RECEIVER + 'escalate_after = "soon"\nescalate_to = "x"\n', "receivers[0] (ops).escalate_after: 'soon' is not"),
    (RECEIVER + '[rules.cpu_high]\nescalate_after = "5m"\nescalate_to = "boss"\n',
     "rules.cpu_high.escalate_to: no receiver 'boss' (receivers: ops)"),
    (RECEIVER + '[rules.cpu_high]\nescalate_to = "ops"\n',
     "rules.cpu_high.escalate_to: needs escalate_after on the rule too"),
], ids=["unknown", "no-after", "no-to", "itself", "bad-duration", "rule-unknown", "rule-no-after"])
def test_bad_escalation_settings_stop_start_up_with_one_line(tmp_path, text, expected):
    result = reporter(tmp_path, "check-config", text)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert expected in line and str(tmp_path / "alerting.toml") in line


def test_check_config_shows_escalations(tmp_path):
    text = ESCALATING + PAGER + '[rules.disk_high]\nescalate_after = "10m"\nescalate_to = "pager"\n'
    result = reporter(tmp_path, "check-config", text)
    assert result.returncode == 0, result.stderr
    assert "# escalation: receiver ops -> pager after 30m" in result.stderr
    assert "# escalation: rule disk_high -> pager after 10m" in result.stderr


def test_escalated_once_on_a_postgresql_history(pg_schema_url, ops, pager):
    from reporter.store.history import History

    history = History(pg_schema_url, FEATURES)
    try:
        p = escalating(history, ops, pager)
        p.feed(range(0, 430, 10), cpu=95)
        p.dispatch(310)
        assert len(p.dispatch(420)) == 1
        again = Dispatcher(history.engine, p.receivers, p.defaults, renderer(TZ))
        again.escalation = Escalation(history.engine, build_rules({}, FEATURES), p.receivers, renderer(TZ))
        p.feed(range(430, 500, 10), cpu=95)
        written = [i for t in range(430, 500, 10) for i in again.dispatch(at(t))]  # ops repeats, if due
        assert all(row.receiver == "ops" for row in _outbox(history, written))  # never a second escalation
        with history.engine.connect() as conn:
            assert len(conn.execute(select(escalations)).all()) == 1
    finally:
        history.close()


def _outbox(history, ids):
    from reporter.store.alert_schema import outbox

    with history.engine.connect() as conn:
        return conn.execute(select(outbox).where(outbox.c.id.in_(ids))).all()
