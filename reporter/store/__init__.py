"""History: every snapshot as one row of fixed-point columns, one column per metric of :mod:`reporter.catalog`."""
