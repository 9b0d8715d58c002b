"""A private PostgreSQL cluster (tests/pgcluster.py) that also listens on other addresses than loopback: the
``host_ip`` of a network namespace's link (tests/fleet/netns.py), so that a node inside can reach it."""

from __future__ import annotations

from tests.pgcluster import PgCluster


class ListeningCluster(PgCluster):
    """:class:`PgCluster` listening on ``listen`` (comma-separated addresses) instead of 127.0.0.1 only."""

    def __init__(self, listen: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.listen = listen

    def init(self) -> ListeningCluster:
        """initdb, then trust the namespaces' links (10.231.0.0/16, tests/fleet/netns.py) as loopback is."""
        super().init()
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.231.0.0/16 trust\n")
        return self

    def _run(self, *args: str, **kwargs):
        # pg_ctl's -o carries listen_addresses=127.0.0.1: widen it (a command-line -c wins over any config file)
        return super()._run(*(a.replace("listen_addresses=127.0.0.1", f"listen_addresses='{self.listen}'")
                              for a in args), **kwargs)

    def url_at(self, address: str) -> str:
        """The SQLAlchemy URL of the database through ``address`` (one of ``listen``)."""
        return self.url.replace("@127.0.0.1:", f"@{address}:")
