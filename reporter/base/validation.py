"""A pydantic validation error as one line for people: the field's dotted path and what is wrong with it.

A key that the model does not know is reported first (a misspelled ``thresold`` also makes ``threshold``
missing; the misspelling is the cause), with the closest known field name when there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def field_error(exc: Any, known: Iterable[str] = ()) -> tuple[str, str]:
    """``(dotted field, reason)`` of the error to show from ``exc`` (a ``pydantic.ValidationError``); ``known``:
    the field names of the model, to suggest one for an unknown key (``unknown field; did you mean
    'group_wait'?``)."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] != "extra_forbidden":
        return field, str(err["msg"]).removeprefix("Value error, ")
    name = str(err["loc"][-1]) if err["loc"] else ""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return field, "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
