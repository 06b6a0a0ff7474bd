"""The shape of the package: small modules, short functions, no import cycles.

Limits (issue 20): no source file over :data:`MAX_LINES` lines, no function whose body (without
its docstring) is over :data:`MAX_FUNCTION` lines, and no cycle among the package's modules
(imports inside functions count: a cycle there still ties the modules together).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "spectralnn"
MAX_LINES = 300
MAX_FUNCTION = 60


def _modules():
    return sorted(p for p in SRC.rglob("*.py"))


def _name(path: pathlib.Path) -> str:
    parts = ["spectralnn", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _body_lines(node) -> int:
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def _imports(path: pathlib.Path) -> set[str]:
    """The package modules ``path`` imports (absolute names; ``from . import x`` included)."""
    me = _name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("spectralnn"):
                found.add(mod)
                found.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("spectralnn"))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC)} has {n} lines (limit {MAX_LINES})"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_functions_are_short(path):
    long = [
        f"{node.name} ({_body_lines(node)} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and _body_lines(node) > MAX_FUNCTION
    ]
    assert not long, f"{path.relative_to(SRC)}: {', '.join(long)} over {MAX_FUNCTION} lines"


def test_no_import_cycles():
    names = {_name(p): p for p in _modules()}
    graph = {
        n: {m for m in _imports(p) if m in names and m != n and not n.startswith(m + ".")}
        for n, p in names.items()
    }
    # The package's __init__ re-exports everything: edges into it are not layering.
    for deps in graph.values():
        deps.discard("spectralnn")
    graph["spectralnn"] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycle = stack[stack.index(m) :] + [m]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
