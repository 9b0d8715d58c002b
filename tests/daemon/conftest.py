"""Fixtures of the daemon tests."""

import pytest

from tests.conftest import require
from tests.daemon.faketime import LIBFAKETIME


@pytest.fixture
def libfaketime() -> str:
    """libfaketime's path: skips the test, or fails it under CI=true, when libfaketime is not installed
    (.ci/run installs it)."""
    if LIBFAKETIME is None:
        require("libfaketime", FileNotFoundError("libfaketime.so.1 not found"))
    assert LIBFAKETIME is not None
    return LIBFAKETIME
