"""A host that can be cut off: a Linux network namespace joined to this one by a veth pair.

This side of the pair has ``host_ip`` (10.231.x.1/30), the namespace side ``node_ip`` (.2). A node started with
``command=ns.exec`` lives in the namespace: it reaches servers that listen on ``host_ip`` and answers on
``node_ip``. :meth:`NetNs.cut` takes this side's end of the link down: packets between the namespace and the rest
vanish silently both ways (no RST, no FIN, no error in the namespace: its connections just hear nothing, as when
a switch port dies), while ``host_ip`` still answers locally on this side. :meth:`NetNs.restore` brings it back.

Needs root (CAP_NET_ADMIN) and ``ip``; :func:`available` says why not otherwise.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def available() -> str | None:
    """None when namespaces can be made here, else the reason."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"rptprobe{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class NetNs:
    """One namespace and its veth pair (removed by :meth:`close`)."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name, self.outer, self.inner = f"rpt{tag}", f"vh{tag}", f"vn{tag}"
        base = random.randrange(0, 256 * 64) * 4  # a /30 of 10.231.0.0/16
        self.host_ip = f"10.231.{base // 256}.{base % 256 + 1}"
        self.node_ip = f"10.231.{base // 256}.{base % 256 + 2}"
        self.exec = ["ip", "netns", "exec", self.name]
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
            _ip("link", "set", self.inner, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.outer)
            _ip("link", "set", self.outer, "up")
            self._inside("addr", "add", f"{self.node_ip}/30", "dev", self.inner)
            self._inside("link", "set", self.inner, "up")
            self._inside("link", "set", "lo", "up")
        except Exception:
            self.close()
            raise

    def _inside(self, *args: str) -> None:
        _ip("-n", self.name, *args)

    def cut(self) -> None:
        """Cut the namespace off: this side's end of the link goes down."""
        _ip("link", "set", self.outer, "down")

    def restore(self) -> None:
        """Join it again (same addresses, the route comes back with the link)."""
        _ip("link", "set", self.outer, "up")

    def close(self) -> None:
        _ip("link", "del", self.outer, check=False)
        _ip("netns", "del", self.name, check=False)
