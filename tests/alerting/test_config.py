"""The alerting file as a user writes it: every bad file stops `reporter check-config` (and `run`) with exit 2
and one line naming the file, table and field; Alertmanager-style matchers route alerts to receivers."""

import os
import subprocess
import sys

import pytest

from reporter.alerting.config import Receiver
from reporter.alerting.paths import snapshot_paths
from reporter.alerting.rules import build_rules
from reporter.snapshot import Snapshot
from tests.snapshots import FEATURES, snapshot

RECEIVER = '[[receivers]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'


def reporter(tmp_path, command, text: str | bytes, features: str | None = None, **settings: str):
    path = tmp_path / "alerting.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    env["REPORTER_ALERTING_FILE"] = str(path)
    env["REPORTER_HISTORY_URL"] = f"sqlite:///{tmp_path / 'history.db'}"
    if features:
        env["REPORTER_AI_FEATURES"] = features
    env.update({f"REPORTER_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run([sys.executable, "-m", "reporter", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


BAD = [
    ("defaults = 5\n", ["defaults", "must be a table"]),
    ("rules = 5\n", ["rules", "must be a table", "[rules.NAME]"]),
    ("rules = []\n", ["rules", "not an array"]),
    ('[[rules]]\nname = "x"\nmetric = "system.cpu_percent"\nthreshold = 1\n', ["rules", "[rules.NAME]"]),
    ("receivers = 5\n", ["receivers", "[[receivers]]"]),
    ("receivers = [5]\n", ["receivers[0]", "must be a table"]),
    ("[rules.cpu_high]\nthreshold = nan\n", ["rules.cpu_high.threshold", "finite"]),
    ("[rules.cpu_high]\nthreshold = inf\n", ["rules.cpu_high.threshold", "finite"]),
    ("[rules.cpu_high]\nclear = -inf\n", ["rules.cpu_high.clear", "finite"]),
    ("[defaults]\nrepeat_interval = inf\n", ["defaults.repeat_interval", "finite"]),
    ('[rules.load_high]\nmetric = "system.load5m"\nthreshold = 8\n',
     ["rules.load_high.metric", "'system.load5m'", "did you mean 'system.load_5m'"]),
    ('[rules.cpu]\nmetric = "cpu_percent"\nthreshold = 8\n', ["rules.cpu.metric", "did you mean 'system.cpu_percent'"]),
    ('[rules.service_down]\neach = { service = ["database", "mysql"] }\n',
     ["rules.service_down.metric (service=mysql)", "services has: database, redis, ollama"]),
    ('[rules.x]\nkind = "predict_linear"\nmetric = "system.disk_percent"\nthreshold = 100\n',
     ["rules.x.metric", "did you mean 'disk_percent'"]),
    (RECEIVER + 'match = { severity = "critical|warning" }\n',
     ["receivers[0] (ops).match", "regular expression", "severity=~"]),
    (RECEIVER + 'matchers = ["severity=~\\"(critical\\""]\n', ["receivers[0] (ops)", "matchers[0]", "bad regular"]),
    (RECEIVER + 'match_re = { service = "[redis" }\n', ["receivers[0] (ops)", "match_re.service", "bad regular"]),
    (RECEIVER + 'matchers = ["severity~critical"]\n', ["receivers[0] (ops)", "matchers[0]", "not a matcher"]),
    (b"\xff\xfe[\x00d\x00", ["not UTF-8"]),
    # valid but huge durations: refused at load (they crashed the notifier every second with OverflowError)
    ('[defaults]\ngroup_wait = "9999999999d"\n', ["defaults.group_wait", "too large (at most 3650d"]),
    # a misspelled key is named, with the field it probably meant (not "Field required" for the one it hides)
    ('[defaults]\ngroup_wiat = "5s"\n', ["defaults.group_wiat: unknown field; did you mean 'group_wait'?"]),
    ('[rules.big]\nmetric = "ai.total_requests"\nop = ">"\nthresold = 200\n',
     ["rules.big.thresold: unknown field; did you mean 'threshold'?"]),
    (RECEIVER + 'send_resolvd = false\n', ["receivers[0] (ops).send_resolvd: unknown field; did you mean "
                                            "'send_resolved'?"]),
    ('[defaults]\nrepeat_interval = "99999999999999999999999s"\n', ["defaults.repeat_interval", "too large"]),
    ('[defaults]\nmax_age = 1e300\n', ["defaults.max_age", "too large"]),
    ('[defaults]\nno_data_for = "%ss"\n' % ("9" * 400), ["defaults.no_data_for", "too large"]),
    (RECEIVER + 'group_wait = "3651d"\n', ["receivers[0] (ops).group_wait", "too large"]),
    (RECEIVER + 'repeat_interval = "9999999999d"\n', ["receivers[0] (ops).repeat_interval", "too large"]),
    ('[rules.cpu_high]\nfor = "9999999999d"\n', ["rules.cpu_high.for", "too large"]),
    ('[defaults]\nfor_outage_tolerance = "15s"\n',
     ["defaults.for_outage_tolerance", "15 s", "2 sample intervals", "minimum is 20s"]),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", ["not valid TOML", "nested too deeply"]),
    ("[rules.cpu_high]\nclear = 95\n", ["rules.cpu_high.clear", "clear must be <= threshold"]),
    ("[rules.cpu_high]\nop = \">=\"\nthreshold = 90\nclear = 90.5\n", ["rules.cpu_high.clear", "<= threshold"]),
    ('[rules.idle]\nmetric = "system.cpu_percent"\nop = "<"\nthreshold = 5\nclear = 2\n',
     ["rules.idle.clear", "clear must be >= threshold"]),
    ('[rules.cpu_high]\nlabels = { alertname = "y" }\n', ["rules.cpu_high.labels", "'alertname'", "alertname field"]),
    ('[rules.cpu_high]\nlabels = { severity = "info" }\n', ["rules.cpu_high.labels", "'severity'", "severity field"]),
    ('[rules.cpu_high]\nlabels = { "bad key" = "y" }\n', ["rules.cpu_high.labels", "'bad key'", "label name"]),
    ('[rules.cpu_high]\nlabels = { __name__ = "y" }\n', ["rules.cpu_high.labels", "'__name__'", "label name"]),
    # a receiver URL without a host was taken, and its every notification failed
    ('[[receivers]]\nname = "hook"\ntype = "webhook"\nurl = "http://"\n',
     ["receivers[0] (hook).url", "URL with a host"]),
    ('[[receivers]]\nname = "chat"\ntype = "slack"\nurl = "https:///services/T0/B0/x"\n',
     ["receivers[0] (chat).url", "URL with a host"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_alerting_file_exits_2_with_one_line(tmp_path, text, expected):
    result = reporter(tmp_path, "check-config", text)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and str(tmp_path / "alerting.toml") in lines[0]
    for part in expected:
        assert part in lines[0]


def test_daemon_refuses_a_bad_alerting_file_at_start(tmp_path):
    result = reporter(tmp_path, "run", "rules = []\n")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("not an array") and "Traceback" not in result.stderr


def test_for_outage_tolerance_below_two_sample_intervals_is_refused_at_start_and_in_check_config(tmp_path):
    text = '[defaults]\nfor_outage_tolerance = "1s"\n'
    for command in ("check-config", "run"):
        result = reporter(tmp_path, command, text, sample_interval="2", probe_timeout="1")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "defaults.for_outage_tolerance" in lines[0] and "minimum is 4s" in lines[0]
    text = '[defaults]\nfor_outage_tolerance = "4s"\n'
    assert reporter(tmp_path, "check-config", text, sample_interval="2", probe_timeout="1").returncode == 0


def test_hysteresis_and_labels_that_are_accepted(tmp_path):
    text = ('[rules.cpu_high]\nthreshold = 70\nlabels = { team = "ops", _x = "1" }\n'  # clear moves: 65
            '[rules.idle]\nmetric = "system.cpu_percent"\nop = "<="\nthreshold = 5\nclear = 5\n')
    result = reporter(tmp_path, "check-config", text)
    assert result.returncode == 0, result.stderr
    rules = {r.name: r for r in build_rules({"cpu_high": {"threshold": 70}, "disk_high": {"op": "<"}}, FEATURES)}
    assert rules["cpu_high"].clear == 65 and rules["disk_high"].clear is None
    assert {r.name: r for r in build_rules({"cpu_high": {"op": "<", "threshold": 5}}, FEATURES)}["cpu_high"].clear \
        is None


def test_byte_order_mark_is_accepted(tmp_path):
    result = reporter(tmp_path, "check-config", b"\xef\xbb\xbf[rules.cpu_high]\nthreshold = 80\n" + RECEIVER.encode())
    assert result.returncode == 0, result.stderr
    assert "18 alert rules, 1 receiver(s)" in result.stderr


def test_metric_path_of_a_configured_feature_is_known(tmp_path):
    text = '[rules.essay_slow]\nmetric = "ai.windows.5m.features.essay.avg_time"\nthreshold = 5\n'
    assert reporter(tmp_path, "check-config", text, features="essay,quiz").returncode == 0
    result = reporter(tmp_path, "check-config", text, features="quiz")
    assert result.returncode == 2 and "features has: quiz (the features of REPORTER_AI_FEATURES)" in result.stderr


def test_known_paths_come_from_the_snapshot_model_and_read_a_number():
    from reporter.alerting.values import lookup

    paths = snapshot_paths(FEATURES)
    assert {"system.cpu_percent", "services.redis.up", "ai.windows.5m.features.quiz.success_rate",
            "usage.active_users_1h"} <= set(paths)
    assert not any(p.endswith((".error", ".model", ".disk_path", ".collected_at")) for p in paths)
    data = snapshot(0).model_dump(mode="python")
    assert lookup(data, "system.cpu_percent") == 10.0
    assert set(Snapshot.model_fields) >= {p.split(".")[0] for p in paths}


def test_receiver_matchers_are_anchored_regexes_as_in_alertmanager():
    receiver = Receiver(name="r", type="webhook", url="http://127.0.0.1:9/h",
                        matchers=['severity=~"critical|warning"', "service!=redis"], match_re={"team": "ops|db"})
    labels = {"alertname": "service_down", "severity": "critical", "service": "database", "team": "ops"}
    assert receiver.accepts(labels)
    assert not receiver.accepts({**labels, "service": "redis"})
    assert not receiver.accepts({**labels, "severity": "info"})
    assert not receiver.accepts({**labels, "team": "ops2"})  # fully anchored: "ops|db" does not match "ops2"
    crit = Receiver(name="r", type="webhook", url="http://127.0.0.1:9/h", matchers=['severity=~"crit"'])
    assert not crit.accepts(labels)
    not_web = Receiver(name="r", type="webhook", url="http://127.0.0.1:9/h", matchers=[r'host!~"web\d+"'])
    assert not not_web.accepts({"host": "web12"}) and not_web.accepts({"host": "db1"})
    dotted = Receiver(name="r", type="webhook", url="http://127.0.0.1:9/h", match={"host": "web01.example.com"})
    assert dotted.accepts({"host": "web01.example.com"})  # a dot alone is not taken for a regex


def test_silence_matchers_round_trip_through_their_stored_text():
    from reporter.alerting.matchers import Matcher

    for text in ['severity=~"critical|warning"', r'host!~"web\d+"', 'summary=" padded "', 'a="say \\"hi\\""', "a="]:
        matcher = Matcher.parse(text)
        assert Matcher.parse(str(matcher)) == matcher
    assert Matcher.parse('summary=" padded "').value == " padded "
    assert Matcher.parse('a="say \\"hi\\""').value == 'say "hi"'


def test_the_model_rules_are_overridden_in_the_file_and_a_bad_value_is_one_line(tmp_path):
    good = ('[rules.model_cpu_fallback]\nthreshold = 0.1\nfor = "10m"\n[rules.ai_throughput_drop]\nfactor = 0.3\n'
            'min_count = 20\n[rules.model_cold_loads]\nwindow = "2h"\nthreshold = 6\nseverity = "critical"\n')
    result = reporter(tmp_path, "check-config", good + RECEIVER)
    assert result.returncode == 0, result.stderr
    result = reporter(tmp_path, "check-config", '[rules.model_cold_loads]\nwindow = "-1h"\n' + RECEIVER)
    assert result.returncode == 2 and "rules.model_cold_loads.window:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
