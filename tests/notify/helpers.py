"""Shared helpers of the receiver-type tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def check_config(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    """Run ``reporter check-config`` in a child with ``toml`` as its alerting file and no other REPORTER_* setting.

    Returns the finished process (text stdout/stderr); raises subprocess.TimeoutExpired after 60 s."""
    path = tmp_path / "a.toml"
    path.write_text(toml)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTER_")}
    return subprocess.run([sys.executable, "-m", "reporter", "check-config"], cwd=tmp_path,
                          env={**env, "REPORTER_ALERTING_FILE": str(path)}, capture_output=True, text=True,
                          timeout=60)
