"""Label matchers as Alertmanager writes them: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``.

The value may be double-quoted (``severity=~"critical|warning"``; inside quotes ``\\"`` is a quote and
``\\\\`` a backslash, other backslashes stay as written, e.g. ``\\d``). Regular
expressions are fully anchored, as in Alertmanager: ``=~"crit"`` does not match ``critical``. A label that is
absent matches as the empty string. Used by silences and by receivers' ``matchers``/``match_re``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
OPS = ("=", "!=", "=~", "!~")
# characters that make a `match` value look like a regular expression (a dot alone does not: hostnames)
REGEX_LOOKING = re.compile(r"[|*+?^$()\[\]{}\\]")


def _unquote(text: str, source: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body, out, i = text[1:-1], [], 0
        while i < len(body):
            char = body[i]
            if char == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':  # other escapes stay (regex \d)
                out.append(body[i + 1])
                i += 2
                continue
            if char == '"':
                raise ValueError(f"{source!r}: unescaped '\"' inside the quoted value")
            out.append(char)
            i += 1
        return "".join(out)
    if text.startswith('"'):
        raise ValueError(f"{source!r}: the quoted value is not closed")
    return text


def compile_regex(value: str, source: str) -> re.Pattern:
    """Compile ``value`` fully anchored; ValueError naming ``source`` when it is not a valid expression."""
    try:
        re.compile(value)  # an error's position refers to what the user wrote
        return re.compile(f"(?:{value})\\Z", re.DOTALL)
    except re.error as exc:
        raise ValueError(f"{source!r}: bad regular expression ({exc})") from None


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``op`` is one of ``=``, ``!=``, ``=~`` (regex, full match), ``!~`` (regex, no match)."""

    name: str
    op: str
    value: str
    regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``alertname=cpu_high`` or ``severity=~"critical|warning"``; raises ValueError (one line)."""
        match = MATCHER.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a matcher (use name=value, name!=value, name=~regex or name!~regex)")
        name, op, raw = match.groups()
        return cls.build(name, op, _unquote(raw, text), text)

    @classmethod
    def build(cls, name: str, op: str, value: str, source: str | None = None) -> Matcher:
        """A matcher from its parts; regexes are compiled now (ValueError when invalid)."""
        if op not in OPS:
            raise ValueError(f"unknown matcher operator {op!r}; use one of {', '.join(OPS)}")
        regex = compile_regex(value, source or f"{name}{op}{value}") if op in ("=~", "!~") else None
        return cls(name, op, value, regex)

    def matches(self, labels: dict[str, str]) -> bool:
        """True when ``labels`` satisfy this matcher (an absent label is the empty string)."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None  # build() compiles it for =~ and !~
        hit = self.regex.match(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        """``name=value``; the value is quoted when it must be to parse back the same."""
        value = self.value
        if value != value.strip() or value.startswith('"'):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{self.name}{self.op}{value}"
