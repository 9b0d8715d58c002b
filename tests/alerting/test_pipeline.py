"""Reloading the alerting configuration of the assembled pipeline (what SIGHUP does), on an injected clock,
with real receivers on loopback and a real history file."""

import asyncio
import threading

import httpx
import pytest

from reporter.alerting.loading import load_alerting
from reporter.alerting.pipeline import Alerting
from reporter.settings import load_settings
from reporter.store.history import History
from tests.receiver import Receiver
from tests.snapshots import FEATURES, at, snapshot


@pytest.fixture
def env(tmp_path):
    receivers = {"a": Receiver(), "b": Receiver()}
    path = tmp_path / "alerting.toml"
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(path))
    history = History(settings.history_url, FEATURES)

    def config(*names, cpu_threshold=90, cpu_enabled=True):
        text = '[defaults]\ngroup_wait = "0s"\ngroup_interval = "0s"\n'
        text += f"[rules.cpu_high]\nthreshold = {cpu_threshold}\nclear = 80\n"
        text += f"enabled = {'true' if cpu_enabled else 'false'}\n"
        for name in names:
            text += (f'[[receivers]]\nname = "{name}"\ntype = "webhook"\nurl = "{receivers[name].url}"\n'
                     f"matchers = ['alertname=cpu_high']\n")
        path.write_text(text)
        return load_alerting(settings)

    yield settings, history, receivers, config
    history.close()
    for r in receivers.values():
        r.stop()


def deliver(alerting):
    async def go():
        async with httpx.AsyncClient() as client:
            await alerting.outbox.deliver_due(client)
    asyncio.run(go())


def cpu_notices(receiver):
    return [a["status"] for r in receiver.received for a in r.json()["alerts"] if a["labels"]["alertname"] == "cpu_high"]


def feed(alerting, seconds, **values):
    for t in seconds:
        alerting.evaluate(snapshot(t, **values))


def test_reload_keeps_pending_for_window(env):
    settings, history, _receivers, config = env
    alerting = Alerting(settings, config("a"), history)
    feed(alerting, range(0, 110, 10), cpu=95)
    assert [(a.state, a.active_at) for a in alerting.evaluate(snapshot(110, cpu=95)).alerts
            if a.alertname == "cpu_high"] == [("pending", at(0))]
    summary = alerting.reload(config("a", cpu_threshold=92))
    assert summary.startswith("18 rules (0 added, 0 removed, 1 changed), 1 receiver(s) (0 added")
    feed(alerting, range(120, 300, 10), cpu=95)
    states = {a.alertname: a for a in alerting.evaluate(snapshot(300, cpu=95)).alerts}
    assert states["cpu_high"].state == "firing" and states["cpu_high"].active_at == at(0)  # 5 min from t=0


def test_new_receiver_gets_what_fires_not_old_resolutions(env):
    settings, history, receivers, config = env
    alerting = Alerting(settings, config("a"), history)
    feed(alerting, range(0, 310, 10), cpu=95)
    alerting.dispatcher.dispatch(at(310))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing"]

    feed(alerting, [320], cpu=10)  # resolved; its resolution not yet dispatched
    alerting.reload(config("a", "b"))
    alerting.dispatcher.dispatch(at(321))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing", "resolved"]
    assert cpu_notices(receivers["b"]) == []  # b never heard of it firing: no resolution either

    feed(alerting, range(400, 710, 10), cpu=95)  # a new episode: both hear of it, once
    alerting.dispatcher.dispatch(at(710))
    deliver(alerting)
    alerting.reload(config("a", "b"))
    alerting.dispatcher.dispatch(at(711))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing", "resolved", "firing"]
    assert cpu_notices(receivers["b"]) == ["firing"]


def test_removed_rule_resolves_its_firing_alert_for_the_receivers_told_it_fired(env):
    settings, history, receivers, config = env
    alerting = Alerting(settings, config("a"), history)
    feed(alerting, range(0, 310, 10), cpu=95)
    alerting.dispatcher.dispatch(at(310))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing"]
    alerting.reload(config("a", "b", cpu_enabled=False))  # b never heard of it
    assert "cpu_high" not in [a.alertname for a in alerting.evaluate(snapshot(320, cpu=95)).alerts]
    alerting.dispatcher.dispatch(at(321))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing", "resolved"] and cpu_notices(receivers["b"]) == []
    resolved = next(a for r in receivers["a"].received for a in r.json()["alerts"] if a["status"] == "resolved")
    assert resolved["endsAt"] == "2026-11-02T08:05:00Z"  # the last evaluation before the reload
    events = [e["state"] for e in history_events(alerting) if e["rule"] == "cpu_high"]
    assert events == ["pending", "firing", "resolved"]
    alerting.dispatcher.dispatch(at(400))  # then forgotten: nothing more is sent, nothing stays stored
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing", "resolved"]
    assert "cpu_high" not in {r.alertname for r in alerting.evaluator.store.load().values()}


def test_removed_rule_drops_its_pending_alert_without_notice(env):
    settings, history, receivers, config = env
    alerting = Alerting(settings, config("a"), history)
    feed(alerting, range(0, 100, 10), cpu=95)  # pending
    alerting.reload(config("a", cpu_enabled=False))
    alerting.dispatcher.dispatch(at(400))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == [] and alerting.evaluator.store.load() == {}


def test_rule_removed_across_a_restart_resolves_its_firing_alert(env):
    settings, history, receivers, config = env
    alerting = Alerting(settings, config("a"), history)
    feed(alerting, range(0, 310, 10), cpu=95)
    alerting.dispatcher.dispatch(at(310))
    deliver(alerting)
    for t in range(0, 330, 10):  # the daemon stores each sample (here the last at 320, firing all along)
        history.write(snapshot(t, cpu=95))
    alerting = Alerting(settings, config("a", cpu_enabled=False), history)  # restarted with the rule removed
    alerting.evaluate(snapshot(900, cpu=95))
    alerting.dispatcher.dispatch(at(901))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing", "resolved"]
    resolved = next(a for r in receivers["a"].received for a in r.json()["alerts"] if a["status"] == "resolved")
    assert resolved["endsAt"] == "2026-11-02T08:05:20Z"  # last seen by the previous run
    alerting = Alerting(settings, config("a", cpu_enabled=False), history)  # and again: nothing more
    alerting.dispatcher.dispatch(at(400))
    deliver(alerting)
    assert cpu_notices(receivers["a"]) == ["firing", "resolved"]


def history_events(alerting):
    return alerting.evaluator.store.events(at(-10), at(10_000))


def test_reload_while_sampling_and_dispatching(env):
    settings, history, _receivers, config = env
    configs = [config("a"), config("a", "b", cpu_threshold=92)]
    alerting = Alerting(settings, configs[0], history)
    errors, done = [], threading.Event()

    def sample():
        t = 0
        try:
            while not done.is_set():
                alerting.evaluate(snapshot(t, cpu=95 if (t // 100) % 2 else 10))
                alerting.dispatcher.dispatch(at(t))
                t += 10
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        for i in range(40):
            alerting.reload(configs[i % 2])
    finally:
        done.set()
        thread.join()
    assert errors == []


def test_reload_refuses_a_for_outage_tolerance_below_two_sample_intervals(tmp_path, caplog):
    from reporter.daemon.run import reloader

    path = tmp_path / "alerting.toml"
    path.write_text('[defaults]\nfor_outage_tolerance = "4s"\n')
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(path), sample_interval=2, probe_timeout=1)
    history = History(settings.history_url, FEATURES)
    try:
        alerting = Alerting(settings, load_alerting(settings), history)
        path.write_text('[defaults]\nfor_outage_tolerance = "1s"\n')  # every 2 s sample would restart windows
        with caplog.at_level("INFO", logger="reporter"):
            reloader(settings, alerting)()
        refused = [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]
        assert len(refused) == 1 and "defaults.for_outage_tolerance" in refused[0] and "minimum is 4s" in refused[0]
        assert alerting.evaluator.gap_tolerance == 4  # the previous configuration stays in force
    finally:
        history.close()


def test_listed_alerts_carry_the_host_of_reporter_host_name(env, tmp_path):
    settings, _history, _receivers, config = env
    history = History(f"sqlite:///{tmp_path / 'named.db'}", FEATURES, host="web-7")
    try:
        alerting = Alerting(settings, config("a"), history)
        feed(alerting, range(0, 300, 10), cpu=95)
        [alert] = alerting.evaluate(snapshot(300, cpu=95)).alerts
        assert (alert.alertname, alert.state, alert.host, alert.labels["host"]) == ("cpu_high", "firing", "web-7",
                                                                                    "web-7")
    finally:
        history.close()


def test_a_follower_lists_the_stored_alerts_firing_first_and_silenced_ones_as_suppressed(env):
    """What a fleet node that does not lead lists at /alerts: the leader's stored pending and firing alerts, with
    the active silences that match them."""
    from reporter.alerting.matchers import Matcher
    from reporter.alerting.pipeline import stored_alerts
    from reporter.alerting.silences import SilenceStore

    settings, history, _receivers, config = env
    leader = Alerting(settings, config("a"), history)
    feed(leader, range(0, 310, 10), cpu=95, disk=96)
    listed = leader.evaluate(snapshot(310, cpu=95, disk=96)).alerts
    assert [a.state for a in listed] and listed[0].state == "firing"
    silence = SilenceStore(history.engine).add([Matcher.parse("alertname=cpu_high")], 600, "maintenance",
                                               "ops@example.com", at(310))
    stored = stored_alerts(history, at(311))
    assert [(a.fingerprint, a.state) for a in stored] == [(a.fingerprint, a.state) for a in listed]
    assert {a.alertname: a.silenced_by for a in stored}["cpu_high"] == [silence.id]
    assert all(not a.suppressed for a in stored if a.alertname != "cpu_high")
