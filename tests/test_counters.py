from reporter.counters import CounterSample, CounterWindow, increase, window_increase


def test_increase_sums_steps():
    assert increase([1, 3, 7]) == 6


def test_decrease_is_a_reset_not_a_negative_rate():
    # 100 -> 120 (+20), reset to 5 (+5), -> 9 (+4)
    assert increase([100, 120, 5, 9]) == 29


def test_missing_values_are_skipped_and_one_value_is_no_increase():
    assert increase([10, None, 15]) == 5
    assert increase([10]) is None
    assert increase([None, None]) is None
    assert increase([float("nan"), 4, 6]) == 2


def test_window_keeps_base_sample_before_the_span():
    window = CounterWindow(keep_seconds=300)
    for t in range(0, 700, 10):
        window.add(CounterSample(at=float(t), values={"n": float(t)}))
    span = window.span(300)
    assert span[0].at == 390 and span[-1].at == 690
    assert window_increase(span, "n") == 300
    assert len(window) <= 33


def test_window_after_gap_is_shorter_not_stale():
    window = CounterWindow(keep_seconds=300)
    window.add(CounterSample(at=0.0, values={"n": 0.0}))
    window.add(CounterSample(at=5000.0, values={"n": 500.0}))
    window.add(CounterSample(at=5010.0, values={"n": 510.0}))
    span = window.span(300)
    assert [s.at for s in span] == [5000.0, 5010.0]


def test_out_of_order_sample_ignored():
    window = CounterWindow(keep_seconds=300)
    window.add(CounterSample(at=10.0, values={"n": 1.0}))
    window.add(CounterSample(at=5.0, values={"n": 0.0}))
    assert len(window) == 1
