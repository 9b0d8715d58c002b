"""The fleet: leadership of many nodes sharing one PostgreSQL history (the advisory-lock election)."""
