import itertools
from datetime import UTC, datetime

from reporter.daemon.loop import SamplingLoop
from tests.clock import SteppedClock


def run_loop(clock, cycles, during=None):
    """Run a loop of interval 10 s until ``cycles`` cycles; ``during(n)`` runs inside cycle n.
    Returns the monotonic start time of each cycle."""
    starts = []

    def job():
        starts.append(clock.monotonic())
        if during:
            during(len(starts))
        if len(starts) == cycles:
            loop.stop()

    loop = SamplingLoop(job, 10.0, clock)
    loop.run()
    return starts


def test_cycles_keep_the_interval_whatever_the_wall_clock_does():
    clock = SteppedClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    steps = {3: -600.0, 5: -60.0, 8: 600.0}
    starts = run_loop(clock, 12, lambda n: clock.step(steps.get(n, 0.0)))
    assert [b - a for a, b in itertools.pairwise(starts)] == [10.0] * 11


def test_an_overrun_cycle_is_followed_at_once_then_every_interval():
    clock = SteppedClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    starts = run_loop(clock, 5, lambda n: clock.advance(25.0) if n == 2 else None)
    assert [b - a for a, b in itertools.pairwise(starts)] == [10.0, 25.0, 10.0, 10.0]


def test_a_failing_cycle_is_logged_and_the_next_runs(caplog):
    clock = SteppedClock(datetime(2026, 11, 2, 8, 0, tzinfo=UTC))

    def boom(n):
        if n == 1:
            raise RuntimeError("boom")

    assert len(run_loop(clock, 3, boom)) == 3
    assert "sampling: a cycle failed" in caplog.text
