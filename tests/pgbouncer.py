"""A private PgBouncer in front of the shared PostgreSQL (``pgbouncer`` from Debian; skipped when absent).

:func:`pgbouncer` starts one in ``pool_mode`` on a free loopback port, as the ``postgres`` user when run as root
(PgBouncer refuses root: ``--user``), with one database ``test`` whose server connections use ``schema`` (``connect_query``
sets the search_path; the clients' ``options`` startup parameter, which PgBouncer does not forward, is ignored);
yields the SQLAlchemy URL through it; stops it (by its pid) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import unavailable

BINARY = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def pgbouncer(pool_mode: str, schema: str, pool_size: int = 4) -> Iterator[str]:
    """PgBouncer in ``pool_mode`` (``session``/``transaction``) to database ``test`` with ``schema`` as the
    search_path; yields ``postgresql+psycopg://postgres@127.0.0.1:PORT/test``."""
    if BINARY is None:
        unavailable("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    folder = Path(tempfile.mkdtemp(prefix="reporter-pgbouncer-"))
    port = _free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(f"""
[databases]
test = host=127.0.0.1 port=5432 dbname=test connect_query='SET search_path TO {schema}'
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
ignore_startup_parameters = options
logfile = {folder / "pgbouncer.log"}
""")
    command = [BINARY, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        for path in folder.iterdir():
            shutil.chown(path, "postgres")
        command.append("--user=postgres")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (folder / "pgbouncer.log").read_text() if (folder / "pgbouncer.log").exists() else ""
                raise AssertionError(f"pgbouncer did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                                     f"{log[-2000:]}")
            time.sleep(0.05)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # pgbouncer exits at once on SIGINT
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
