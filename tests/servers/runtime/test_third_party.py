"""Third-party clients: the MCP Inspector CLI (TypeScript SDK, 2025-11-25 protocol) against our servers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from registry.envdir import env_dirs
from tests.conftest import NOTES, ROOT, HttpServer

RUN = ROOT.parent / "shared" / "tools" / "mcp-conformance" / "run"
if not RUN.exists() or shutil.which("npm") is None:
    pytest.skip("needs ../shared/tools and npm (present on developer machines and CI)", allow_module_level=True)


def inspector(*args: str) -> dict:
    proc = subprocess.run([str(RUN), "--inspector", "--cli", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("server", [NOTES / "server.py", *(p / "server.py" for p in env_dirs().values())],
                         ids=lambda p: Path(p).parent.name)
def test_inspector_lists_tools_with_output_schemas_over_stdio(server: Path) -> None:
    listing = inspector(sys.executable, str(server), "--method", "tools/list")
    spec = json.loads((server.parent / "env.json").read_text())
    assert [t["name"] for t in listing["tools"]] == [t["name"] for t in spec["tools"]]
    assert all(t["outputSchema"]["type"] == "object" for t in listing["tools"])
    # a read tool that needs no arguments answers with structured content matching its output schema
    tool = next(t for t in spec["tools"]
                if t["annotations"].get("readOnlyHint") and not t["input_schema"].get("required"))
    res = inspector(sys.executable, str(server), "--method", "tools/call", "--tool-name", tool["name"])
    assert res["isError"] is False and isinstance(res["structuredContent"], dict)
    jsonschema.validate(res["structuredContent"], tool["output_schema"])


def test_inspector_calls_a_tool_over_stdio_and_http() -> None:
    res = inspector(sys.executable, str(NOTES / "server.py"), "--method", "tools/call",
                    "--tool-name", "create_note", "--tool-arg", "title=from inspector")
    assert res["isError"] is False and res["structuredContent"]["note"]["title"] == "from inspector"
    assert len(res["_meta"]["envfactory/state_hash"]) == 64
    server = HttpServer([sys.executable, str(NOTES / "server.py")])
    try:
        res = inspector(server.url, "--transport", "http", "--method", "tools/call", "--tool-name", "get_note",
                        "--tool-arg", "note_id=note_0404")
        assert res["isError"] is True and "No note with id 'note_0404'" in res["content"][0]["text"]
    finally:
        server.stop()


def test_conformance_suite_passes_with_the_generic_baseline(notes_http: HttpServer) -> None:
    proc = subprocess.run([str(RUN), notes_http.url, "baseline-generic-env.yml"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Baseline check passed" in proc.stdout
