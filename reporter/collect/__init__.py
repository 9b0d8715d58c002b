"""Collectors: each reads one source and returns a section; none raises for a down dependency."""
