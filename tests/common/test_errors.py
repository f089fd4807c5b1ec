"""Every exception class the project defines derives from the one root, `common.errors.EnvfactoryError`.

The walk imports every module of the project's packages (entry-point `__main__` modules excepted: they run on
import) and looks at every class defined there, nested classes included, so a new exception class that derives from
`Exception` (or a library's error) alone fails here.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from common.errors import EnvfactoryError
from servers.farm.app import FarmConfigError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "registry", "servers", "synthesizer", "envfactory")


def module_names() -> list[str]:
    """Dotted names of every .py file under the packages (`pkg/__init__.py` is `pkg`), `__main__` modules excepted."""
    names = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            if "__pycache__" in rel.parts or rel.name == "__main__":
                continue
            names.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return names


def classes_of(owner: ModuleType | type, module: str) -> Iterator[type]:
    """Classes defined in `module`: those bound in `owner`'s namespace, then the classes nested in each."""
    for value in vars(owner).values():
        if inspect.isclass(value) and value.__module__ == module and value is not owner:
            yield value
            yield from classes_of(value, module)


@functools.cache
def project_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in module_names():
        for cls in classes_of(importlib.import_module(name), name):
            if issubclass(cls, BaseException):
                found[f"{name}.{cls.__qualname__}"] = cls
    return found


def test_every_project_exception_derives_from_the_root() -> None:
    found = project_exceptions()
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, EnvfactoryError))
    assert not strays, "derive these from common.errors.EnvfactoryError (directly or through a domain base): " + \
        ", ".join(strays)


@pytest.mark.parametrize("name", ["LLMError", "ToolError", "EnvLoadError", "FarmError", "SynthError", "CLIError"])
def test_the_walk_sees_the_domain_bases(name: str) -> None:
    """Guards the walk itself: were it to find nothing, the test above would pass vacuously."""
    assert name in {cls.__name__ for cls in project_exceptions().values()}


BUILTIN_EXCEPTIONS = frozenset(n for n, v in vars(builtins).items()
                               if inspect.isclass(v) and issubclass(v, BaseException))
EXCEPTION_SUFFIXES = ("Error", "Exception", "Failure", "Exit", "Interrupt", "Warning")


def looks_like_exception(node: ast.ClassDef) -> bool:
    names = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
    return any(n in BUILTIN_EXCEPTIONS or n.endswith(EXCEPTION_SUFFIXES) for n in names)


def test_no_exception_class_hides_from_the_walk() -> None:
    """An exception class inside a function or a `__main__` module is invisible to the import walk."""
    hidden = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            scopes = [tree] if path.name == "__main__.py" else [
                n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
            hidden += sorted({f"{path.relative_to(ROOT)}:{n.lineno} {n.name}" for scope in scopes
                              for n in ast.walk(scope) if isinstance(n, ast.ClassDef) and looks_like_exception(n)})
    assert not hidden, "define exception classes at module level: " + ", ".join(hidden)


def test_library_errors_keep_their_own_bases() -> None:
    """Deriving from the root adds a base; a class that was a ValueError (say) still is one."""
    assert issubclass(FarmConfigError, ValueError) and issubclass(FarmConfigError, EnvfactoryError)
