"""The core and the radios import each other in one direction only: no import circle.

Imports under ``TYPE_CHECKING`` count: a module that needs another's types to be checked
depends on it as much as one that calls it. (The simulator, ``radios/virtual/``, is left
out: its devices and their frame handlers name each other's types.)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "custom_components" / "resilient_gateway"
CHECKED = ("core", "radios")
LEFT_OUT = ("radios/virtual",)


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path, module: str, node: ast.ImportFrom) -> list[str]:
    """The modules ``from ... import ...`` names, resolved against ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    # ``from . import x`` may name a module x as well as a name in the package. A package
    # that holds the importing module is imported before it anyway: no edge to it.
    modules = [f"{target}.{alias.name}" for alias in node.names]
    return modules if module.startswith(f"{target}.") else [target, *modules]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the modules of the checked folders it imports."""
    files = {
        _module_of(path, root): path
        for folder in CHECKED
        for path in (root / folder).rglob("*.py")
        if not any(path.relative_to(root).as_posix().startswith(f"{o}/") for o in LEFT_OUT)
    }
    graph: dict[str, set[str]] = {module: set() for module in files}
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = _imported(path, module, node)
            graph[module].update(n for n in names if n in files and n != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_there_is_something_to_check() -> None:
    graph = import_graph()
    assert "resilient_gateway.core.gateway" in graph
    assert "resilient_gateway.core.scheduler" in graph["resilient_gateway.core.gateway"]


def test_no_import_circle_in_the_core_or_the_radios() -> None:
    assert cycles(import_graph()) == []


def test_the_check_finds_a_circle_through_a_type_checking_import(tmp_path: Path) -> None:
    core = tmp_path / "core"
    (core / "sub").mkdir(parents=True)
    (tmp_path / "radios").mkdir()
    (core / "__init__.py").write_text("")
    (core / "a.py").write_text("from .sub import b\n")
    (core / "sub" / "__init__.py").write_text("")
    (core / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import A\n"
    )
    (core / "c.py").write_text("from . import a\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [[f"{tmp_path.name}.core.a", f"{tmp_path.name}.core.sub.b"]]
