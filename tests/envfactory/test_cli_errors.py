"""Bad input gets one clear error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port


def envfactory(*args: str, envs: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if envs is not None:
        env["ENVFACTORY_ENVS"] = str(envs)
    return subprocess.run([sys.executable, "-m", "envfactory", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def envs_root(tmp_path: Path, notes_dir: Path) -> Path:
    return notes_dir.parent


def test_unknown_environment(envs_root: Path) -> None:
    assert_one_line_error(envfactory("serve", "nope", envs=envs_root), "unknown environment 'nope'")
    assert_one_line_error(envfactory("verify", "nope", envs=envs_root), "unknown environment 'nope'", "notes")
    assert_one_line_error(envfactory("registry", "show", "nope", envs=envs_root), "nope")


def test_malformed_env_json(envs_root: Path, notes_dir: Path) -> None:
    (notes_dir / "env.json").write_text('{"name": "notes", "tools": [')
    assert_one_line_error(envfactory("serve", str(notes_dir), envs=envs_root), "env.json", "invalid JSON", "line 1")
    spec = {"name": "notes", "domain": "x", "description": "x", "tools": [], "scenarios": ["small"]}
    (notes_dir / "env.json").write_text(json.dumps(spec))
    assert_one_line_error(envfactory("verify", str(notes_dir), envs=envs_root), "env.json", "tools")


def test_scenario_that_violates_the_state_schema(envs_root: Path, notes_dir: Path) -> None:
    path = notes_dir / "scenarios" / "small.json"
    scenario = json.loads(path.read_text())
    del scenario["state"]["notes"]["note_0001"]["title"]
    path.write_text(json.dumps(scenario))
    assert_one_line_error(envfactory("serve", str(notes_dir), envs=envs_root),
                          "scenario 'small'", "notes.note_0001.title", "Field required")


def test_unreachable_server_url(envs_root: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    proc = envfactory("synthesize", "--n", "1", "--url", url, "--out", str(tmp_path / "run"), envs=envs_root)
    assert_one_line_error(proc, url)


def test_catalog_lists_only_verified(envs_root: Path) -> None:
    proc = envfactory("registry", "list", "--json", envs=envs_root)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    assert "never verified" in proc.stderr
    assert_one_line_error(envfactory("registry", "mcp-config", envs=envs_root), "catalog is empty")


async def test_verify_then_list_then_serve_over_http(envs_root: Path) -> None:
    """The happy path through the CLI: verify admits the environment, the catalog lists it, serve hosts it."""
    import anyio
    from mcp import Client

    from tests.conftest import wait_for_port

    verified = envfactory("verify", "notes", envs=envs_root)
    assert verified.returncode == 0 and "verified" in verified.stdout and "6/6" in verified.stdout
    listed = envfactory("registry", "list", "--json", envs=envs_root)
    assert [e["name"] for e in json.loads(listed.stdout)] == ["notes"]
    config = json.loads(envfactory("registry", "mcp-config", "--client", "vscode", envs=envs_root).stdout)
    assert config["servers"]["notes"]["args"] == [str(envs_root / "notes" / "server.py")]

    port = free_port()
    env = {**os.environ, "ENVFACTORY_ENVS": str(envs_root)}
    proc = subprocess.Popen([sys.executable, "-m", "envfactory", "serve", "notes", "--http", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        with anyio.fail_after(20):
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                res = await client.call_tool("create_note", {"title": "served"})
                assert not res.is_error and res.structured_content["note"]["title"] == "served"
    finally:
        proc.terminate()
        proc.wait(5)
