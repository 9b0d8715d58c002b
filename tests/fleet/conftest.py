"""The ``fleet`` fixture: nodes on the shared PostgreSQL (a private schema), one real webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.fleet.helpers import Fleet
from tests.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    yield got
    got.stop()


@pytest.fixture
def fleet(tmp_path, pg_schema_url, redis_url, redis_prefix, receiver) -> Iterator[Fleet]:
    """A :class:`Fleet` on a private schema of the shared PostgreSQL; every node stopped afterwards (the logs of
    every node are printed when the test failed: pytest shows captured output)."""
    nodes = Fleet(tmp_path, pg_schema_url, redis_url, redis_prefix, receiver, free_port)
    try:
        yield nodes
    finally:
        print(nodes.tails(40))
        nodes.close()


@pytest.fixture
def netns():
    """A network namespace joined by a veth pair (tests/fleet/netns.py); skipped where namespaces can't be made
    (not root, no iproute2), failed under CI=true."""
    from tests.conftest import require
    from tests.fleet.netns import NetNs, available

    reason = available()
    if reason:
        require("a network namespace", RuntimeError(reason))
    ns = NetNs()
    yield ns
    ns.close()
