from datetime import UTC, datetime, timedelta

import pytest

from reporter.clock import StepDetector, describe_step, step_tolerance

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_detector_reports_steps_beyond_tolerance_only():
    detector = StepDetector(step_tolerance(10))
    assert detector.observe(T0, 100.0) == 0.0
    assert detector.observe(T0 + timedelta(seconds=10.4), 110.0) == 0.0  # jitter, slewing
    assert detector.observe(T0 + timedelta(seconds=20.4 - 600), 120.0) == pytest.approx(-600)
    assert detector.observe(T0 + timedelta(seconds=30.4 - 600), 130.0) == 0.0  # one step is reported once
    assert detector.observe(T0 + timedelta(seconds=40.4), 140.0) == pytest.approx(600)


def test_tolerance_is_one_second_or_one_percent_of_the_interval():
    assert step_tolerance(10) == 1.0 and step_tolerance(3600) == 36.0


@pytest.mark.parametrize(("seconds", "text"), [
    (-600, "backwards by 10 min"), (61.5, "forward by 1 min"), (-2, "backwards by 2 s"), (1.54, "forward by 1.5 s"),
    (59.9, "forward by 59.9 s"), (59.96, "forward by 1 min"), (90000, "forward by 1 d 1 h"),
    (-599.998, "backwards by 10 min"), (3 * 3600 + 1800, "forward by 3 h 30 min"),
])
def test_step_is_described_with_size_and_direction(seconds, text):
    assert describe_step(seconds) == text
