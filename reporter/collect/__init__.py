"""Collectors: each reads one source and returns its section of the snapshot; none raises for a down dependency.

``collector.py`` is the protocol, ``defaults.py`` the list the daemon runs, ``sampler.py`` runs a list and builds
the Snapshot, ``runner.py`` bounds each by the probe timeout, ``sources.py`` makes the clients (on first use).
"""
