"""The catalog admits only environments whose current files passed, workspace before built-ins; mcp.json entries
really launch the servers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from registry.catalog import Shadowed, get_verified, scan, shadowed, verified_envs
from registry.envdir import (
    BUILTIN_ROOT,
    EnvLoadError,
    admission_root,
    catalog_roots,
    env_names,
    find_env,
    load_env_dir,
    workspace_root,
)
from registry.mcpconfig import mcp_config
from registry.spec import CHECK_ORDER, CheckResult, VerificationReport
from tests.conftest import NOTES


def write_report(env_dir: Path, passed: bool) -> None:
    env = load_env_dir(env_dir)
    report = VerificationReport(
        env=env.name, version=env.spec.version, passed=passed, env_hash=env.content_hash(), seconds=0.1,
        checks=[CheckResult(name=n, passed=passed or n != "behaviour") for n in CHECK_ORDER])
    (env_dir / "report.json").write_text(report.model_dump_json(indent=2))


def test_catalog_admits_only_current_passing_reports(notes_dir: Path) -> None:
    root = notes_dir.parent
    verified, rejected = scan(root)
    assert verified == [] and "never verified" in rejected[0].reason

    write_report(notes_dir, passed=False)
    verified, rejected = scan(root)
    assert verified == [] and "verification failed" in rejected[0].reason and "behaviour" in rejected[0].reason

    write_report(notes_dir, passed=True)
    assert [e.name for e in verified_envs(root)] == ["notes"]

    with (notes_dir / "env.py").open("a") as f:  # any change after verification takes it out of the catalog
        f.write("\n# edited\n")
    verified, rejected = scan(root)
    assert verified == [] and "changed since it was verified" in rejected[0].reason


def test_mcp_config_formats(notes_dir: Path) -> None:
    env = load_env_dir(notes_dir)
    claude = mcp_config([env], "claude", python="/usr/bin/python3")
    assert claude == {"mcpServers": {"notes": {"command": "/usr/bin/python3",
                                               "args": [str(notes_dir / "server.py")]}}}
    vscode = mcp_config([env], "vscode", python="/usr/bin/python3")
    assert vscode["servers"]["notes"]["type"] == "stdio"
    http = mcp_config([env], "cursor", http_base="http://127.0.0.1:8765")
    assert http == {"mcpServers": {"notes": {"url": "http://127.0.0.1:8765/envs/notes/mcp"}}}
    templ = mcp_config([env], "vscode", http_base="http://h:1/{name}/mcp")
    assert templ == {"servers": {"notes": {"type": "http", "url": "http://h:1/notes/mcp"}}}


async def test_exported_stdio_entry_launches_from_any_directory(notes_dir: Path, tmp_path: Path) -> None:
    entry = mcp_config([load_env_dir(notes_dir)], "claude")["mcpServers"]["notes"]
    assert Path(entry["command"]).is_absolute() and Path(entry["args"][0]).is_absolute()
    json.dumps(entry)  # serialisable as written to mcp.json
    params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=str(tmp_path),
                                   env={"PATH": os.environ.get("PATH", "")})
    with anyio.fail_after(30):
        async with Client(params) as client:
            assert len((await client.list_tools()).tools) == 4


# --- where the catalog looks: the workspace, then the built-ins ------------------------------------------------------

@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    monkeypatch.setenv("ENVFACTORY_HOME", str(path))
    monkeypatch.delenv("ENVFACTORY_ENVS", raising=False)
    return path


def test_the_catalog_is_the_workspace_then_the_built_ins(home: Path) -> None:
    assert catalog_roots() == [home, BUILTIN_ROOT]
    assert env_names() == ["calendar", "shop", "travel"]
    shutil.copytree(NOTES, home / "notes")
    write_report(home / "notes", passed=True)
    assert [e.name for e in verified_envs()] == ["calendar", "notes", "shop", "travel"]
    assert find_env("notes").path == home / "notes" and find_env("shop").path == BUILTIN_ROOT / "shop"
    assert admission_root() == home


def test_a_workspace_environment_shadows_the_built_in_of_that_name(home: Path) -> None:
    shutil.copytree(BUILTIN_ROOT / "calendar", home / "calendar", ignore=shutil.ignore_patterns("__pycache__"))
    assert get_verified("calendar").path == home / "calendar"  # same files, so its report is current
    assert shadowed() == [Shadowed(name="calendar", path=str(BUILTIN_ROOT / "calendar"), by=str(home / "calendar"))]
    with (home / "calendar" / "env.py").open("a") as f:
        f.write("\n# edited\n")
    # a name means one directory: the changed workspace copy is out of the catalog, the built-in does not step in
    with pytest.raises(EnvLoadError, match="changed since it was verified"):
        get_verified("calendar")
    verified, rejected = scan()
    assert [e.name for e in verified] == ["shop", "travel"]
    assert [(r.name, r.path) for r in rejected] == [("calendar", str(home / "calendar"))]


def test_default_workspace_is_envs_of_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVFACTORY_HOME", raising=False)
    monkeypatch.delenv("ENVFACTORY_ENVS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert workspace_root() == tmp_path.resolve() / "envs" and admission_root() == tmp_path.resolve() / "envs"
    assert catalog_roots() == [tmp_path.resolve() / "envs", BUILTIN_ROOT]


def test_envfactory_envs_pins_the_catalog_to_one_directory(home: Path, notes_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVFACTORY_ENVS", str(notes_dir.parent))
    assert catalog_roots() == [notes_dir.parent] and workspace_root() == notes_dir.parent
    assert env_names() == ["notes"] and admission_root() == notes_dir.parent


def test_build_never_admits_into_the_built_ins(home: Path) -> None:
    with pytest.raises(EnvLoadError, match="built-in environments"):
        admission_root(BUILTIN_ROOT)
    assert admission_root(home / "elsewhere") == home / "elsewhere"
