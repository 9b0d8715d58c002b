"""reporter: a monitoring and reporting daemon for an application whose features call an LLM.

Data flows one way: ``collect`` -> :class:`reporter.snapshot.Snapshot` -> ``store`` (history) and ``api``
(latest snapshot as JSON); ``daemon`` wires the jobs.
"""

__version__ = "0.1.0"
