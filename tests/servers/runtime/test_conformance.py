"""The official MCP conformance suite and the Inspector CLI against the farm, over real HTTP (uvicorn on loopback).

* The conformance fixture (tests/fixtures/conformance_server.py) passes the full suite with no baseline, stand-alone
  and mounted in the farm at /envs/conformance/mcp: the farm's mounting, lifespan, middleware and security settings
  are protocol-correct.
* Every catalog environment mounted in the farm passes the suite with the generic baseline.
* The Inspector CLI (a third-party TypeScript client) lists and calls tools on the farm.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import uvicorn

from registry.catalog import verified_envs
from registry.envdir import EnvDir, load_env_dir
from registry.wire import META_EPISODE
from servers.farm.episodes import EpisodeManager
from tests.conftest import NOTES, ROOT, free_port
from tests.fixtures.conformance_server import build_conformance_server, conformance_app

RUN = ROOT.parent / "shared" / "tools" / "mcp-conformance" / "run"
if not RUN.exists() or shutil.which("npm") is None:
    pytest.skip("needs ../shared/tools and npm (present on developer machines and CI)", allow_module_level=True)

# logging, sampling and resources/subscribe are what the 2025-11-25 suite scores, and deprecated at 2026-07-28
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

GENERIC_BASELINE = "baseline-generic-env.yml"
CATALOG = sorted(env.name for env in verified_envs())


class Served:
    """An ASGI app served by a real uvicorn on a free loopback port, in a background thread of this process."""

    def __init__(self, app: Any):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port} (see the log above)")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class SuiteRun:
    returncode: int
    stdout: str
    stderr: str

    def failing(self) -> list[str]:
        """Scenarios the summary marks as failed (✗)."""
        summary = self.stdout.rpartition("=== SUMMARY ===")[2]
        return re.findall(r"^✗ ([\w-]+):", summary, flags=re.MULTILINE)

    def explain(self) -> str:
        return (f"exit {self.returncode}; failing scenarios: {self.failing()}\n"
                f"{self.stdout[-4000:]}\n{self.stderr[-2000:]}")


def conformance(url: str, baseline: str | None = None) -> SuiteRun:
    argv = [str(RUN), url, *([baseline] if baseline else [])]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    return SuiteRun(proc.returncode, proc.stdout, proc.stderr)


def inspector(*args: str) -> dict[str, Any]:
    proc = subprocess.run([str(RUN), "--inspector", "--cli", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def farm_envs() -> dict[str, EnvDir]:
    envs = {env.name: env for env in verified_envs()}
    envs.setdefault("notes", load_env_dir(NOTES))
    return envs


@pytest.fixture(scope="module")
def farm(farm_envs: dict[str, EnvDir]) -> Iterator[Served]:
    """One farm hosting every catalog environment, the notes fixture env, and the conformance fixture."""
    from servers.farm.app import FarmSettings, build_farm_app, make_backend

    settings = FarmSettings()  # loopback, no token, the default backend (in-process for workers=0)
    manager = EpisodeManager(farm_envs, make_backend(farm_envs, settings.workers), settings.limits)
    app = build_farm_app(farm_envs, manager, settings, extra_servers={"conformance": build_conformance_server()})
    served = Served(app)
    yield served
    served.stop()


def test_fixture_passes_the_full_suite_standalone() -> None:
    """The reference point for the mounted run: the fixture itself is complete and correct."""
    served = Served(conformance_app())
    try:
        run = conformance(f"{served.base}/mcp")
    finally:
        served.stop()
    assert run.returncode == 0, run.explain()
    assert "Total: 44 passed, 0 failed" in run.stdout, run.explain()


def test_fixture_resumes_a_closed_sse_stream_standalone() -> None:
    """SEP-1699 polling end to end, which the suite cannot reach: its server-sse-polling probe sends
    `MCP-Protocol-Version: 2025-03-26`, and the SDK primes and closes streams only for 2025-11-25 and later, so the
    suite reports two warnings (no priming event, no retry field) and no failure."""
    served = Served(conformance_app())
    accept = {"Accept": "application/json, text/event-stream"}
    try:
        with httpx2.Client(base_url=served.base, headers=accept, timeout=10) as http:
            init = http.post("/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            assert init.status_code == 200, init.text
            session = {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            call = http.post("/mcp", headers=session, json={"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                                            "params": {"name": "test_reconnection"}})
            # the stream closes after the priming event (an id, empty data, the retry hint), before the result
            assert call.headers["content-type"].startswith("text/event-stream")
            fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                          for line in call.text.splitlines() if line)
            assert fields.get("data") == "" and fields.get("retry") == "500" and fields.get("id"), call.text
            resumed: dict[str, Any] = {}
            with http.stream("GET", "/mcp", headers={**session, "last-event-id": fields["id"],
                                                     "Accept": "text/event-stream"}) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: ") and line[6:].strip():
                        resumed = json.loads(line[6:])
                        break
    finally:
        served.stop()
    assert resumed["id"] == 7 and resumed["result"]["content"][0]["text"].startswith("Reconnection test"), resumed


def test_fixture_mounted_in_the_farm_passes_the_full_suite(farm: Served) -> None:
    run = conformance(f"{farm.base}/envs/conformance/mcp")
    assert run.returncode == 0, run.explain()
    assert "Total: 44 passed, 0 failed" in run.stdout, run.explain()


@pytest.mark.parametrize("name", [*CATALOG, "notes"])
def test_farm_env_passes_the_suite_with_the_generic_baseline(farm: Served, name: str) -> None:
    run = conformance(f"{farm.base}/envs/{name}/mcp", GENERIC_BASELINE)
    assert run.returncode == 0, run.explain()
    assert "Baseline check passed" in run.stdout, run.explain()


def test_inspector_lists_and_calls_tools_on_the_farm(farm: Served, farm_envs: dict[str, EnvDir]) -> None:
    for name in [*CATALOG, "notes"]:
        url = f"{farm.base}/envs/{name}/mcp"
        spec = farm_envs[name].spec
        listing = inspector(url, "--transport", "http", "--method", "tools/list")
        assert [t["name"] for t in listing["tools"]] == [t.name for t in spec.tools], name
        assert all(t["outputSchema"]["type"] == "object" for t in listing["tools"]), name
        # a read tool without required arguments answers with structured content
        tool = next(t for t in spec.tools if t.annotations.read_only_hint and not t.input_schema.get("required"))
        res = inspector(url, "--transport", "http", "--method", "tools/call", "--tool-name", tool.name)
        assert res["isError"] is False and isinstance(res["structuredContent"], dict), (name, res)

    # a write in a named episode of the notes env, then an error result (the CLI exits 0 on isError)
    url = f"{farm.base}/envs/notes/mcp"
    episode = f"{META_EPISODE}=ep_inspector"
    res = inspector(url, "--transport", "http", "--method", "tools/call", "--tool-name", "create_note",
                    "--tool-arg", "title=from inspector", "--tool-metadata", episode)
    assert res["isError"] is False and res["structuredContent"]["note"]["title"] == "from inspector", res
    res = inspector(url, "--transport", "http", "--method", "tools/call", "--tool-name", "get_note",
                    "--tool-arg", "note_id=note_0404", "--tool-metadata", episode)
    assert res["isError"] is True and "No note with id 'note_0404'" in res["content"][0]["text"], res

    # and the conformance fixture mounted beside the environments
    url = f"{farm.base}/envs/conformance/mcp"
    res = inspector(url, "--transport", "http", "--method", "tools/call", "--tool-name", "test_simple_text")
    assert not res.get("isError") and res["content"] == [
        {"type": "text", "text": "This is a simple text response for testing."}], res
