"""The import rules of docs/architecture.md as a checker: an AST walk of the project's packages, no code executed.

Three kinds of violation: `layer` (a package imports one it may not), `cycle` (modules that import each other,
directly or around a loop) and `lazy` (a project module imported inside a function, under `if TYPE_CHECKING:`, in a
`try` block or under `with suppress(...)`, which hides a dependency or a cycle from a reader). Third-party modules
may be imported lazily (matplotlib, pyarrow, uvicorn load when a command needs them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

PACKAGES = ("common", "registry", "environments", "servers", "synthesizer", "envfactory")

# Which of our packages each package may import (itself always). `environments` is package data: its modules have
# per-file rules below, and no other package imports it (the runtime loads env.py by path).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "registry": frozenset({"common"}),
    "servers": frozenset({"common", "registry"}),
    "synthesizer": frozenset({"common", "registry"}),
    "envfactory": frozenset(PACKAGES),
}

# environments/<name>/<file>.py -> the only project modules it may import.
ENV_FILE_MAY_IMPORT: dict[str, frozenset[str]] = {
    "env": frozenset({"registry.contract", "registry.envkit"}),
    "server": frozenset({"servers.runtime.mcp_server"}),
}


@dataclass(frozen=True, order=True)
class Violation:
    kind: str  # "layer" | "cycle" | "lazy"
    module: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.module}:{self.line}" if self.line else self.module
        return f"[{self.kind}] {where}: {self.message}"


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to the most specific project module it names."""

    target: str
    line: int
    lazy: str  # why the import is lazy ("" when it runs at module import time)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def discover(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Module]:
    """Every .py file under each package folder, by dotted name (`pkg/__init__.py` is `pkg`)."""
    modules: dict[str, Module] = {}
    for pkg in packages:
        base = root / pkg
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            if "__pycache__" in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            modules[".".join(parts)] = Module(".".join(parts), path, rel.name == "__init__")
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_suppress(expr: ast.expr) -> bool:
    func = expr.func if isinstance(expr, ast.Call) else expr
    return (isinstance(func, ast.Name) and func.id == "suppress") or (
        isinstance(func, ast.Attribute) and func.attr == "suppress"
    )


def _walk(node: ast.AST, lazy: str = "") -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement under `node` with the reason it is lazy, if it is."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(child, lazy or f"inside function {child.name}()")
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _walk(child, lazy or "under `if TYPE_CHECKING:`")
        elif isinstance(child, ast.Try | ast.TryStar):
            yield from _walk(child, lazy or "inside a try block")
        elif isinstance(child, ast.With | ast.AsyncWith) and any(_is_suppress(i.context_expr) for i in child.items):
            yield from _walk(child, lazy or "inside a `with suppress(...)` block")
        else:
            yield from _walk(child, lazy)


def _resolve_base(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.name.split(".")
    package = parts if module.is_package else parts[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _longest_known(dotted: str, known: dict[str, Module]) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in known:
            return name
    return None


def imports_of(module: Module, known: dict[str, Module]) -> list[Import]:
    """The project modules `module` imports. `from pkg import sub` names `pkg.sub` when that is a module, else `pkg`."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    found: list[Import] = []
    for node, lazy in _walk(tree):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_longest_known(alias.name, known) for alias in node.names]
        else:
            base = _resolve_base(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                targets.append(sub if sub in known else _longest_known(base, known))
        for target in dict.fromkeys(targets):
            if target and target != module.name:
                found.append(Import(target, node.lineno, lazy))
    return found


def _layer_violation(importer: str, target: str) -> str | None:
    """Why `importer` may not import `target`, or None when it may."""
    src, dst = importer.split(".")[0], target.split(".")[0]
    if src == "environments":
        parts = importer.split(".")
        allowed = ENV_FILE_MAY_IMPORT.get(parts[-1], frozenset()) if len(parts) == 3 else frozenset()
        if target in allowed:
            return None
        rule = "only " + ", ".join(sorted(allowed)) if allowed else "nothing of ours"
        return f"imports {target}; environments/*/{parts[-1]}.py may import {rule}"
    if src == dst:
        return None
    allowed = MAY_IMPORT.get(src, frozenset())
    if dst in allowed:
        return None
    rule = "only " + ", ".join(sorted(allowed)) if allowed else "nothing of ours"
    return f"imports {target}; `{src}` may import {rule}"


def module_graph(modules: dict[str, Module]) -> tuple[nx.DiGraph, list[Violation]]:
    """The import graph (every import, lazy ones included: a lazy import that breaks a cycle is still a cycle)."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(modules)
    violations: list[Violation] = []
    for module in modules.values():
        for imp in imports_of(module, modules):
            graph.add_edge(module.name, imp.target, line=imp.line)
            if imp.lazy:
                violations.append(Violation("lazy", module.name, imp.line, f"imports {imp.target} {imp.lazy}"))
            reason = _layer_violation(module.name, imp.target)
            if reason:
                violations.append(Violation("layer", module.name, imp.line, reason))
    return graph, violations


def cycles(graph: nx.DiGraph) -> list[Violation]:
    """One violation per strongly connected group of modules, showing one loop through it."""
    found: list[Violation] = []
    for group in nx.strongly_connected_components(graph):
        if len(group) < 2:
            continue
        start = min(group)
        loop = nx.find_cycle(graph.subgraph(group), source=start)
        path = " -> ".join([*(edge[0] for edge in loop), loop[-1][1]])
        others = "" if len(group) == len(loop) else f" (the group has {len(group)} modules: {', '.join(sorted(group))})"
        found.append(Violation("cycle", start, 0, f"import cycle {path}{others}"))
    return found


def check_tree(root: Path, packages: Iterable[str] = PACKAGES) -> list[Violation]:
    """Every violation of the import rules under `root`, sorted."""
    modules = discover(root, packages)
    graph, violations = module_graph(modules)
    return sorted([*violations, *cycles(graph)])


if __name__ == "__main__":
    for violation in check_tree(Path(__file__).resolve().parents[1]):
        print(violation)
