"""The outcomes of a delivery attempt, and the retry policy of deliveries, in one place.

Each receiver type (``reporter.notify.receivers``) classifies its answers: delivered;
retry (temporary: with exponential backoff and jitter, the leased queues' one policy,
:class:`reporter.store.leases.Backoff`, capped per receiver, and no sooner than a wait the receiver asked for, such
as HTTP ``Retry-After``, up to that cap); or failed (permanent, kept with the reason). Retries go on until the
notification is ``max_age`` seconds old.
"""

DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"
