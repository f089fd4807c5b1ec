"""Static policy for env.py: parse it with `ast` (never execute it) and reject anything that reaches past pure logic.

Generated code is untrusted. This check is the first gate: it runs in the verifier's own process, so it must only
read the source. The policy is an allow-list of imports plus a deny-list of the builtins, attributes and helpers
that lead to I/O, dynamic code or the interpreter's internals (the classic sandbox escapes go through dunder
attributes, frames and string evaluation). The worker adds a second layer at run time (guarded builtins).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

STDLIB_MODULES: frozenset[str] = frozenset({
    "re", "math", "datetime", "decimal", "fractions", "itertools", "functools", "collections", "dataclasses",
    "typing", "enum", "string", "json", "copy", "operator", "statistics", "textwrap", "bisect", "heapq",
})
PROJECT_MODULES: frozenset[str] = frozenset({"registry.contract", "registry.envkit"})
"""The project's own modules env.py may import: the contract and its helper kit, exactly (no submodules)."""
ALLOWED_MODULES: frozenset[str] = frozenset({"__future__", "pydantic", *PROJECT_MODULES, *STDLIB_MODULES})
"""Modules env.py may import. Public submodules of these are allowed too, except below the project's modules."""

FORBIDDEN_BUILTINS: frozenset[str] = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "input", "breakpoint", "print",
    "exit", "quit", "help", "memoryview", "__build_class__", "__loader__", "__spec__", "__builtins__",
})
"""Builtins that do I/O, evaluate code or expose namespaces. Shadowing them with a local name is fine."""

FORBIDDEN_IDENTIFIERS: frozenset[str] = frozenset({
    # evaluate strings as code or import by name (pydantic resolves forward references with eval)
    "get_type_hints", "ForwardRef", "ImportString", "create_model", "evaluate_forward_ref",
    # frames, code objects and tracebacks lead back to module globals and the real builtins
    "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals", "f_locals", "f_builtins",
    "f_back", "f_code", "tb_frame", "tb_next", "co_code", "func_globals",
})
"""Names and attributes rejected wherever they appear (as a name, an attribute or an imported name)."""

ALLOWED_DUNDERS: frozenset[str] = frozenset({"__init__", "__name__", "__main__", "__all__", "__slots__", "__doc__",
                                             "__future__", "__post_init__", "__version__"})
NAME_BY_STRING = {"getattr": 1, "setattr": 1, "delattr": 1, "attrgetter": 0, "methodcaller": 0}
"""Callables taking an attribute name as a string, and the position of that argument."""

DYNAMIC_OK = {"setattr"}
"""setattr with a computed name is a common update pattern and cannot read anything; getattr could."""


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def module_allowed(module: str) -> bool:
    if module in ALLOWED_MODULES:
        return True
    parts = module.split(".")
    if any(p.startswith("_") for p in parts[1:]):
        return False  # private submodules (pydantic._internal, json._x) are implementation details
    return any(module.startswith(m + ".") for m in ALLOWED_MODULES if m not in PROJECT_MODULES)


def project_import_allowed(package: str, names: Iterable[str]) -> bool:
    """`from registry import contract, envkit`: a project package may only hand out its allowed modules."""
    return all(f"{package}.{name}" in PROJECT_MODULES for name in names)


def _stored_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names bound in a scope (assignments, loop targets, imports, except/match captures), not in nested scopes."""
    names: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue  # its body is another scope
        elif isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            continue
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _string_annotations(node: ast.AST) -> Iterable[ast.Constant]:
    """String constants in type positions of an annotation: forward references, which pydantic evaluates.

    Literal values and Annotated metadata (Field(description=...)) are data, not types, and are skipped.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, ast.Subscript):
        head = node.value.id if isinstance(node.value, ast.Name) else (
            node.value.attr if isinstance(node.value, ast.Attribute) else "")
        if head == "Literal":
            return
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for arg in args[:1] if head == "Annotated" else args:
            yield from _string_annotations(arg)
    elif isinstance(node, ast.BinOp):
        yield from _string_annotations(node.left)
        yield from _string_annotations(node.right)
    elif isinstance(node, ast.Tuple | ast.List):
        for elt in node.elts:
            yield from _string_annotations(elt)


def _params(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


class _Policy(ast.NodeVisitor):
    """Walks the tree with a stack of scopes so a parameter named `input` is not mistaken for the builtin."""

    def __init__(self, filename: str):
        self.filename = filename
        self.problems: list[str] = []
        self.call_targets: set[int] = set()  # id() of the Name/Attribute nodes that are the callee of a Call
        self.scopes: list[set[str]] = []

    def report(self, node: ast.AST, reason: str) -> None:
        line = getattr(node, "lineno", 0)
        self.problems.append(f"{self.filename}:{line}: {reason}")

    def bound(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    # scopes -------------------------------------------------------------------------------------------------
    def visit_Module(self, node: ast.Module) -> None:
        self.scopes.append(_stored_names(node.body))
        self.generic_visit(node)
        self.scopes.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # Defaults, decorators and annotations are evaluated in the enclosing scope.
        args = node.args
        for expr in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(expr)
        if not isinstance(node, ast.Lambda):
            for dec in node.decorator_list:
                self.visit(dec)
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if a is not None and a.annotation is not None:
                    self.visit_annotation(a.annotation)
            if node.returns is not None:
                self.visit_annotation(node.returns)
            body: list[ast.AST] = list(node.body)
        else:
            body = [node.body]
        declared_global = {n for b in body for s in ast.walk(b) if isinstance(s, ast.Global | ast.Nonlocal)
                           for n in s.names}
        self.scopes.append((_params(args) | _stored_names(body)) - declared_global)
        for stmt in body:
            self.visit(stmt)
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_def_name(node)
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.report(node, "async functions are not allowed (tools are plain synchronous functions)")
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def _check_def_name(self, node: ast.FunctionDef) -> None:
        if node.name in FORBIDDEN_IDENTIFIERS:
            self.report(node, f"defining {node.name!r} is not allowed")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            self.visit(expr)
        self.scopes.append(_stored_names(node.body))
        for stmt in node.body:
            self.visit(stmt)
        self.scopes.pop()

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        self.visit(node.generators[0].iter)  # the first iterable is evaluated outside
        targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        self.scopes.append(targets)
        for i, gen in enumerate(node.generators):
            self.visit(gen.target)
            if i:
                self.visit(gen.iter)
            for cond in gen.ifs:
                self.visit(cond)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scopes.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    # annotations: pydantic evaluates string annotations, so a string there is code -------------------------
    def visit_annotation(self, node: ast.AST) -> None:
        for sub in _string_annotations(node):
            if isinstance(sub.value, str):
                try:
                    parsed = ast.parse(sub.value.strip(), mode="eval")
                except SyntaxError:
                    continue
                for inner in ast.walk(parsed):
                    ast.copy_location(inner, sub)
                self.visit_annotation(parsed.body)
        self.visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        self.visit_annotation(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    # imports ------------------------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not module_allowed(alias.name):
                self.report(node, f"import of {alias.name!r} is not allowed (allowed: pydantic, registry.contract, "
                                  "registry.envkit and a short list of pure stdlib modules)")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.report(node, "relative imports are not allowed")
            return
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.report(node, f"'from {module} import *' is not allowed")
            elif alias.name in FORBIDDEN_IDENTIFIERS or alias.name in FORBIDDEN_BUILTINS:
                self.report(node, f"importing {alias.name!r} is not allowed")
            elif module_allowed(module) or module_allowed(f"{module}.{alias.name}") and module != "registry":
                continue
            elif module == "registry" and project_import_allowed(module, [alias.name]):
                continue
            else:
                self.report(node, f"import from {module!r} is not allowed (allowed: pydantic, registry.contract, "
                                  "registry.envkit and a short list of pure stdlib modules)")

    # names, attributes, calls -------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in FORBIDDEN_IDENTIFIERS:
            self.report(node, f"use of {name!r} is not allowed")
        elif isinstance(node.ctx, ast.Load):
            if name in FORBIDDEN_BUILTINS and not self.bound(name):
                self.report(node, f"use of builtin {name!r} is not allowed")
            elif name in NAME_BY_STRING and not self.bound(name) and id(node) not in self.call_targets:
                self.report(node, f"{name!r} may only be called directly with a constant attribute name")
            elif _is_dunder(name) and name not in ALLOWED_DUNDERS:
                self.report(node, f"use of {name!r} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if _is_dunder(attr) and attr not in ALLOWED_DUNDERS or attr.startswith("__") and not _is_dunder(attr):
            self.report(node, f"access to attribute {attr!r} is not allowed")
        elif attr in FORBIDDEN_IDENTIFIERS:
            self.report(node, f"access to attribute {attr!r} is not allowed")
        elif attr in NAME_BY_STRING and id(node) not in self.call_targets:
            self.report(node, f"{attr!r} may only be called directly with a constant attribute name")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in NAME_BY_STRING and not (isinstance(func, ast.Name) and self.bound(name)):
            self.call_targets.add(id(func))
            pos = NAME_BY_STRING[name]
            names = node.args[pos:] if name == "attrgetter" else node.args[pos:pos + 1]
            if not names:
                self.report(node, f"{name} without a constant attribute name is not allowed")
            for arg in names:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if any(part.startswith("_") for part in arg.value.split(".")):
                        self.report(node, f"{name} of private or dunder attribute {arg.value!r} is not allowed")
                elif name not in DYNAMIC_OK:
                    self.report(node, f"{name} with a computed attribute name is not allowed "
                                      "(use a dict, model_dump() or an explicit if/else)")
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) == 3 and not self.bound("type"):
            self.report(node, "creating classes with type(name, bases, dict) is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _is_dunder(node.value) and node.value not in ALLOWED_DUNDERS:
            self.report(node, f"string {node.value!r} names a dunder attribute; not allowed")

    def visit_Global(self, node: ast.Global) -> None:
        bad = [n for n in node.names if n in FORBIDDEN_BUILTINS]
        if bad:
            self.report(node, f"global declaration of {', '.join(bad)} is not allowed")


def static_problems(source: str, filename: str = "env.py") -> list[str]:
    """Every policy violation in `source` as "env.py:LINE: reason", in line order; empty means it passes."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [f"{filename}:{exc.lineno or 0}: syntax error: {exc.msg}"]
    except ValueError as exc:  # e.g. null bytes in the source
        return [f"{filename}:0: cannot parse: {exc}"]
    policy = _Policy(filename)
    policy.visit(tree)
    unique = list(dict.fromkeys(policy.problems))
    return sorted(unique, key=lambda p: int(p.split(":")[1]) if p.split(":")[1].isdigit() else 0)
