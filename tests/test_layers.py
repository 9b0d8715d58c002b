"""Package layering of reporter/: no unit imports a unit that imports it back, and imports go down the layers.

A *unit* is a sub-package (``reporter.alerting``: every module under ``reporter/alerting/``) or a top-level
module (``reporter.settings``). Every ``import`` and ``from ... import`` in reporter/ counts, also the ones inside
functions (a deferred import still ties the two units together). The test parses the source with :mod:`ast`; it
imports nothing of reporter.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "reporter"

# The intended order, low -> high: a unit may import units of lower layers only (and its own modules). A new
# package or top-level module gets its place here.
LAYERS: list[set[str]] = [
    {"reporter", "reporter.masking", "reporter.rounding", "reporter.sqlite_file",
     "reporter.ai_usage", "reporter.counters", "reporter.usage_queries"},   # standard library only (and pure data)
    {"reporter.base"},                                                      # time text, ms, one-line errors...
    {"reporter.failures", "reporter.logs", "reporter.clock"},               # log lines, clock steps
    {"reporter.snapshot"},                                                  # the data shape of a sample
    {"reporter.catalog"},                                                   # one declaration per metric
    {"reporter.settings"},                                                  # configuration
    {"reporter.collect", "reporter.store", "reporter.smtp"},                # sampling; history; SMTP transport
    {"reporter.cli_history", "reporter.fleet"},                             # CLI's history; leader election
    {"reporter.notify"},                                                    # how to send
    {"reporter.alerting"},                                                  # what to send and when
    {"reporter.report"},                                                    # daily report
    {"reporter.api"},                                                       # HTTP
    {"reporter.daemon"},                                                    # the daemon's wiring
    {"reporter.vacuum", "reporter.cli_hosts"},                              # `reporter vacuum`, `reporter hosts ...`
    {"reporter.cli"},                                                       # commands
    {"reporter.__main__"},                                                  # python -m reporter
]

# Edges allowed to break the order while a change removes them (none today); the test fails when an edge listed
# here is no longer there, so the list cannot go stale.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def unit_of(module: str) -> str:
    """The unit of a dotted module name inside reporter (``reporter.alerting.state`` -> ``reporter.alerting``)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> ``file:line`` of every import between two different units."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        source = unit_of(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from .x import y, from .. import z
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                # "from reporter import logs" imports the unit reporter.logs; "from reporter.store import x" the
                # unit reporter.store
                targets = [f"{target}.{alias.name}" for alias in node.names] if target == "reporter" else [target]
            else:
                continue
            for target in targets:
                if target != "reporter" and not target.startswith("reporter."):
                    continue
                unit = unit_of(target)
                if target.startswith("reporter.") and not (ROOT / target.split(".")[1]).exists() and \
                        not (ROOT / f"{target.split('.')[1]}.py").exists():
                    unit = "reporter"  # a name defined in reporter/__init__.py (__version__)
                if unit != source:
                    edges[(source, unit)].append(f"reporter/{path.relative_to(ROOT)}:{node.lineno}")
    return edges


def units() -> set[str]:
    return {unit_of(module_name(p)) for p in ROOT.rglob("*.py")}


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan): each is a set of units that import
    each other, directly or through others."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(graph) | {b for _, b in edges}):
        if v not in index:
            visit(v)
    return found


def layer(unit: str) -> int:
    return next(i for i, units in enumerate(LAYERS) if unit in units)


def test_every_unit_has_a_layer():
    listed = [unit for units in LAYERS for unit in units]
    assert len(listed) == len(set(listed)), "a unit is in two layers"
    placed = set(listed)
    missing = sorted(units() - placed)
    assert not missing, f"units with no place in LAYERS (add them, low -> high): {missing}"


def test_no_package_imports_a_package_that_imports_it_back():
    edges = {edge: lines for edge, lines in imports().items() if edge not in KNOWN_EXCEPTIONS}
    problems = []
    for component in cycles(edges):
        inside = sorted((a, b) for a, b in edges if a in component and b in component)
        problems.append(" <-> ".join(component) + ":\n" + "\n".join(
            f"  {a} -> {b}: {', '.join(edges[(a, b)])}" for a, b in inside))
    assert not problems, "import cycles between units:\n" + "\n".join(problems)


def test_imports_go_down_the_layers():
    upward = [f"{a} (layer {layer(a)}) -> {b} (layer {layer(b)}): {', '.join(lines)}"
              for (a, b), lines in sorted(imports().items())
              if (a, b) not in KNOWN_EXCEPTIONS and layer(b) >= layer(a)]
    assert not upward, "imports of a unit of the same or a higher layer:\n" + "\n".join(upward)


def test_known_exceptions_still_exist():
    """An exception that is gone must leave the list, so that it cannot come back unnoticed."""
    gone = sorted(KNOWN_EXCEPTIONS - set(imports()))
    assert not gone, f"remove from KNOWN_EXCEPTIONS, these imports are gone: {gone}"


@pytest.mark.parametrize(("module", "expected"), [
    ("reporter.alerting.state", "reporter.alerting"), ("reporter.settings", "reporter.settings"),
    ("reporter", "reporter"),
])
def test_unit_of(module, expected):
    assert unit_of(module) == expected


def test_cycles_are_found_through_other_units():
    edges = {("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("c", "d"): []}
    assert cycles(edges) == [["a", "b", "c"]]
