"""Low-level helpers every layer may use: time formatting (:mod:`~reporter.base.timefmt`), epoch milliseconds
(:mod:`~reporter.base.ms`) and one-line error text (:mod:`~reporter.base.errors`).

This package imports only the standard library and :mod:`reporter.masking` (itself standard library only), never
a package above it; ``tests/test_layers.py`` checks it.
"""
