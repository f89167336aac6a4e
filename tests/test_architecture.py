"""The package's shape: no import loops (function-level imports count), the layers DESIGN.md
draws, and a reason beside every import that a function makes of a sibling module."""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hypertuner"

# Who must not import whom (DESIGN.md: data flows argv/files -> config -> the one run start ->
# {scope, saver, tracking} -> storage -> {compare, cli, ui}).
FORBIDDEN = {
    "config": {"run", "scope", "storage", "args", "cfgfile", "cli"},
    "scope": {"config", "run", "args", "storage"},
    "_formats": {"cfgfile", "config", "run"},
    "_layout": {"run", "storage", "cli"},
    "storage": {"run", "cli", "args"},
    "run": {"args", "cfgfile", "cli", "launch"},
    "search": {"launch", "testtube", "backends"},
    "launch": {"testtube", "cli"},
    "backends": {"launch", "testtube"},
    "_trees": {"*"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _without_type_checking(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id in ("TYPE_CHECKING", "_TYPE_CHECKING")) or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                node.body = [ast.Pass()]
    return tree


def _targets(
    module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]
) -> set[str]:
    """The package's modules an import statement names (``""`` is the package itself)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("hypertuner")]
        found = {n.removeprefix("hypertuner").lstrip(".") for n in names}
    elif node.level == 0:
        if not (node.module or "").startswith("hypertuner"):
            return set()
        base = (node.module or "").removeprefix("hypertuner").lstrip(".")
        found = {f"{base}.{a.name}".lstrip(".") for a in node.names} | {base}
    else:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)] if module else []
        base = ".".join([*package, *([node.module] if node.module else [])])
        found = {f"{base}.{a.name}".lstrip(".") for a in node.names}
        found = {n if n in known else base for n in found}
    out = set()
    for name in found:
        while name and name not in known:
            name = name.rpartition(".")[0]
        out.add(name)
    return out


@functools.cache
def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """Edges between modules (package __init__ re-exports left out), and the function-level
    sibling imports as (module, line, source line)."""
    modules = _modules()
    known = set(modules)
    edges: dict[str, set[str]] = defaultdict(set)
    inner: list[tuple[str, int, str]] = []
    for name, path in modules.items():
        source = path.read_text()
        tree = _without_type_checking(ast.parse(source))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(name, path, node, known):
                    if target != name and name != "" and target != "":
                        edges[name].add(target)
        lines = source.splitlines()
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and _targets(
                        name, path, node, known
                    ):
                        inner.append((name, node.lineno, lines[node.lineno - 1]))
    return edges, inner


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for vertex in list(edges):
        if vertex not in index:
            visit(vertex)
    return found


def test_the_import_graph_has_no_cycle_counting_function_level_imports() -> None:
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_the_graph_reader_finds_a_cycle_hidden_in_a_function() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_a_module_imports_nothing_above_its_layer(module: str) -> None:
    edges, _ = _graph()
    imported = {target.split(".")[0] for target in edges.get(module, set())}
    if module.startswith("backends"):
        imported = set()
    forbidden = FORBIDDEN[module]
    if "*" in forbidden:
        assert imported == set()
    else:
        assert imported & forbidden == set()


def test_backends_import_nothing_above_them() -> None:
    edges, _ = _graph()
    for module, targets in edges.items():
        if module.startswith("backends"):
            assert {t.split(".")[0] for t in targets} & FORBIDDEN["backends"] == set(), module


def test_every_function_level_sibling_import_says_why() -> None:
    _, inner = _graph()
    unexplained = [f"{m}:{line}: {text.strip()}" for m, line, text in inner if "#" not in text]
    assert unexplained == []
    assert len(inner) <= 6  # a handful at most: each keeps a heavy module off a hot path
