"""The static policy for env.py: what generated code may import and touch, checked without executing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers.runtime.policy import ALLOWED_MODULES, PROJECT_MODULES, static_problems
from servers.runtime.sandbox import guarded_import

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

ALLOWED = {
    "pydantic and registry.contract": "from pydantic import BaseModel, Field\nfrom registry.contract import EnvState",
    "registry contract module": "from registry import contract\nimport registry.contract",
    "registry envkit helpers": "from registry.envkit import Record, key, paginate\nfrom registry import envkit\n"
                               "import registry.envkit\nfrom registry import contract, envkit",
    "pydantic submodule": "from pydantic.fields import FieldInfo\nimport pydantic",
    "stdlib allow-list": "import re, math, json\nfrom datetime import datetime, timedelta\nfrom collections.abc import "
                         "Iterable\nfrom decimal import Decimal\nfrom __future__ import annotations",
    "parameter shadowing a builtin": "def search(state, input: str, open: bool = False):\n    return input, open",
    "constant getattr": "def f(x):\n    return getattr(x, 'title', None)",
    "computed setattr": "def update(note, field, value):\n    setattr(note, field, value)",
    "attrgetter on a field": "from operator import attrgetter\nkey = attrgetter('created_at')",
    "super().__init__": "class A:\n    def __init__(self):\n        super().__init__()\n"
                        "        self.n = type(self).__name__",
    "main guard": "if __name__ == '__main__':\n    pass",
    "string forward reference": "from pydantic import BaseModel\nclass A(BaseModel):\n    child: 'A | None' = None",
}

FORBIDDEN = {
    "import os": ("import os", "'os'"),
    "import subprocess": ("import subprocess", "'subprocess'"),
    "import socket": ("import socket", "'socket'"),
    "from os import path": ("from os import path", "'os'"),
    "import importlib": ("import importlib", "'importlib'"),
    "import time": ("import time", "'time'"),
    "import random": ("from random import choice", "'random'"),
    "other registry module": ("from registry import envdir", "'registry'"),
    "other registry module by path": ("from registry.envdir import load_env_dir", "'registry.envdir'"),
    "import of another registry module": ("import registry.spec", "'registry.spec'"),
    "the registry package": ("import registry", "'registry'"),
    "an allowed and a refused module": ("from registry import envkit, catalog", "'registry'"),
    "below envkit": ("from registry.envkit.sub import x", "'registry.envkit.sub'"),
    "below contract": ("import registry.contract.sub", "'registry.contract.sub'"),
    "private pydantic": ("from pydantic._internal import _repr", "pydantic._internal"),
    "relative import": ("from . import x", "relative"),
    "__import__": ("m = __import__('os')", "'__import__'"),
    "eval": ("x = eval('1 + 1')", "'eval'"),
    "exec": ("exec('x = 1')", "'exec'"),
    "compile": ("c = compile('1', 'f', 'eval')", "'compile'"),
    "open": ("def f():\n    return open('/etc/passwd').read()", "'open'"),
    "open as a value": ("f = open", "'open'"),
    "globals": ("g = globals()", "'globals'"),
    "print": ("print('debug')", "'print'"),
    "dunder attribute": ("def f(x):\n    return x.__class__.__subclasses__()", "'__class__'"),
    "getattr dunder": ("def f(x):\n    return getattr(x, '__globals__')", "__globals__"),
    "getattr computed": ("def f(x, name):\n    return getattr(x, name)", "computed"),
    "getattr passed around": ("g = getattr", "'getattr'"),
    "frame access": ("g = (i for i in [])\nf = g.gi_frame.f_globals", "gi_frame"),
    "dunder string key": ("def f(d):\n    return d['__builtins__']", "__builtins__"),
    "eval in a string annotation": ("class A:\n    x: \"__import__('os').system('id')\"", "'__import__'"),
    "create_model": ("from pydantic import create_model", "create_model"),
    "ImportString": ("import pydantic\nT = pydantic.ImportString", "ImportString"),
    "three-argument type": ("A = type('A', (), {})", "type(name, bases, dict)"),
    "async tool": ("async def f(state):\n    return {}", "async"),
}


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed_code_passes(source: str) -> None:
    assert static_problems(source, "env.py") == []


@pytest.mark.parametrize(("source", "needle"), FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_forbidden_code_fails_with_line_and_reason(source: str, needle: str) -> None:
    problems = static_problems(source, "env.py")
    assert problems, f"not rejected: {source!r}"
    assert all(p.startswith("env.py:") and p.split(":")[1].isdigit() for p in problems)
    assert any(needle in p for p in problems), problems


def test_problem_names_the_right_line() -> None:
    problems = static_problems("import json\n\n\nimport os\n", "env.py")
    assert problems == [p for p in problems if p.startswith("env.py:4:")] and problems


def test_syntax_error_is_a_problem_with_its_line() -> None:
    problems = static_problems("x = 1\ndef broken(:\n", "env.py")
    assert len(problems) == 1 and problems[0].startswith("env.py:2:") and "syntax" in problems[0]


def test_fixture_and_catalog_envs_pass() -> None:
    catalog = sorted((FIXTURES.parent.parent / "environments").glob("*/env.py"))
    paths = [FIXTURES / "envs" / "notes" / "env.py", *catalog]
    assert len(paths) >= 4
    for path in paths:
        assert static_problems(path.read_text(encoding="utf-8"), "env.py") == [], path


def test_allowed_modules_is_the_documented_list() -> None:
    assert {"pydantic", "registry.contract", "re", "datetime", "json", "heapq", "__future__"} <= ALLOWED_MODULES
    assert not {"os", "sys", "time", "random", "uuid", "socket", "subprocess", "threading"} & ALLOWED_MODULES


def test_the_project_modules_env_code_may_import_are_exactly_the_contract_and_its_kit() -> None:
    assert {"registry.contract", "registry.envkit"} == PROJECT_MODULES
    assert {m for m in ALLOWED_MODULES if m.split(".")[0] in ("registry", "servers", "common", "synthesizer")} == {
        "registry.contract", "registry.envkit"}


@pytest.mark.parametrize(("name", "fromlist"), [("registry.envkit", ("Record",)), ("registry", ("envkit",)),
                                                ("registry", ("contract", "envkit")), ("registry.envkit", None)])
def test_guarded_import_admits_the_kit_at_run_time(name: str, fromlist: tuple[str, ...] | None) -> None:
    assert guarded_import(name, fromlist=fromlist) is not None


@pytest.mark.parametrize(("name", "fromlist"), [("registry", ("envdir",)), ("registry", ("envkit", "envdir")),
                                                ("registry.envdir", ("EnvDir",)), ("registry", None),
                                                ("registry", ())])
def test_guarded_import_refuses_other_registry_modules_at_run_time(name: str, fromlist: tuple[str, ...] | None) -> None:
    with pytest.raises(ImportError):
        guarded_import(name, fromlist=fromlist)
