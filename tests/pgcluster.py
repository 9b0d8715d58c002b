"""A private PostgreSQL cluster for the tests that must stop, restart or kill the server (the shared one at
127.0.0.1:5432 is never touched).

``PgCluster`` runs ``initdb`` into a fresh folder under the system temp folder (owned by the ``postgres`` user
when the tests run as root: PostgreSQL refuses to run as root) and ``pg_ctl`` on a free loopback port; the port
stays the same across :meth:`PgCluster.stop` / :meth:`PgCluster.start`, so a daemon pointed at :attr:`url` sees
the store go away and come back. The folder is removed by :meth:`close` (also registered with ``atexit`` and
called by the ``pg_cluster`` fixture even when the test fails).

Binaries: ``$PG_BIN`` (a folder holding ``initdb``, ``pg_ctl``), else the newest ``/usr/lib/postgresql/<v>/bin``,
else ``initdb`` on the PATH. Missing -> :class:`ClusterUnavailable` (the fixture skips with that reason, or fails
under ``CI=true``).

A cluster starts in ~1-2 s (``initdb --no-sync``, ``fsync=off``: the tests need a server that stops and
starts, not one that survives a power cut).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # pwd is POSIX-only; without it the cluster runs as the current user
    import pwd
except ImportError:  # pragma: no cover
    pwd = None  # type: ignore[assignment]


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (or no ``postgres`` user to run them as root); the message says what
    is missing and what to install."""


def find_bin() -> Path:
    """The folder of ``initdb``/``pg_ctl``: ``$PG_BIN``, the newest /usr/lib/postgresql/<v>/bin, or the PATH's.
    Raises :class:`ClusterUnavailable` when none has both."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((p for p in root.iterdir() if p.name.split(".")[0].isdigit()),
                          key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()], reverse=True)
        candidates += [v / "bin" for v in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise ClusterUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BIN, "
                             "/usr/lib/postgresql/<version>/bin or the PATH; install postgresql (e.g. "
                             "apt-get install postgresql-15) to run this test")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """One private PostgreSQL server: :meth:`init` (initdb), :meth:`start`, :meth:`stop`, :meth:`restart`,
    :meth:`kill`, :meth:`close` (stop + remove the folder). :attr:`url` is a SQLAlchemy URL
    (``postgresql+psycopg://postgres@127.0.0.1:<port>/<database>``); :meth:`create_database` adds a database.

    Use :meth:`running` (a context manager: init + start, close on exit) or the ``pg_cluster`` fixture of
    tests/conftest.py. Errors: :class:`ClusterUnavailable` (no binaries), RuntimeError naming the failed command
    with the server log's tail."""

    def __init__(self, port: int | None = None, database: str = "test") -> None:
        self.bin = find_bin()
        self.port = port or _free_port()
        self.database = database
        self.user: str | None = None  # the OS user the server runs as (None: this process's)
        if os.geteuid() == 0:
            if pwd is None:  # pragma: no cover
                raise ClusterUnavailable("running as root without the pwd module: cannot switch to postgres")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable("running as root and there is no `postgres` user to run PostgreSQL as; "
                                         "create one (useradd postgres) or run the tests as a normal user") from None
            self.user = "postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        self.data = self.dir / "data"
        self.log = self.dir / "log"
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._closed = False
        atexit.register(self.close)

    # ---- commands -------------------------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed (exit {result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-1500:]}\nserver log: {self.log_tail()}")
        return result

    def init(self) -> PgCluster:
        """initdb (trust authentication, superuser ``postgres``, UTF8). Returns self."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        return self

    def start(self, timeout: float = 30.0) -> PgCluster:
        """Start the server on :attr:`port` (loopback only; its Unix socket in the cluster folder) and wait until
        it accepts connections; creates :attr:`database` on the first start. Returns self."""
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w",
                  "-t", str(int(timeout)), "start", timeout=timeout + 10)
        if not getattr(self, "_created", False):
            self._created = True
            if self.database != "postgres":
                self.create_database(self.database)
        return self

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> PgCluster:
        """Stop the server (``mode``: smart | fast | immediate, as pg_ctl -m) and wait until it is gone; a
        stopped server is left alone. Returns self."""
        if self.is_running():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout)),
                      "stop", timeout=timeout + 10)
        return self

    def restart(self, mode: str = "fast") -> PgCluster:
        """:meth:`stop` then :meth:`start` (same port). Returns self."""
        return self.stop(mode).start()

    def kill(self) -> PgCluster:
        """SIGKILL the postmaster (a crash; its backends exit on their own); waits until the port is free.
        :meth:`start` afterwards runs crash recovery."""
        pid = self.pid()
        if pid:
            os.kill(pid, 9)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self._accepts_tcp():
                time.sleep(0.05)
            # a killed postmaster may linger as a zombie (nobody reaps it here): its lock files would make the
            # next start refuse ("another postmaster ... using socket file")
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            (self.dir / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
            (self.dir / f".s.PGSQL.{self.port}").unlink(missing_ok=True)
        return self

    def freeze(self) -> PgCluster:
        """SIGSTOP the postmaster and every backend: the server hangs (the kernel still accepts connections and
        acknowledges data, nothing answers), as a store behind a cut link looks to a client. :meth:`thaw` ends it."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)
        return self

    def thaw(self) -> PgCluster:
        """SIGCONT what :meth:`freeze` stopped."""
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)
        return self

    def _processes(self) -> list[int]:
        """The postmaster and its children (backends, background workers)."""
        root = self.pid()
        if root is None:
            return []
        pids = [root]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == root:
                    pids.append(int(entry.name))
        return pids

    def close(self) -> None:
        """Stop the server (immediate) and remove the folder; safe to call twice and after a failed start."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self.thaw()
        try:
            if self.data.is_dir():
                self.stop(mode="immediate", timeout=20)
        except Exception:
            self.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            atexit.unregister(self.close)

    # ---- state ----------------------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid (None when the server is not running)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
        return None if state in ("Z", "X") else pid

    def is_running(self) -> bool:
        """True while ``pg_ctl status`` says the server runs."""
        if not self.data.is_dir():
            return False
        result = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False, timeout=15)
        return result.returncode == 0

    def _accepts_tcp(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the server log ('' when there is none yet)."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def url(self) -> str:
        """SQLAlchemy URL of :attr:`database` as the superuser ``postgres`` (trust: no password)."""
        return self.url_of(self.database)

    def url_of(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """CREATE DATABASE ``name`` (the server must be running)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    @classmethod
    @contextmanager
    def running(cls, **kwargs) -> Iterator[PgCluster]:
        """A started cluster (init + start), closed on exit even when the body raises."""
        cluster = cls(**kwargs)
        try:
            cluster.init().start()
            yield cluster
        finally:
            cluster.close()
