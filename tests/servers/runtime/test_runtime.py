"""The runtime and its MCP wrapping over real transports: in-memory, stdio subprocess, streamable HTTP on loopback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from registry.contract import state_hash
from registry.wire import META_EPISODE, META_SCENARIO, META_STATE_HASH
from servers.runtime.mcp_server import build_server
from servers.runtime.runtime import EnvRuntime, EpisodeStore
from tests.conftest import NOTES, HttpServer

EXTRA_TOOLS = '''

def half_write(state: State, title: str) -> dict:
    """Mutates, then fails: the runtime must roll the State back."""
    state.notes["note_9000"] = Note(id="note_9000", title=title, body="", created_at=state.now)
    state.counters["note"] = 9000
    raise ToolError("refused after writing")


def crash(state: State, title: str) -> dict:
    return {"x": {}[title]}


def bad_output(state: State, title: str) -> dict:
    return {"unexpected": title}


def spin(state: State, title: str) -> dict:
    while True:
        pass
'''


def add_tools(env_dir: Path) -> None:
    """Append misbehaving tools to a copy of the notes environment."""
    (env_dir / "env.py").write_text((env_dir / "env.py").read_text() + EXTRA_TOOLS)
    spec = json.loads((env_dir / "env.json").read_text())
    for name in ("half_write", "crash", "bad_output", "spin"):
        spec["tools"].append({
            "name": name, "description": f"test tool {name}",
            "input_schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
            "output_schema": {"type": "object", "properties": {"note": {"type": "object"}}, "required": ["note"]},
        })
    (env_dir / "env.json").write_text(json.dumps(spec))


def test_write_is_atomic_and_errors_are_mapped(notes_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    add_tools(notes_dir)
    rt = EnvRuntime.load(notes_dir, call_timeout=0.5)
    ep = rt.new_episode("e", "small")
    before = ep.state_hash

    out = rt.call(ep, "half_write", {"title": "x"})
    assert out.is_error and out.error == "refused after writing" and not out.internal
    assert ep.state_hash == before and "note_9000" not in ep.state.notes and ep.journal == []

    with caplog.at_level(logging.ERROR, logger="envfactory.runtime"):
        crash = rt.call(ep, "crash", {"title": "k"})
        bad = rt.call(ep, "bad_output", {"title": "k"})
    assert crash.is_error and crash.internal and crash.error == "Internal error in tool crash"
    assert "KeyError" in caplog.text, "the traceback is logged server-side"
    assert bad.is_error and bad.internal and "Internal error" in (bad.error or "")
    assert "output violates" in caplog.text

    spin = rt.call(ep, "spin", {"title": "k"})
    assert spin.is_error and spin.internal and "timed out" in (spin.error or "")
    assert ep.state_hash == before


def test_argument_validation_names_the_field() -> None:
    rt = EnvRuntime.load(NOTES)
    ep = rt.new_episode("e", "small")
    missing = rt.call(ep, "create_note", {})
    wrong = rt.call(ep, "create_note", {"title": 5})
    extra = rt.call(ep, "get_note", {"note_id": "note_0001", "x": 1})
    unknown = rt.call(ep, "nope", {})
    assert missing.is_error and "'title' is a required property" in (missing.error or "")
    assert wrong.is_error and "at title: 5 is not of type 'string'" in (wrong.error or "")
    assert extra.is_error and "Additional properties" in (extra.error or "")
    assert unknown.is_error and unknown.error == "Unknown tool: nope"
    assert not any(o.internal for o in (missing, wrong, extra, unknown))


def test_ids_and_time_come_from_state_so_replays_are_byte_identical() -> None:
    rt = EnvRuntime.load(NOTES)
    runs = []
    for episode_id in ("a", "b"):
        ep = rt.new_episode(episode_id, "small")
        outs = [rt.call(ep, "create_note", {"title": t}).model_dump_json() for t in ("one", "two")]
        runs.append((outs, ep.state_hash, ep.journal))
    assert runs[0] == runs[1]
    assert json.loads(runs[0][0][0])["output"]["note"] == {
        "id": "note_0003", "title": "one", "body": "", "created_at": "2026-01-05T09:00:00Z"}


def test_episode_store_isolates_and_bounds() -> None:
    rt = EnvRuntime.load(NOTES)
    store = EpisodeStore(rt, capacity=2)
    a, b = store.get("a", "small"), store.get("b", "empty")
    rt.call(a, "create_note", {"title": "only in a"})
    assert len(a.state.notes) == 3 and len(b.state.notes) == 0
    store.get("b")  # touch b: a becomes the least recently used
    store.get("c")
    assert len(store) == 2 and "a" not in store and "b" in store and "c" in store
    assert store.get(None).id == EpisodeStore.PLAYGROUND


async def test_in_memory_mcp_lists_spec_and_routes_episodes() -> None:
    rt = EnvRuntime.load(NOTES)
    async with Client(build_server(rt)) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == [t.name for t in rt.spec.tools]
        by_name = {t.name: t for t in tools}
        assert by_name["list_notes"].output_schema == rt.tools["list_notes"].output_schema
        assert by_name["list_notes"].annotations.read_only_hint is True
        assert by_name["delete_note"].annotations.destructive_hint is True

        made = await client.call_tool("create_note", {"title": "Hi"},
                                      meta={META_EPISODE: "ep1", META_SCENARIO: "empty"})
        assert not made.is_error and made.structured_content["note"]["id"] == "note_0001"
        assert made.meta[META_EPISODE] == "ep1"
        ep = rt.new_episode("x", "empty")
        rt.call(ep, "create_note", {"title": "Hi"})
        assert made.meta[META_STATE_HASH] == state_hash(ep.state)

        other = await client.call_tool("list_notes", {}, meta={META_EPISODE: "ep2", META_SCENARIO: "empty"})
        assert other.structured_content["total"] == 0, "episodes never see each other's writes"
        again = await client.call_tool("list_notes", {}, meta={META_EPISODE: "ep1"})
        assert again.structured_content["total"] == 1

        err = await client.call_tool("get_note", {"note_id": "note_0404"})
        assert err.is_error and err.content[0].text == "No note with id 'note_0404'"
        assert err.meta[META_EPISODE] == "playground"
        bad = await client.call_tool("create_note", {"title": 1})
        assert bad.is_error and "Invalid arguments for create_note" in bad.content[0].text
        scen = await client.call_tool("list_notes", {}, meta={META_EPISODE: "ep3", META_SCENARIO: "nope"})
        assert scen.is_error and "unknown scenario 'nope'" in scen.content[0].text


async def test_stdio_subprocess_serves_the_environment() -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(NOTES / "server.py")])
    with anyio.fail_after(30):
        async with Client(params) as client:
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == {"list_notes", "get_note", "create_note", "delete_note"}
            res = await client.call_tool("list_notes", {"limit": 1}, meta={META_EPISODE: "s", META_SCENARIO: "small"})
            assert not res.is_error and res.structured_content["total"] == 2
            assert len(res.structured_content["notes"]) == 1


async def test_streamable_http_on_loopback(notes_http: HttpServer) -> None:
    with anyio.fail_after(30):
        async with Client(notes_http.url) as client:
            made = await client.call_tool("create_note", {"title": "over http"}, meta={META_EPISODE: "h1"})
            assert not made.is_error
            got = await client.call_tool("get_note", {"note_id": made.structured_content["note"]["id"]},
                                         meta={META_EPISODE: "h1"})
            assert got.structured_content["note"]["title"] == "over http"
        async with Client(notes_http.url, mode="legacy") as legacy:  # 2025-11-25 handshake and session
            res = await legacy.call_tool("get_note", {"note_id": made.structured_content["note"]["id"]},
                                         meta={META_EPISODE: "h1"})
            assert res.structured_content["note"]["title"] == "over http", "episodes outlive connections"
    # DNS-rebinding protection is on: a foreign Host header is refused.
    r = httpx2.post(notes_http.url, headers={"Host": "evil.example", "Content-Type": "application/json",
                                            "Accept": "application/json, text/event-stream"}, content=b"{}")
    assert r.status_code == 421
