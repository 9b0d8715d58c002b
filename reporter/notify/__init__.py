"""Notification delivery: receivers (Slack, Alertmanager-style webhook) and the persistent outbox."""
