"""The catalog admits only environments whose current files passed; mcp.json entries really launch the servers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from registry.catalog import scan, verified_envs
from registry.envdir import load_env_dir
from registry.mcpconfig import mcp_config
from registry.spec import CHECK_ORDER, CheckResult, VerificationReport


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
