"""Fixtures of the alerting tests."""

import pytest

from tests.receiver import Receiver as HTTPReceiver


@pytest.fixture
def receiver():
    """A webhook receiver on loopback that records what it is sent (stopped after the test)."""
    r = HTTPReceiver()
    yield r
    r.stop()
