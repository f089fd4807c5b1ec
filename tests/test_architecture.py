"""The import rules of docs/architecture.md hold on the real tree, and the checker catches each kind of violation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.archcheck import PACKAGES, Violation, check_tree

ROOT = Path(__file__).resolve().parents[1]


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (path -> source) under `root`, with an `__init__.py` in every folder of a package."""
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        for parent in path.relative_to(root).parents:
            init = root / parent / "__init__.py"
            if parent != Path(".") and parent.parts[0] != "environments" and not init.exists():
                init.write_text("", encoding="utf-8")
    return root


def kinds(violations: list[Violation], kind: str) -> list[Violation]:
    return [v for v in violations if v.kind == kind]


# --- the real tree -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real() -> list[Violation]:
    return check_tree(ROOT)


def test_real_tree_has_every_package() -> None:
    assert all((ROOT / pkg).is_dir() for pkg in PACKAGES)


@pytest.mark.parametrize("kind", ["layer", "cycle", "lazy"])
def test_real_tree_follows_the_rules(real: list[Violation], kind: str) -> None:
    found = kinds(real, kind)
    assert not found, f"{len(found)} {kind} violation(s):\n" + "\n".join(map(str, found))


# --- a clean synthetic tree: what is allowed -----------------------------------------------------------------------

CLEAN = {
    "common/files.py": "import json\n",
    "common/naming.py": "from common.files import json\nfrom . import files\n",
    "registry/contract.py": "from common.naming import files\n",
    "registry/envkit.py": "from registry import contract\n",
    "registry/catalog.py": "from .contract import files\nimport registry.envkit as kit\n",
    "servers/runtime/mcp_server.py": "from registry.catalog import kit\n",
    "servers/farm/app.py": """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import numpy  # third-party: may be lazy
        def serve():
            import uvicorn
            return uvicorn
        try:
            import yaml
        except ImportError:
            yaml = None
        class App:
            from servers.runtime import mcp_server  # a class body runs at import time: not lazy
    """,
    "synthesizer/discovery/sources.py": "from registry.catalog import kit\nfrom common import files\n",
    "synthesizer/run.py": "from synthesizer.discovery import sources\n",
    "environments/shop/env.py": "from pydantic import BaseModel\nfrom registry.contract import files\n",
    "environments/shop/server.py": "from servers.runtime.mcp_server import kit\n",
    "environments/travel/env.py": "from registry.envkit import contract\n",
    "envfactory/cli/app.py": "import servers.farm.app\nimport synthesizer.run\nfrom environments.shop import env\n",
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert check_tree(make_tree(tmp_path, CLEAN)) == []


def test_from_package_import_submodule_is_an_edge_to_the_submodule(tmp_path: Path) -> None:
    """`pkg/__init__` importing `pkg.a` and `pkg.a` doing `from pkg import b` is no cycle: `b` is a module."""
    tree = make_tree(tmp_path, {
        "synthesizer/plan/__init__.py": "from synthesizer.plan.a import X\n",
        "synthesizer/plan/a.py": "from synthesizer.plan import b\nX = b\n",
        "synthesizer/plan/b.py": "Y = 1\n",
    })
    assert check_tree(tree) == []


# --- each kind of violation is reported ----------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "source", "module"), [
    ("common/llm.py", "from synthesizer.errors import SynthError\n", "common.llm"),
    ("common/llm.py", "import registry.spec\n", "common.llm"),
    ("registry/spec.py", "from servers.runtime import runtime\n", "registry.spec"),
    ("registry/spec.py", "from synthesizer import run\n", "registry.spec"),
    ("synthesizer/run.py", "from servers.farm.app import App\n", "synthesizer.run"),
    ("synthesizer/run.py", "import servers\n", "synthesizer.run"),
    ("servers/farm/app.py", "from synthesizer.discovery.sources import x\n", "servers.farm.app"),
    ("servers/farm/app.py", "from envfactory import cli\n", "servers.farm.app"),
    ("servers/farm/app.py", "from environments.shop import env\n", "servers.farm.app"),
    ("environments/shop/env.py", "from registry.spec import EnvSpec\n", "environments.shop.env"),
    ("environments/shop/env.py", "from servers.runtime.runtime import x\n", "environments.shop.env"),
    ("environments/shop/env.py", "from common import files\n", "environments.shop.env"),
    ("environments/shop/server.py", "from servers.farm import app\n", "environments.shop.server"),
])
def test_a_cross_layer_import_is_reported(tmp_path: Path, path: str, source: str, module: str) -> None:
    tree = make_tree(tmp_path, {**CLEAN, path: source})
    found = check_tree(tree)
    assert [(v.kind, v.module, v.line) for v in found] == [("layer", module, 1)], found


def test_a_direct_cycle_is_reported(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "synthesizer/a.py": "from synthesizer.b import y\nx = 1\n",
        "synthesizer/b.py": "from synthesizer.a import x\ny = 2\n",
    })
    (cycle,) = check_tree(tree)
    assert cycle.kind == "cycle"
    assert "synthesizer.a -> synthesizer.b -> synthesizer.a" in cycle.message


def test_a_longer_cycle_through_relative_imports_is_reported(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "servers/verify/a.py": "from . import b\n",
        "servers/verify/b.py": "from .c import z\n",
        "servers/verify/c.py": "from ..verify.a import x\n",
    })
    (cycle,) = check_tree(tree)
    assert cycle.kind == "cycle"
    assert cycle.message.count("->") == 3


def test_a_cycle_through_a_package_reexport_is_reported(tmp_path: Path) -> None:
    """`from pkg import name` where `name` is defined in `pkg/__init__` is an edge to the package itself."""
    tree = make_tree(tmp_path, {
        "servers/factory/importers/__init__.py": "from .openapi import import_openapi\ndef env_name(): ...\n",
        "servers/factory/importers/openapi.py": "from . import env_name\ndef import_openapi(): ...\n",
    })
    (cycle,) = check_tree(tree)
    assert cycle.kind == "cycle"
    assert "servers.factory.importers -> servers.factory.importers.openapi" in cycle.message


@pytest.mark.parametrize(("source", "why"), [
    ("def f():\n    from registry.spec import EnvSpec\n", "inside function f()"),
    ("async def f():\n    import registry.spec\n", "inside function f()"),
    ("class C:\n    def m(self):\n        from . import other\n", "inside function m()"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from registry.spec import EnvSpec\n",
     "under `if TYPE_CHECKING:`"),
    ("import typing\nif typing.TYPE_CHECKING:\n    from synthesizer import other\n", "under `if TYPE_CHECKING:`"),
    ("try:\n    from registry.spec import EnvSpec\nexcept ImportError:\n    EnvSpec = None\n", "inside a try block"),
    ("try:\n    pass\nexcept Exception:\n    from synthesizer.other import x\n", "inside a try block"),
    ("import contextlib\nwith contextlib.suppress(ImportError):\n    import registry.spec\n", "with suppress(...)"),
])
def test_a_lazy_import_is_reported(tmp_path: Path, source: str, why: str) -> None:
    tree = make_tree(tmp_path, {
        "registry/spec.py": "X = 1\n",
        "synthesizer/other.py": "x = 1\n",
        "synthesizer/lazy.py": source,
    })
    found = check_tree(tree)
    assert [v.kind for v in found] == ["lazy"], found
    assert found[0].module == "synthesizer.lazy"
    assert why in found[0].message


def test_a_lazy_import_that_hides_a_cycle_reports_both(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "servers/runtime/a.py": "from servers.runtime.b import y\nx = 1\n",
        "servers/runtime/b.py": "def y():\n    from servers.runtime.a import x\n    return x\n",
    })
    assert sorted(v.kind for v in check_tree(tree)) == ["cycle", "lazy"]
