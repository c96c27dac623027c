"""The modules of ``immutable_infra.ops`` import each other without a circle (imports inside
functions count: they are how the old ``python -m`` side entrances closed one)."""

from __future__ import annotations

import ast
import pathlib

OPS = pathlib.Path(__file__).resolve().parents[3] / "components" / "ops"


def import_graph(package: pathlib.Path) -> dict[str, set[str]]:
    """Module -> the sibling modules it imports, at any level of its source."""
    modules = {p.stem for p in package.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        graph[path.stem] = found & modules
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                found.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_finder_sees_a_circle() -> None:
    assert circles({"workspace": {"backend"}, "backend": {"workspace"}}) == [["backend", "workspace", "backend"]]


def test_the_ops_modules_import_each_other_without_a_circle() -> None:
    graph = import_graph(OPS)
    assert {"backend", "ledger_check", "workspace", "cli"} <= set(graph)
    assert circles(graph) == []
    assert "workspace" not in graph["backend"] | graph["ledger_check"]
