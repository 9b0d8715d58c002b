"""Low-level helpers every layer may use, one spelling each:

- :mod:`~reporter.base.timefmt` — times and durations as text (``format_utc``, ``format_local``, ``duration``);
- :mod:`~reporter.base.ms` — epoch milliseconds <-> aware UTC datetimes (``to_ms``, ``from_ms``);
- :mod:`~reporter.base.errors` — one-line, masked error text (``one_line``);
- :mod:`~reporter.base.hostnames` — host names as ``REPORTER_ALLOWED_HOSTS`` and the ``Host`` check compare them;
- :mod:`~reporter.base.postgres` — libpq options that bound every wait.

URL and secret masking is :mod:`reporter.masking`, beside this package and lower still. This package imports only
the standard library, third-party libraries and :mod:`reporter.masking`, never a package above it;
``tests/test_layers.py`` checks that and the order of all the packages.
"""
