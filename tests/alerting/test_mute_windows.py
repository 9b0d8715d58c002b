"""Maintenance windows at the Dispatcher, with a real webhook receiver on loopback and an injected clock: a
receiver muted by a time interval gets nothing during the window, gets the still-firing alert when it ends, and
never hears of an episode that fired and resolved entirely inside the window. A second receiver is unaffected.
The clock starts at Monday 2 November 2026, 08:00 UTC (tests.snapshots.T0)."""

import pytest

from reporter.alerting.config import Receiver
from reporter.alerting.intervals import parse_time_intervals
from tests.alerting.test_delivery import Pipeline
from tests.receiver import Receiver as HTTPReceiver

WINDOW = parse_time_intervals([{"name": "monday-morning", "time_intervals": [
    {"weekdays": ["monday"], "times": [{"start_time": "08:00", "end_time": "09:00"}]}]}])
HOUR = 3600


@pytest.fixture
def hooks():
    muted, other = HTTPReceiver(), HTTPReceiver()
    yield muted, other
    muted.stop()
    other.stop()


def receivers(hooks, window=WINDOW):
    muted = Receiver(name="ops", type="webhook", url=hooks[0].url, mute_time_intervals=["monday-morning"])
    muted.bind_intervals(window)
    return [muted, Receiver(name="audit", type="webhook", url=hooks[1].url)]


def alertnames(hook, count):
    return [[(a["labels"]["alertname"], a["status"]) for a in r.json()["alerts"]] for r in hook.wait_for(count)]


def test_muted_receiver_hears_the_still_firing_alert_when_the_window_ends(history, hooks):
    p = Pipeline(history, receivers(hooks))
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 1  # only "audit": "ops" is inside monday-morning
    assert p.dispatcher.waiting == 1  # owed to ops, not forgotten
    p.feed(range(310, HOUR, 60), cpu=95)
    assert p.dispatch(HOUR - 1) == []  # 08:59:59: still muted
    assert len(p.dispatch(HOUR)) == 1  # 09:00: the window is over, cpu_high still fires
    p.deliver()
    assert alertnames(hooks[0], 1) == [[("cpu_high", "firing")]]
    assert alertnames(hooks[1], 1) == [[("cpu_high", "firing")]]
    assert hooks[0].received[0].json()["receiver"] == "ops"


def test_an_episode_inside_the_window_is_never_sent_to_the_muted_receiver(history, hooks):
    p = Pipeline(history, receivers(hooks))
    assert p.dispatch(0) == []  # both receivers are known from 08:00 on: they are owed what fires after
    p.feed(range(0, 310, 10), cpu=95)
    p.feed([320], cpu=80)  # fired at 08:05, resolved at 08:05:20, inside the window, between two passes
    assert len(p.dispatch(330)) == 1  # audit hears of the whole episode (firing now, resolved next); ops muted
    assert len(p.dispatch(HOUR)) == 1  # 09:00: audit's resolution; ops is not told of the episode afterwards
    assert p.dispatch(HOUR + 60) == []
    p.deliver()
    assert alertnames(hooks[1], 2) == [[("cpu_high", "firing")], [("cpu_high", "resolved")]]
    assert hooks[0].received == []


def test_a_resolution_during_the_window_goes_out_when_it_ends(history, hooks):
    late = parse_time_intervals([{"name": "monday-morning", "time_intervals": [
        {"weekdays": ["monday"], "times": [{"start_time": "08:10", "end_time": "09:00"}]}]}])
    p = Pipeline(history, receivers(hooks, late))
    p.feed(range(0, 310, 10), cpu=95)
    assert len(p.dispatch(310)) == 2  # 08:05:10, before the window: both are told it fires
    p.deliver()
    assert alertnames(hooks[0], 1) == [[("cpu_high", "firing")]]
    p.feed(range(310, 620, 10), cpu=95)
    p.feed([620], cpu=80)  # resolved at 08:10:20, inside the window
    assert len(p.dispatch(630)) == 1  # audit hears the resolution; ops is muted and still owed it
    assert p.dispatcher.waiting == 1
    assert len(p.dispatch(HOUR)) == 1  # 09:00: ops hears it
    p.deliver()
    assert alertnames(hooks[0], 2)[1] == [("cpu_high", "resolved")]
    assert alertnames(hooks[1], 2)[1] == [("cpu_high", "resolved")]


def test_reload_counts_changed_time_intervals_and_the_dispatcher_uses_the_new_ones(tmp_path, history):
    from reporter.alerting.loading import load_alerting
    from reporter.alerting.pipeline import Alerting
    from reporter.settings import load_settings
    from tests.snapshots import FEATURES, at

    path = tmp_path / "alerting.toml"
    settings = load_settings(None, history_url=f"sqlite:///{tmp_path / 'h.db'}", ai_features=FEATURES,
                             alerting_file=str(path))

    def config(day):
        path.write_text('[[receivers]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                        'mute_time_intervals = ["w"]\n[[time_intervals]]\nname = "w"\n'
                        f'[[time_intervals.time_intervals]]\nweekdays = ["{day}"]\n')
        return load_alerting(settings)

    alerting = Alerting(settings, config("monday"), history)
    same = alerting.reload(config("monday"))
    assert same.endswith("1 receiver(s) (0 added, 0 removed, 0 changed), defaults unchanged, "
                         "1 time interval(s) (0 added, 0 removed, 0 changed)")
    assert alerting.dispatcher.receivers[0].muted(at(0)) == "mute_time_intervals w"  # 2 November 2026: a Monday
    moved = alerting.reload(config("tuesday"))
    assert moved.endswith("1 receiver(s) (0 added, 0 removed, 1 changed), defaults unchanged, "
                          "1 time interval(s) (0 added, 0 removed, 1 changed)")
    assert alerting.dispatcher.receivers[0].muted(at(0)) is None
