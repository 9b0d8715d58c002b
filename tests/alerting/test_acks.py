"""Acknowledgement: the store, and its effect on dispatch (repeats stop, messages say who and when, it ends with
the episode), with real loopback receivers and an injected clock."""

import pytest
from sqlalchemy import select

from reporter.alerting.acks import KEEP_DAYS, AckError, AckStore, UnknownAlert
from reporter.alerting.config import Receiver
from reporter.alerting.state import AlertStore
from reporter.store.alert_schema import acks
from tests.alerting.test_delivery import Pipeline, webhook
from tests.receiver import Receiver as HTTPReceiver
from tests.snapshots import at


@pytest.fixture
def receiver():
    r = HTTPReceiver()
    yield r
    r.stop()


def firing_cpu(history, receivers, repeat_interval=60):
    """cpu_high pending from 0 s, firing from 300 s, notified at 310 s."""
    p = Pipeline(history, receivers, repeat_interval=repeat_interval)
    p.feed(range(0, 320, 10), cpu=95)
    assert len(p.dispatch(310)) == len(receivers)
    p.deliver()
    [fp] = AlertStore(history.engine).load()
    return p, fp


def alerts_of(received):
    return [(r.json()["status"], r.json()["alerts"][0].get("acknowledged")) for r in received]


def test_an_acknowledged_alert_stops_repeating_and_its_resolution_says_who(history, receiver):
    p, fp = firing_cpu(history, [webhook(receiver)])
    p.feed(range(320, 380, 10), cpu=95)
    assert len(p.dispatch(380)) == 1  # the control: a repeat after repeat_interval (60 s)
    p.deliver()
    ack = AckStore(history.engine).ack(fp, "ann", "looking into it", at(385))
    assert ack.starts_at == at(0)  # the episode: the alert's active_at
    p.feed(range(380, 600, 10), cpu=95)
    for t in range(390, 600, 10):
        assert p.dispatch(t) == [], t  # no repeats while acknowledged
    p.feed([600], cpu=80)  # resolves
    assert len(p.dispatch(610)) == 1
    p.deliver()
    got = receiver.wait_for(3)
    assert alerts_of(got) == [("firing", None), ("firing", None), (
        "resolved", {"by": "ann", "at": "2026-11-02T08:06:25Z", "comment": "looking into it"})]


def test_the_acknowledgement_ends_when_the_alert_resolves(history, receiver):
    p, fp = firing_cpu(history, [webhook(receiver)])
    AckStore(history.engine).ack(fp, "ann", "", at(315))
    p.feed(range(320, 400, 10), cpu=95)
    assert p.dispatch(390) == []
    p.feed([400], cpu=80)
    p.dispatch(410)
    p.deliver()
    # a new episode: not acknowledged, so it is notified and repeats again
    p.feed(range(420, 740, 10), cpu=95)
    assert len(p.dispatch(730)) == 1
    p.deliver()
    assert AckStore(history.engine).acked(AlertStore(history.engine).load().values()) == {}
    p.feed(range(740, 800, 10), cpu=95)
    assert len(p.dispatch(800)) == 1  # the repeat is back
    p.deliver()
    got = receiver.wait_for(4)
    assert [s for s, _ in alerts_of(got)] == ["firing", "resolved", "firing", "firing"]
    assert [a for _, a in alerts_of(got)] == [None, {"by": "ann", "at": "2026-11-02T08:05:15Z", "comment": ""},
                                              None, None]


def test_slack_shows_who_acknowledged_escaped(history, receiver):
    slack = Receiver(name="slack", type="slack", url=receiver.url)
    p, fp = firing_cpu(history, [slack])
    AckStore(history.engine).ack(fp, "ann <!channel>", "on it & fixing", at(315))
    p.feed([320], cpu=80)
    assert len(p.dispatch(330)) == 1
    p.deliver()
    first, second = receiver.wait_for(2)
    assert "Acknowledged" not in first.body.decode()
    text = second.json()["attachments"][0]["blocks"][2]["text"]["text"]
    assert ":eyes: *Acknowledged* by ann &lt;!channel&gt; at 2026-11-02 09:05:15" in text
    assert text.endswith(": on it &amp; fixing")


def test_ack_refuses_unknown_and_resolved_alerts_and_bad_names(history, receiver):
    p, fp = firing_cpu(history, [webhook(receiver)])
    store = AckStore(history.engine)
    with pytest.raises(UnknownAlert, match="no alert has the fingerprint 'feedfacefeedface'"):
        store.ack("feedfacefeedface", "ann", "", at(320))
    with pytest.raises(AckError, match="by: who acknowledges must be named"):
        store.ack(fp, "  ", "", at(320))
    with pytest.raises(AckError, match="by: at most 64"):
        store.ack(fp, "x" * 65, "", at(320))
    p.feed([320], cpu=80)  # resolved, awaiting its notification
    with pytest.raises(AckError, match=r"cpu_high \(.*\) is resolved: only a pending or firing alert"):
        store.ack(fp, "ann", "", at(330))


def test_a_pending_alert_can_be_acknowledged_and_acknowledging_again_replaces(history, receiver):
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 100, 10), cpu=95)
    [fp] = AlertStore(history.engine).load()
    store = AckStore(history.engine)
    store.ack(fp, "ann", "first", at(100))
    store.ack(fp, "bob", "second", at(110))
    [ack] = store.acked(AlertStore(history.engine).load().values()).values()
    assert (ack.by, ack.comment, ack.at) == ("bob", "second", at(110))


def test_matching_by_fingerprint_or_alertname(history, receiver):
    _, fp = firing_cpu(history, [webhook(receiver)])
    store = AckStore(history.engine)
    records = AlertStore(history.engine).load().values()
    assert [r.fingerprint for r in store.matching(fp, records)] == [fp]
    assert [r.fingerprint for r in store.matching("cpu_high", records)] == [fp]
    with pytest.raises(UnknownAlert, match=r"'disk_high' \(active: cpu_high\)"):
        store.matching("disk_high", records)


def test_old_acks_are_pruned_and_recent_ones_kept_for_the_report(history, receiver):
    _, fp = firing_cpu(history, [webhook(receiver)])
    store = AckStore(history.engine)
    store.ack(fp, "ann", "", at(315))
    from datetime import timedelta

    assert store.prune(at(315) + timedelta(days=KEEP_DAYS - 1)) == 0
    assert store.prune(at(316) + timedelta(days=KEEP_DAYS)) == 1
    with history.engine.connect() as conn:
        assert conn.execute(select(acks)).all() == []


def test_stored_alerts_and_the_snapshot_list_say_who_acknowledged(history, receiver):
    from reporter.alerting.pipeline import stored_alerts

    _, fp = firing_cpu(history, [webhook(receiver)])
    [before] = stored_alerts(history, at(320))
    assert before.acknowledged_by is None and before.acknowledged_at is None
    AckStore(history.engine).ack(fp, "ann", "on it", at(330))
    [alert] = stored_alerts(history, at(340))
    assert (alert.acknowledged_by, alert.acknowledged_at, alert.ack_comment) == ("ann", at(330), "on it")
    assert '"acknowledged_at":"2026-11-02T08:05:30.000Z"' in alert.model_dump_json()


def test_a_group_repeats_only_for_its_unacknowledged_alerts(history, receiver):
    from reporter.alerting.model import AlertState, fingerprint
    from reporter.alerting.state import AlertRecord

    p = Pipeline(history, [webhook(receiver)], repeat_interval=60)
    labels = [{"alertname": "service_down", "severity": "critical", "service": s} for s in ("database", "redis")]
    fps = [fingerprint(ls) for ls in labels]
    AlertStore(history.engine).save([(AlertRecord(fingerprint(ls), "service_down", ls, {"summary": "down"},
                                                  AlertState.FIRING, at(0), at(30)), "firing") for ls in labels],
                                    at(30))
    assert len(p.dispatch(40)) == 1  # one group (group_by alertname) with both
    store = AckStore(history.engine)
    store.ack(fps[0], "ann", "", at(50))
    assert len(p.dispatch(100)) == 1  # redis is not acknowledged: the group repeats, database with it
    store.ack(fps[1], "bob", "", at(110))
    assert [p.dispatch(t) for t in range(160, 400, 20)] == [[]] * 12  # every alert acknowledged: no repeats
    p.deliver()
    first, repeat = receiver.wait_for(2)
    assert [a.get("acknowledged", {}).get("by") for a in repeat.json()["alerts"]] == ["ann", None]
    assert len(first.json()["alerts"]) == 2 and len(receiver.received) == 2
