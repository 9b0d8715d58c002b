"""Alerting: rules evaluated on each snapshot -> alert states (pending/firing/resolved) -> notifications."""
