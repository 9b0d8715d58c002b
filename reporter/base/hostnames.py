"""Host names as ``REPORTER_ALLOWED_HOSTS`` and the HTTP ``Host`` check compare them (see
:mod:`reporter.api.hosts` for the policy). Low so that the settings validate their entries without importing
the HTTP layer."""

from __future__ import annotations

import ipaddress


def normalise_host(value: str) -> str:
    """A Host header value or setting entry as compared: without port and brackets, lower case, no trailing dot.

    ``[::1]:8321`` -> ``::1``; ``Example.COM.:80`` -> ``example.com``.
    """
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def check_allowed_entry(entry: str) -> str:
    """One ``REPORTER_ALLOWED_HOSTS`` entry, normalised; ValueError (one line) when it is not a host name,
    ``.domain``, an address or ``*``."""
    if entry == "*":
        return entry
    if "/" in entry or "@" in entry or any(c.isspace() for c in entry):
        raise ValueError(f"{entry[:60]!r} is not a host name: give names without scheme, path or port, "
                         "e.g. reporter.example.com,.example.com (a domain and its subdomains), or *")
    if entry.count(":") == 1 or "]:" in entry:
        raise ValueError(f"{entry[:60]!r}: give the host name without a port (any port is answered)")
    name = normalise_host(entry)
    if ":" in name:
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise ValueError(f"{entry[:60]!r}: give the host name without a port (any port is answered)") from None
    if not name.strip("."):
        raise ValueError(f"{entry[:60]!r} is not a host name")
    return name if not entry.startswith(".") else "." + name.lstrip(".")
