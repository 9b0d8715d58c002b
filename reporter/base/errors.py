"""Error text for people: one line per failure, never a traceback, never a secret."""

from __future__ import annotations

from reporter.masking import mask

MAX_CHARS = 300


def one_line(exc: BaseException) -> str:
    """``ExceptionType: first line of the message`` (never a traceback), at most 300 characters, with every
    secret masked (:func:`reporter.masking.mask`): a driver may embed the DSN or the password in its message.

    An exception with a true ``bare`` attribute (one whose message already says everything) gives its message
    alone."""
    text = mask(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
    name = type(exc).__name__
    if getattr(exc, "bare", False) and text:
        return text[:MAX_CHARS]
    return (f"{name}: {text}" if text else name)[:MAX_CHARS]
