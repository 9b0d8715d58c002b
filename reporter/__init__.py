"""reporter: a monitoring and reporting daemon for an application whose features call an LLM.

Data flows one way: ``collect`` -> :class:`reporter.snapshot.Snapshot` -> ``store`` (history) and ``api``
(latest snapshot as JSON); ``daemon`` wires the jobs.

Packages and top-level modules are layered, low -> high: ``masking``, ``counters``, ``usage_queries`` and other
standard-library modules; ``base`` (time text, epoch ms, one-line errors); ``failures``, ``logs``, ``clock``;
``snapshot``; ``catalog``; ``settings``; ``collect`` and ``store`` (neither imports the other); ``cli_history``;
``notify``; ``alerting``; ``report``; ``api``; ``daemon``; ``vacuum``; ``cli``. A module imports only from lower
layers; ``tests/test_layers.py`` holds the order and fails on an upward import or a cycle.
"""

__version__ = "0.1.0"
