"""The low-level helpers of reporter.base: one spelling of each time text, epoch milliseconds, one-line errors,
and the URL masking of logs (reporter.masking.masked_url)."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from reporter.base.errors import one_line
from reporter.base.ms import elapsed_ms, from_ms, to_ms
from reporter.base.timefmt import duration, format_local, format_utc, half_up
from reporter.masking import masked_url, register_secrets

BERLIN = ZoneInfo("Europe/Berlin")


def test_format_utc_is_iso_with_milliseconds_and_z_whatever_the_zone():
    assert format_utc(datetime(2026, 11, 29, 16, 1, 10, 123999, tzinfo=UTC)) == "2026-11-29T16:01:10.123Z"
    assert format_utc(datetime(2026, 11, 29, 17, 1, 10, tzinfo=BERLIN)) == "2026-11-29T16:01:10.000Z"
    assert format_utc(datetime(2026, 7, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5)))) == "2026-07-01T05:00:00.000Z"


def test_format_local_names_the_zone_and_tells_the_repeated_hour_apart():
    assert format_local(datetime(2024, 5, 1, 13, 5, tzinfo=UTC), BERLIN) == "2024-05-01 15:05:00 CEST"
    assert format_local(datetime(2024, 1, 15, 13, 5, 7, tzinfo=UTC), BERLIN) == "2024-01-15 14:05:07 CET"
    # 27 Oct 2024 in Berlin: 02:30 happens twice, first in summer time then in winter time
    first, second = datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert format_local(first, BERLIN) == "2024-10-27 02:30:00 CEST"
    assert format_local(second, BERLIN) == "2024-10-27 02:30:00 CET"
    # spring forward: 01:59:59 CET is followed by 03:00:00 CEST
    assert format_local(datetime(2024, 3, 31, 1, 0, tzinfo=UTC), BERLIN) == "2024-03-31 03:00:00 CEST"
    assert format_local(datetime(2024, 5, 1, 13, 5, tzinfo=UTC), UTC) == "2024-05-01 13:05:00 UTC"


def test_format_local_refuses_a_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_local(datetime(2024, 5, 1, 13, 5), BERLIN)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (-5, "0 s"), (0.4, "0 s"), (0.5, "1 s"), (44.5, "45 s"), (59.4, "59 s"),
    (59.5, "1 min"), (89, "1 min"), (90, "2 min"), (390, "7 min"), (2730, "46 min"), (3569, "59 min"),
    (3570, "1 h 00 min"), (3900, "1 h 05 min"), (7322, "2 h 02 min"), (86369, "23 h 59 min"),
    (86370, "1 d 0 h"), (90061, "1 d 1 h"), (2.5 * 86400 + 1800, "2 d 13 h"), (12 * 86400 + 3 * 3600, "12 d 3 h"),
])
def test_duration_coarser_as_it_grows_with_halves_up(seconds, text):
    assert duration(seconds) == text


def test_half_up_is_not_bankers_rounding():
    assert [half_up(x) for x in (0.5, 1.5, 2.5, 3.5, 2.49)] == [1, 2, 3, 4, 2]
    assert [round(x) for x in (0.5, 2.5)] == [0, 2]  # what Python's round() would have said


def test_ms_round_trip_is_exact():
    for ms in (0, 1, 999, 1_700_000_000_123, 1_732_896_070_999, 4_102_444_800_000):
        assert to_ms(from_ms(ms)) == ms
    at = datetime(2026, 11, 29, 16, 1, 10, 123000, tzinfo=UTC)
    assert from_ms(to_ms(at)) == at and from_ms(to_ms(at)).tzinfo is UTC
    assert to_ms(datetime(2026, 11, 29, 17, 1, 10, 123000, tzinfo=BERLIN)) == to_ms(at)
    assert to_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0 and from_ms(1500) == datetime(1970, 1, 1, 0, 0, 1, 500000,
                                                                                        tzinfo=UTC)
    assert from_ms(None) is None and to_ms(None) is None
    assert to_ms(datetime(2026, 1, 1, 0, 0, 0, 1500, tzinfo=UTC)) == to_ms(datetime(2026, 1, 1, tzinfo=UTC)) + 2


def test_elapsed_ms_is_milliseconds_since_a_perf_counter_reading():
    import time

    started = time.perf_counter()
    time.sleep(0.02)
    took = elapsed_ms(started)
    assert 20 <= took < 2000 and took == round(took, 2)


def test_one_line_is_the_type_and_first_line_masked_and_bounded():
    assert one_line(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert one_line(TimeoutError()) == "TimeoutError"
    assert one_line(OSError("connect to postgresql://app:pa55w0rd@db/app failed")) == \
        "OSError: connect to postgresql://app:***@db/app failed"
    assert len(one_line(RuntimeError("x" * 1000))) == 300
    bare = RuntimeError("the message says it all")
    bare.bare = True
    assert one_line(bare) == "the message says it all"
    register_secrets(["s3cr3t-token-value"])
    assert one_line(RuntimeError("token s3cr3t-token-value refused")) == "RuntimeError: token *** refused"


def test_masked_url_keeps_scheme_and_host_only():
    assert masked_url("https://hooks.slack.com/services/T000/B000/XXXX") == "https://hooks.slack.com/***"
    assert masked_url("http://user:pw@127.0.0.1:9000/hook?token=x") == "http://127.0.0.1:9000/***"
    assert masked_url("http://[::1]:8080/a") == "http://[::1]:8080/***"
    assert masked_url("not a url") == "***"


COPIES = {  # what a local copy of a helper of reporter.base (or reporter.masking) looks like
    r"\bdef (to_ms|from_ms|_ms|_elapsed_ms|one_line|_first_line|duration|format_utc|format_local|masked_url)\(":
        "a helper of reporter.base defined again",
    r"timestamp\(\)\s*\*\s*1000": "epoch ms by hand (reporter.base.ms.to_ms)",
    r"fromtimestamp\([^)]*/\s*1000": "epoch ms by hand (reporter.base.ms.from_ms)",
    r"%H:%M:%S %Z": "local time by hand (reporter.base.timefmt.format_local)",
    r"splitlines\(\)\[0\]": "first line of an error by hand (reporter.base.errors.one_line)",
    r"perf_counter\(\) - \w+\) \* 1000": "elapsed ms by hand (reporter.base.ms.elapsed_ms)",
}


def test_no_local_copy_of_the_low_level_helpers_remains():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "reporter"
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.parent.name == "base" or path.name == "masking.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"reporter/{path.relative_to(root)}:{number}: {what}: {line.strip()}"
                      for pattern, what in COPIES.items() if re.search(pattern, line)]
    assert not found, "\n".join(found)
