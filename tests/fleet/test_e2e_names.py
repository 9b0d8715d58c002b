"""One name, one node: a second node with a host name already held refuses to start."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow


def test_a_second_node_with_a_held_host_name_exits_1_naming_the_holder(fleet):
    [alpha] = fleet.start("alpha")
    started = time.monotonic()
    result = fleet.run_once("alpha")
    took = time.monotonic() - started
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stdout + result.stderr
    assert len([line for line in lines if "alpha" in line]) == 1, lines
    [line] = [line for line in lines if "alpha" in line]
    assert str(alpha.proc.pid) in line  # the holder: its pid (and address, start, last seen)
    assert "REPORTER_HOST_NAME" in line  # what to do
    assert took < 15
    assert alpha.alive and alpha.get("/healthz").status_code == 200  # the holder is untouched


def test_the_name_of_a_killed_node_is_free_at_once(fleet):
    [alpha] = fleet.start("alpha")
    alpha.kill()
    again = fleet.add("alpha", folder_name="alpha-2").start()
    assert again.alive
