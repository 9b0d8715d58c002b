"""Notification delivery, *how* to send: the notification shape (``notification``), one class per receiver type
(``receivers/``: slack, webhook, email, listed in ``receivers/registry.py``), the persistent outbox (``outbox``)
and the notifier thread (``worker``). ``alerting`` decides *what* to send and *when*; this package never imports
it."""
