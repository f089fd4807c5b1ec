"""The thin rollout client (synthesizer.discovery.fastclient) against real servers: parity with the SDK client, errors,
byte-identical synthesis over HTTP, and `synthesize --farm` against the real farm."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import typer
from mcp import Client
from typer.testing import CliRunner

from envfactory.cli import export as export_cli
from envfactory.cli import synthesize as cli
from synthesizer.discovery.fastclient import (
    ConnectionFailure,
    HTTPStatusFailure,
    RolloutClient,
    RPCError,
    ToolResult,
)
from synthesizer.discovery.sources import connect_all, resolve_sources, sources_from_farm_listing
from synthesizer.errors import SynthError
from synthesizer.run import TRAJECTORIES, SynthConfig, synthesize
from tests.conftest import ROOT, HttpServer, free_port, server_log, wait_for_port

STATE_HASH = "envfactory/state_hash"
FARM = ROOT / "servers" / "farm" / "app.py"

# one episode: read, write, read back, delete, read the deleted id (an error result), violate the schema
SEQUENCE: list[tuple[str, dict[str, Any]]] = [
    ("list_notes", {}),
    ("create_note", {"title": "Shopping", "body": "milk"}),
    ("list_notes", {"limit": 5}),
    ("get_note", {"note_id": "note_0001"}),
    ("delete_note", {"note_id": "note_0001"}),
    ("get_note", {"note_id": "note_0001"}),
    ("get_note", {"id": "note_0002"}),
    ("create_note", {"title": ""}),
]


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def _view(result: Any) -> tuple[bool, Any, str | None, str]:
    return bool(result.is_error), result.structured_content, (result.meta or {}).get(STATE_HASH), _text(result)


async def test_thin_client_matches_sdk_client(notes_http: HttpServer) -> None:
    meta_sdk = {"envfactory/episode": "parity-sdk", "envfactory/scenario": "small"}
    meta_fast = {"envfactory/episode": "parity-fast", "envfactory/scenario": "small"}
    async with Client(notes_http.url) as sdk, RolloutClient(notes_http.url) as fast:
        for tool, args in SEQUENCE:
            a = await sdk.call_tool(tool, args, meta=meta_sdk)
            b = await fast.call_tool(tool, args, meta=meta_fast)
            assert isinstance(b, ToolResult)
            assert _view(a) == _view(b), (tool, args)
            assert b.meta and b.meta["envfactory/episode"] == "parity-fast"
        listed = await fast.list_tools()
        assert [t["name"] for t in listed.tools] == [t.name for t in (await sdk.list_tools()).tools]
        assert listed.next_cursor is None


async def test_error_results_carry_the_message(notes_http: HttpServer) -> None:
    meta = {"envfactory/episode": "errors", "envfactory/scenario": "small"}
    async with httpx2.AsyncClient() as http:
        fast = RolloutClient(notes_http.url, http=http)
        missing = await fast.call_tool("get_note", {"note_id": "note_9999"}, meta=meta)
        assert missing.is_error and "note_9999" in missing.text and missing.structured_content is None
        assert len(missing.meta[STATE_HASH]) == 64
        bad = await fast.call_tool("get_note", {"id": "note_0001"}, meta=meta)
        assert bad.is_error and bad.text == "Invalid arguments for get_note: 'note_id' is a required property"
        unknown = await fast.call_tool("no_such_tool", {}, meta=meta)
        assert unknown.is_error and "no_such_tool" in unknown.text
        # a JSON-RPC error (here: a method the server does not serve) is an RPCError with its code
        with pytest.raises(RPCError) as info:
            await fast._request("no/such-method", {"_meta": fast._envelope}, None)
        assert info.value.code == -32601 and info.value.is_protocol_error and notes_http.url in str(info.value)
        # an HTTP error without a JSON-RPC body is an HTTPStatusFailure naming the status
        wrong = RolloutClient(notes_http.url.removesuffix("/mcp") + "/nothing-here", http=http)
        with pytest.raises(HTTPStatusFailure) as info2:
            await wrong.call_tool("list_notes", {})
        assert info2.value.status == 404 and "HTTP 404" in str(info2.value)
        # a trailing slash answers 307 to /mcp, which is followed once and remembered
        slash = RolloutClient(notes_http.url + "/", http=http)
        assert not (await slash.call_tool("list_notes", {}, meta=meta)).is_error
        assert slash.url == notes_http.url


async def test_closed_port_is_a_clear_synth_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    async with RolloutClient(url) as fast:
        with pytest.raises(ConnectionFailure) as info:
            await fast.call_tool("list_notes", {}, meta={"envfactory/episode": "x"})
    assert isinstance(info.value, SynthError)
    message = str(info.value)
    assert message.startswith(f"cannot reach MCP server at {url} (tools/call list_notes): connection refused")
    assert "\n" not in message


async def test_http_sources_use_the_thin_client_and_stdio_does_not(notes_http: HttpServer, tmp_path: Path) -> None:
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"local": {"command": sys.executable,
                                                        "args": [str(ROOT / "tests/fixtures/envs/notes/server.py")]}}}))
    async with connect_all(resolve_sources(cfg, [notes_http.url])) as servers:
        by_transport = {s.info.transport: s for s in servers}
        assert isinstance(by_transport["http"].caller, RolloutClient)
        assert by_transport["stdio"].fast is None and by_transport["stdio"].caller is by_transport["stdio"].client
    async with connect_all(resolve_sources(None, [notes_http.url]), fast=False) as servers:
        assert servers[0].caller is servers[0].client


def test_synthesize_thin_client_is_byte_identical_to_sdk_client(notes_http: HttpServer, tmp_path: Path) -> None:
    def run(out: Path, fast: bool) -> list[dict]:
        config = SynthConfig(n=8, seed=13, out=out, urls=[notes_http.url], progress=False, fast_client=fast)
        summary = asyncio.run(synthesize(config))
        assert summary.count == 8
        records = [json.loads(x) for x in (out / TRAJECTORIES).read_text().splitlines()]
        for r in records:
            r.pop("timings")
        return records

    fast, sdk = run(tmp_path / "fast", True), run(tmp_path / "sdk", False)
    assert fast == sdk
    assert all(r["checks"]["verified"] for r in fast)


def test_farm_listing_becomes_sources() -> None:
    listing = [{"name": "shop", "scenarios": ["small", "edge"]}, {"name": "calendar", "scenarios": []}]
    sources = sources_from_farm_listing("http://h:1/", listing, "tok")
    assert [(s.name, s.url, s.scenarios, s.token) for s in sources] == [
        ("shop", "http://h:1/envs/shop/mcp", ["small", "edge"], "tok"),
        ("calendar", "http://h:1/envs/calendar/mcp", [], "tok")]
    assert "tok" not in repr(sources[0])
    with pytest.raises(SynthError, match="no valid 'name'"):
        sources_from_farm_listing("http://h:1", [{"scenarios": []}], None)
    with pytest.raises(SynthError, match="JSON list"):
        sources_from_farm_listing("http://h:1", {"oops": 1}, None)


# --- the real farm ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def farm() -> Iterator[tuple[str, str]]:
    if not FARM.exists():
        pytest.skip("farm not available")
    port, token = free_port(), "test-farm-token"
    env = {k: v for k, v in os.environ.items() if k != "ENVFACTORY_TOKEN"}
    log = server_log()
    proc = subprocess.Popen([sys.executable, "-m", "envfactory", "farm", "--port", str(port), "--workers", "0",
                             "--token", token], stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        wait_for_port(port, proc, timeout=60, log=log)
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _app() -> typer.Typer:
    a = typer.Typer()
    a.command("synthesize")(cli.synthesize)
    a.command("export")(export_cli.export)
    return a


def test_synthesize_from_the_farm(farm: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, token = farm
    monkeypatch.delenv("ENVFACTORY_TOKEN", raising=False)
    envs = httpx2.get(f"{url}/api/envs", headers={"authorization": f"Bearer {token}"}).json()
    names = sorted(e["name"] for e in envs)
    assert names
    n = 2 * len(names)
    res = CliRunner().invoke(_app(), ["synthesize", "--farm", url, "--farm-token", token, "--n", str(n),
                                      "--seed", "3", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output + res.stderr
    records = [json.loads(x) for x in (tmp_path / "r" / TRAJECTORIES).read_text().splitlines()]
    assert len(records) == n
    scenarios = {e["name"]: set(e["scenarios"]) for e in envs}
    present = [name for name in names if any(name in [e["name"] for e in r["envs"]] for r in records)]
    assert len(present) >= 2  # anchors follow tool coverage, not a round robin of servers
    for name in present:
        mine = [r for r in records if name in [e["name"] for e in r["envs"]]]
        for r in mine:
            assert all(e["transport"] == "http" for e in r["envs"])
            assert r["checks"]["verified"] and r["checks"]["state_match"] is True
            if r["plan"]:
                assert r["scenarios"][name] in scenarios[name]
                assert r["initial_states"][name]  # the farm's control plane gave the scenario's State
            if r["expected_state_hashes"]:
                assert r["final_state_hashes"] == r["expected_state_hashes"]
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["config"]["sources"]["farm"] == url and token not in json.dumps(manifest)
    # the token also comes from ENVFACTORY_TOKEN; without any token the farm's 401 is one clear line
    monkeypatch.setenv("ENVFACTORY_TOKEN", token)
    res = CliRunner().invoke(_app(), ["synthesize", "--farm", url, "--n", "1", "--out", str(tmp_path / "env")])
    assert res.exit_code == 0, res.output + res.stderr
    monkeypatch.delenv("ENVFACTORY_TOKEN")
    res = CliRunner().invoke(_app(), ["synthesize", "--farm", url, "--n", "1", "--out", str(tmp_path / "none")])
    assert res.exit_code == 1 and "HTTP 401" in res.stderr and "--farm-token" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unreachable_farm_is_one_clear_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    res = CliRunner().invoke(_app(), ["synthesize", "--farm", url, "--n", "1", "--out", str(tmp_path / "r")])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: cannot reach the farm at {url}: connection refused")
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


async def test_wire_format_mirrors_the_sdk_client(notes_http: HttpServer) -> None:
    seen: list[httpx2.Request] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(request)

    async with httpx2.AsyncClient(event_hooks={"request": [hook]}) as http:
        async with Client(notes_http.url) as sdk:  # its own httpx2 client: only the thin client's requests are seen
            await sdk.list_tools()
        fast = RolloutClient(notes_http.url, http=http, token="secret")
        await fast.call_tool("get_note", {"note_id": "note_0001"}, meta={"envfactory/episode": "w"})
    (req,) = seen
    assert req.headers["authorization"] == "Bearer secret"
    assert req.headers["mcp-protocol-version"] == "2026-07-28"
    assert (req.headers["mcp-method"], req.headers["mcp-name"]) == ("tools/call", "get_note")
    body = json.loads(req.content)
    assert body["method"] == "tools/call" and body["params"]["name"] == "get_note"
    assert list(body["params"]["_meta"]) == ["envfactory/episode", "io.modelcontextprotocol/protocolVersion",
                                             "io.modelcontextprotocol/clientInfo",
                                             "io.modelcontextprotocol/clientCapabilities"]


def test_offline_run_over_the_farm_covers_every_shape_mode_and_kind(farm: tuple[str, str], tmp_path: Path) -> None:
    """The issue's acceptance run, smaller: every shape, mode and sample kind; all verified; no leaks; coverage."""
    from synthesizer.data.records import KINDS, MODES, TOPOLOGIES
    from synthesizer.data.stats import compute_stats

    url, token = farm
    out = tmp_path / "r"
    summary = asyncio.run(synthesize(SynthConfig(n=150, seed=0, out=out, farm=url, farm_token=token,
                                                 concurrency=8, progress=False)))
    assert summary.count == 150 and not summary.failed_servers
    stats = compute_stats(out)
    assert stats.verified == 150
    assert set(summary.by_topology) == {*TOPOLOGIES, "none"}  # none: irrelevance samples make no call
    assert set(summary.by_mode) == set(MODES) and set(summary.by_kind) == set(KINDS)
    assert stats.leaked_tool_names.records == 0 and stats.leaked_ids.records == 0
    assert stats.coverage.fraction >= 0.9


def test_a_state_mismatch_is_explained_by_a_readable_diff(farm: tuple[str, str]) -> None:
    """The gold run and a rollout that wrote another title: the hash check fails and the diff names the field."""
    from synthesizer.data.records import PlanCall
    from synthesizer.discovery.controlplane import ControlPlane
    from synthesizer.rollout.checking import state_check
    from synthesizer.rollout.conversation import Rollout

    url, token = farm

    async def scenario() -> tuple[bool | None, list[str], bool | None]:
        hashes = {}
        http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"})
        async with http, ControlPlane(url, token=token) as control:
            client = RolloutClient(f"{url}/envs/calendar/mcp", http=http)
            cals = await client.call_tool("list_calendars", {}, meta={"envfactory/episode": "diff-gold",
                                                                      "envfactory/scenario": "typical"})
            cal = next(c["id"] for c in cals.structured_content["calendars"] if not c["read_only"])
            for episode, title in (("diff-gold", "Budget review"), ("diff-rollout", "Budget reveiw")):
                r = await client.call_tool("create_event", {
                    "calendar_id": cal, "title": title, "start": "2026-03-10T09:00:00Z",
                    "end": "2026-03-10T10:00:00Z"}, meta={"envfactory/episode": episode,
                                                          "envfactory/scenario": "typical"})
                assert not r.is_error, r.text
                hashes[episode] = r.meta["envfactory/state_hash"]
            write = PlanCall(step=0, server="calendar", tool="create_event", name="calendar__create_event",
                             arguments={}, read_only=False)
            episodes, gold = {"calendar": "diff-rollout"}, {"calendar": "diff-gold"}
            bad, diff = await state_check([write], {"calendar": hashes["diff-gold"]},
                                          Rollout(messages=[], state_hashes={"calendar": hashes["diff-rollout"]}),
                                          episodes, gold, control)
            good, _ = await state_check([write], {"calendar": hashes["diff-gold"]},
                                        Rollout(messages=[], state_hashes={"calendar": hashes["diff-gold"]}),
                                        episodes, gold, control)
            return bad, diff, good

    bad, diff, good = asyncio.run(scenario())
    assert bad is False and good is True
    assert any("title" in line and "Budget review" in line and "Budget reveiw" in line for line in diff), diff
