"""Grouping as Alertmanager does it: group_by, group_wait, group_interval, repeat_interval and the payload's group
fields, delivered to a real HTTP receiver on loopback."""

import pytest

from reporter.alerting.config import Defaults, Grouping, Receiver
from tests.alerting.helpers import Pipeline, webhook
from tests.receiver import Receiver as HTTPReceiver

HOST = "localhost"  # the evaluator's host label (Evaluator's default host name)



def payloads(receiver, count):
    return [r.json() for r in receiver.wait_for(count, 5)]


def statuses(payload):
    return sorted((a["labels"].get("service", a["labels"]["alertname"]), a["status"]) for a in payload["alerts"])


def test_alerts_of_one_alertname_go_out_as_one_group_with_alertmanagers_fields(history, receiver):
    """Compared field by field with Alertmanager's webhook payload (docs: configuration/#webhook_config)."""
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 310, 10), cpu=95, down=("redis", "database"))
    assert len(p.dispatch(310)) == 2  # {alertname="service_down"} and {alertname="cpu_high"}
    p.deliver()
    by_group = {g["groupLabels"]["alertname"]: g for g in payloads(receiver, 2)}
    down = by_group["service_down"]
    assert sorted(down) == ["alerts", "commonAnnotations", "commonLabels", "externalURL", "groupKey", "groupLabels",
                            "receiver", "status", "truncatedAlerts", "version"]
    assert down["version"] == "4" and down["receiver"] == "ops" and down["status"] == "firing"
    assert down["groupKey"] == '{}/{receiver="ops"}:{alertname="service_down"}'
    assert down["groupLabels"] == {"alertname": "service_down"}
    assert down["commonLabels"] == {"alertname": "service_down", "host": HOST, "severity": "critical"}
    assert "summary" not in down["commonAnnotations"]  # "redis is down" and "database is down" differ
    assert down["truncatedAlerts"] == 0 and down["externalURL"] == "http://reporter.example.com"
    assert statuses(down) == [("database", "firing"), ("redis", "firing")]
    for alert in down["alerts"]:
        assert sorted(alert) == ["annotations", "endsAt", "fingerprint", "generatorURL", "labels", "startsAt",
                                 "status"]
    cpu = by_group["cpu_high"]
    assert cpu["groupKey"] == '{}/{receiver="ops"}:{alertname="cpu_high"}'
    assert cpu["commonAnnotations"] == cpu["alerts"][0]["annotations"]  # one alert: all of it is common


def test_status_is_firing_while_any_alert_of_the_group_fires(history, receiver):
    p = Pipeline(history, [webhook(receiver)])
    p.feed(range(0, 50, 10), down=("redis", "database"))
    assert len(p.dispatch(50)) == 1
    p.feed([60], down=("database",))  # redis back
    assert len(p.dispatch(70)) == 1
    p.feed([80])  # database back
    assert len(p.dispatch(90)) == 1
    p.deliver()
    first, second, third = payloads(receiver, 3)
    assert statuses(first) == [("database", "firing"), ("redis", "firing")]
    # the group still fires: the firing alert and the one resolved since the last notification
    assert second["status"] == "firing"
    assert statuses(second) == [("database", "firing"), ("redis", "resolved")]
    assert third["status"] == "resolved" and statuses(third) == [("database", "resolved")]  # redis was told


def test_a_change_to_a_notified_group_waits_the_group_interval(history, receiver):
    p = Pipeline(history, [webhook(receiver)], group_wait=10, group_interval=60)
    p.feed(range(0, 50, 10), down=("redis",))  # firing from 30
    assert p.dispatch(35) == []  # a new group: its group wait runs from 30
    assert len(p.dispatch(40)) == 1
    p.feed(range(50, 100, 10), down=("redis", "database"))  # database firing from 80
    assert p.dispatch(90) == [] and p.dispatcher.waiting == 1  # 40 + 60 s
    assert len(p.dispatch(100)) == 1
    p.deliver()
    first, second = payloads(receiver, 2)
    assert statuses(first) == [("redis", "firing")]
    assert statuses(second) == [("database", "firing"), ("redis", "firing")]


def test_an_unchanged_firing_group_repeats_whole_after_repeat_interval(history, receiver):
    p = Pipeline(history, [webhook(receiver)], repeat_interval=3600)
    p.feed(range(0, 50, 10), down=("redis",))
    assert len(p.dispatch(40)) == 1
    p.feed(range(50, 100, 10), down=("redis", "database"))
    assert len(p.dispatch(90)) == 1
    p.feed([3680], down=("redis", "database"))
    assert p.dispatch(3689) == []  # the last notification (at 90) counts, not the group's first
    assert len(p.dispatch(3690)) == 1
    p.deliver()
    assert statuses(payloads(receiver, 3)[2]) == [("database", "firing"), ("redis", "firing")]


def test_group_by_all_labels_and_per_receiver_group_by(history, receiver):
    other = HTTPReceiver()
    try:
        p = Pipeline(history, [webhook(receiver, name="each", group_by=["..."]),
                               webhook(other, name="by-host", group_by=["host"])])
        p.feed(range(0, 310, 10), cpu=95, down=("redis", "database"))
        assert len(p.dispatch(310)) == 3 + 1  # one per alert for "each"; one for the host
        p.deliver()
        each = payloads(receiver, 3)
        assert all(len(g["alerts"]) == 1 and g["groupLabels"] == g["alerts"][0]["labels"] for g in each)
        key = each[0]["groupKey"]
        assert key.startswith('{}/{receiver="each"}:{alertname=') and f'host="{HOST}"' in key
        [host] = payloads(other, 1)
        assert host["groupLabels"] == {"host": HOST} and len(host["alerts"]) == 3
        assert host["groupKey"] == f'{{}}/{{receiver="by-host"}}:{{host="{HOST}"}}'
    finally:
        other.stop()


def test_group_key_of_labels_the_alert_lacks_is_empty():
    grouping = Grouping(by=("alertname", "service"), wait=0, interval=0, repeat=0)
    assert grouping.key({"alertname": "cpu_high", "host": "h"}) == {"alertname": "cpu_high"}
    assert Grouping(by=("...",), wait=0, interval=0, repeat=0).key({"b": "2", "a": "1"}) == {"a": "1", "b": "2"}


@pytest.mark.parametrize("group_by,message", [
    (["...", "host"], "must be alone"),
    (["alert-name"], "not a label name"),
    (["host", "host"], "repeat"),
])
def test_bad_group_by_is_refused(group_by, message):
    with pytest.raises(ValueError, match=message):
        Receiver(name="ops", type="webhook", url="http://127.0.0.1:9/hook", group_by=group_by)
    with pytest.raises(ValueError, match=message):
        Defaults(group_by=group_by)


def test_defaults_are_alertmanagers_names_with_our_values():
    grouping = Receiver(name="ops", type="webhook", url="http://127.0.0.1:9/x").grouping(Defaults())
    assert grouping == Grouping(by=("alertname",), wait=10, interval=60, repeat=4 * 3600)
