"""The farm over real transports: uvicorn on a loopback port (in a thread), real MCP clients of both protocol eras."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client

from registry.catalog import verified_envs
from registry.contract import state_hash
from registry.envdir import EnvDir, load_env_dir
from registry.wire import META_EPISODE, META_SCENARIO, META_STATE_HASH
from servers.farm.app import FarmConfigError, FarmSettings, build_farm_app
from servers.farm.episodes import EpisodeManager, InlineBackend, Limits
from tests.conftest import NOTES, free_port, wait_for_port

TOKEN = "s3cret-farm-token"
CONTROL_NAMES = {"reset", "reset_episode", "snapshot", "snapshot_episode", "restore", "restore_episode", "get_state",
                 "state", "create_episode", "delete_episode", "delete", "list_episodes", "get_episode", "health",
                 "metrics", "expire"}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class ThreadedFarm:
    """A real uvicorn server on a free loopback port, run in a background thread (its own event loop)."""

    def __init__(self, app: Any):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="farm", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the farm did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Farm:
    url: str
    api: httpx2.Client  # authorized
    envs: dict[str, EnvDir]

    def env_url(self, env: str) -> str:
        return f"{self.url}/envs/{env}/mcp"

    def create(self, env: str = "notes", **body: Any) -> dict[str, Any]:
        r = self.api.post("/api/episodes", json={"env": env, **body})
        assert r.status_code == 201, r.text
        return r.json()

    def state(self, episode: str) -> dict[str, Any]:
        r = self.api.get(f"/api/episodes/{episode}/state")
        assert r.status_code == 200, r.text
        return r.json()


def farm_envs() -> dict[str, EnvDir]:
    return {"notes": load_env_dir(NOTES), **{e.name: e for e in verified_envs()}}


def start_farm(settings: FarmSettings, limits: Limits | None = None) -> tuple[ThreadedFarm, dict[str, EnvDir]]:
    envs = farm_envs()
    manager = EpisodeManager(envs, InlineBackend(envs), limits or settings.limits)
    return ThreadedFarm(build_farm_app(envs, manager, settings)), envs


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    server, envs = start_farm(FarmSettings(token=TOKEN, max_body_bytes=64 * 1024))
    with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as api:
        yield Farm(server.url, api, envs)
    server.stop()


def notes_of(result: Any) -> int:
    assert not result.is_error, result.content
    return int(result.structured_content["total"])


async def test_episodes_by_url_never_see_each_other(farm: Farm) -> None:
    a, b = farm.create(scenario="empty"), farm.create(scenario="empty")
    assert a["mcp_url"] == f"{farm.url}/episodes/{a['id']}/mcp" and a["state_hash"] == b["state_hash"]
    with anyio.fail_after(20):
        async with Client(a["mcp_url"]) as modern:  # 2026-07-28, sessionless
            made = await modern.call_tool("create_note", {"title": "only in a"})
            assert not made.is_error and made.meta[META_EPISODE] == a["id"]
            assert made.meta[META_STATE_HASH] == farm.state(a["id"])["state_hash"] != b["state_hash"]
        async with Client(b["mcp_url"], mode="legacy") as legacy:  # 2025-11-25 session on an episode URL
            assert notes_of(await legacy.call_tool("list_notes", {})) == 0
            await legacy.call_tool("create_note", {"title": "only in b"})
        async with Client(a["mcp_url"], mode="legacy") as legacy:
            listed = await legacy.call_tool("list_notes", {})
            assert notes_of(listed) == 1 and listed.structured_content["notes"][0]["title"] == "only in a"
        async with Client(b["mcp_url"]) as modern:
            listed = await modern.call_tool("list_notes", {})
            assert notes_of(listed) == 1 and listed.structured_content["notes"][0]["title"] == "only in b"
            # the URL wins over _meta: a request on /episodes/<b> cannot reach another episode
            via_url = await modern.call_tool("list_notes", {}, meta={META_EPISODE: a["id"]})
            assert via_url.meta[META_EPISODE] == b["id"]
    state = farm.state(a["id"])
    assert state["state_hash"] == state_hash_of(farm, state["state"])


def state_hash_of(farm: Farm, state: dict[str, Any]) -> str:
    from servers.runtime.runtime import EnvRuntime

    runtime = EnvRuntime.load(NOTES)
    return state_hash(runtime.build_state(state))


async def test_episodes_by_meta_on_the_shared_endpoint(farm: Farm) -> None:
    url = farm.env_url("notes")
    m1, m2 = f"meta1-{os.getpid()}", f"meta2-{os.getpid()}"
    with anyio.fail_after(20):
        async with Client(url) as modern:
            made = await modern.call_tool("create_note", {"title": "m1"},
                                          meta={META_EPISODE: m1, META_SCENARIO: "empty"})
            assert not made.is_error and made.meta[META_EPISODE] == m1
        async with Client(url, mode="legacy") as legacy:
            other = await legacy.call_tool("list_notes", {}, meta={META_EPISODE: m2, META_SCENARIO: "empty"})
            assert notes_of(other) == 0, "episodes never see each other's writes"
            assert notes_of(await legacy.call_tool("list_notes", {}, meta={META_EPISODE: m1})) == 1
            default = await legacy.call_tool("list_notes", {}, meta={META_EPISODE: f"dflt-{os.getpid()}"})
            assert notes_of(default) == 0 and farm.envs["notes"].spec.initial_scenario == "empty"
    info = farm.api.get(f"/api/episodes/{m1}").json()
    assert info["scenario"] == "empty" and info["calls"] == 2 and info["journal_length"] == 1
    assert farm.state(m1)["state_hash"] == made.meta[META_STATE_HASH]
    # an episode of another environment cannot be reached through this one; neither can a malformed id
    cal = farm.create("calendar")
    async with Client(url) as modern:
        wrong = await modern.call_tool("list_notes", {}, meta={META_EPISODE: cal["id"]})
        assert wrong.is_error and "belongs to environment 'calendar'" in wrong.content[0].text
        bad = await modern.call_tool("list_notes", {}, meta={META_EPISODE: "../x y"})
        assert bad.is_error and "must be 1-128 characters" in bad.content[0].text
        missing = await modern.call_tool("get_note", {"note_id": "nope"}, meta={META_EPISODE: m1})
        assert missing.is_error and missing.content[0].text == "No note with id 'nope'"
        assert missing.meta[META_EPISODE] == m1


async def test_reset_snapshot_restore_round_trip_over_http(farm: Farm) -> None:
    ep = farm.create(scenario="small", seed=7)
    start = ep["state_hash"]
    assert ep["seed"] == 7
    async with Client(ep["mcp_url"]) as client:
        await client.call_tool("create_note", {"title": "before snapshot"})
        snap = farm.api.post(f"/api/episodes/{ep['id']}/snapshots")
        assert snap.status_code == 201
        snap_hash = snap.json()["state_hash"]
        assert snap_hash == farm.state(ep["id"])["state_hash"] != start
        await client.call_tool("delete_note", {"note_id": "note_0001"})
        assert farm.state(ep["id"])["state_hash"] not in (start, snap_hash)

        restored = farm.api.post(f"/api/episodes/{ep['id']}/restore", json={"snapshot_id": snap.json()["snapshot_id"]})
        assert restored.status_code == 200 and restored.json()["state_hash"] == snap_hash
        assert farm.state(ep["id"])["state_hash"] == snap_hash
        assert notes_of(await client.call_tool("list_notes", {})) == 3, "the MCP view follows the restore"

        reset = farm.api.post(f"/api/episodes/{ep['id']}/reset")
        assert reset.status_code == 200 and reset.json()["state_hash"] == start == farm.state(ep["id"])["state_hash"]
        assert notes_of(await client.call_tool("list_notes", {})) == 2
        other = farm.api.post(f"/api/episodes/{ep['id']}/reset", json={"scenario": "empty"})
        assert other.json()["scenario"] == "empty" and farm.state(ep["id"])["state"]["notes"] == {}

    explicit = farm.create(state=farm.state(ep["id"])["state"])
    assert explicit["explicit_state"] and explicit["state_hash"] == farm.state(ep["id"])["state_hash"]
    assert farm.api.post(f"/api/episodes/{ep['id']}/restore", json={"snapshot_id": "snap_x"}).status_code == 404
    assert farm.api.post("/api/episodes", json={"env": "notes", "scenario": "nope"}).json()["error"].startswith(
        "unknown scenario")
    invalid = farm.api.post("/api/episodes", json={"scenario": "small"})
    assert invalid.status_code == 422 and "env" in invalid.json()["error"]
    listed = farm.api.get("/api/episodes", params={"env": "notes", "scenario": "empty"}).json()["episodes"]
    assert ep["id"] in {e["id"] for e in listed} and all(e["scenario"] == "empty" for e in listed)
    assert farm.api.delete(f"/api/episodes/{ep['id']}").json() == {"deleted": ep["id"]}
    assert farm.api.get(f"/api/episodes/{ep['id']}").status_code == 404


async def test_a_client_reconnecting_for_every_call_keeps_its_episode(farm: Farm) -> None:
    ep = farm.create(scenario="empty")
    named = f"reconnect-{os.getpid()}"
    for i, mode in enumerate(("auto", "legacy", "auto")):
        async with Client(ep["mcp_url"], mode=mode) as client:  # type: ignore[arg-type]
            await client.call_tool("create_note", {"title": f"call {i}"})
        async with Client(farm.env_url("notes"), mode=mode) as client:  # type: ignore[arg-type]
            await client.call_tool("create_note", {"title": f"call {i}"},
                                   meta={META_EPISODE: named, META_SCENARIO: "empty"})
    assert len(farm.state(ep["id"])["state"]["notes"]) == 3
    assert farm.state(named)["state"] == farm.state(ep["id"])["state"]


async def test_playgrounds_per_legacy_session_and_shared_when_sessionless(farm: Farm) -> None:
    url = farm.env_url("notes")
    with anyio.fail_after(20):
        async with Client(url, mode="legacy") as s1, Client(url, mode="legacy") as s2:
            made = await s1.call_tool("create_note", {"title": "session one"})
            assert made.meta[META_EPISODE].startswith("playground:notes:")
            seen = await s2.call_tool("list_notes", {})
            assert seen.meta[META_EPISODE].startswith("playground:notes:")
            assert seen.meta[META_EPISODE] != made.meta[META_EPISODE]
            assert "session one" not in {n["title"] for n in seen.structured_content["notes"]}
            again = await s1.call_tool("list_notes", {})
            assert "session one" in {n["title"] for n in again.structured_content["notes"]}
        async with Client(url) as c1:
            first = await c1.call_tool("create_note", {"title": f"shared {os.getpid()}"})
            assert first.meta[META_EPISODE] == "playground:notes"
        async with Client(url) as c2:
            listed = await c2.call_tool("list_notes", {"limit": 100})
            titles = {n["title"] for n in listed.structured_content["notes"]}
            assert f"shared {os.getpid()}" in titles, "sessionless callers share the environment's playground"


async def test_no_control_plane_name_is_ever_a_tool(farm: Farm) -> None:
    ep = farm.create("shop")
    with anyio.fail_after(30):
        for name, env in farm.envs.items():
            for mode in ("auto", "legacy"):
                async with Client(farm.env_url(name), mode=mode) as client:  # type: ignore[arg-type]
                    tools = (await client.list_tools()).tools
                    names = {t.name for t in tools}
                    assert names == {t.name for t in env.spec.tools} and not names & CONTROL_NAMES
                    assert (await client.list_resources()).resources == []
                    assert (await client.list_prompts()).prompts == []
        async with Client(ep["mcp_url"], mode="legacy") as client:
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == {t.name for t in farm.envs["shop"].spec.tools}
            spec = {t.name: t for t in farm.envs["shop"].spec.tools}
            for tool in tools:
                assert tool.input_schema == spec[tool.name].input_schema
                assert tool.output_schema == spec[tool.name].output_schema
                assert tool.annotations.read_only_hint == spec[tool.name].annotations.read_only_hint


def test_control_plane_requires_the_token(farm: Farm) -> None:
    ep = farm.create()
    with httpx2.Client(base_url=farm.url, timeout=10) as anon:
        for method, path in (("GET", "/api/envs"), ("GET", "/api/episodes"), ("POST", "/api/episodes"),
                             ("GET", f"/api/episodes/{ep['id']}/state"), ("DELETE", f"/api/episodes/{ep['id']}"),
                             ("POST", f"/api/episodes/{ep['id']}/reset"), ("GET", "/metrics")):
            r = anon.request(method, path, json={"env": "notes"} if method == "POST" else None)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json() == {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"}
        wrong = anon.get("/api/envs", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert anon.get("/api/envs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        health = anon.get("/health")
        assert health.status_code == 200 and health.json()["ok"] and "notes" in health.json()["envs"]
        docs = anon.get("/openapi.json").json()
        assert "/api/episodes/{episode_id}/snapshots" in docs["paths"] and "HTTPBearer" in str(docs)
    assert farm.api.get(f"/api/episodes/{ep['id']}").status_code == 200, "the anonymous DELETE did nothing"


def test_envs_are_listed_with_their_details(farm: Farm) -> None:
    envs = farm.api.get("/api/envs").json()
    assert [e["name"] for e in envs] == sorted(farm.envs)
    notes = next(e for e in envs if e["name"] == "notes")
    assert notes["mcp_url"] == farm.env_url("notes") and notes["scenarios"] == list(farm.envs["notes"].spec.scenarios)
    assert "path" not in notes
    detail = farm.api.get("/api/envs/shop").json()
    assert detail["env"]["name"] == "shop" and detail["report"]["passed"]
    assert [t["name"] for t in detail["tools"]] == [t.name for t in farm.envs["shop"].spec.tools]
    assert set(detail["scenarios"]) == set(farm.envs["shop"].scenarios)
    assert farm.api.get("/api/envs/nope").status_code == 404


async def test_metrics_after_calls(farm: Farm) -> None:
    ep = farm.create()
    async with Client(ep["mcp_url"]) as client:
        await client.call_tool("create_note", {"title": "counted"})
        await client.call_tool("get_note", {"note_id": "missing"})
        await client.call_tool("no_such_tool", {})
    text = farm.api.get("/metrics").text

    def value(series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        assert match, f"{series} missing from /metrics"
        return float(match.group(1))

    assert value('envfactory_tool_calls_total{env="notes",tool="create_note"}') >= 1
    assert value('envfactory_tool_errors_total{env="notes",tool="get_note"}') >= 1
    assert value('envfactory_tool_errors_total{env="notes",tool="_unknown"}') >= 1, "unknown names are not labels"
    assert value('envfactory_tool_call_seconds_count{env="notes"}') >= 3
    assert 'envfactory_tool_call_seconds_bucket{env="notes",le="0.005"}' in text
    assert value('envfactory_episodes_live{env="notes"}') >= 1
    assert value('envfactory_episodes_live{env="shop"}') >= 0
    assert "no_such_tool" not in text


def test_http_guards(farm: Farm) -> None:
    ep = farm.create()
    with httpx2.Client(base_url=farm.url, timeout=10) as raw:
        unknown = raw.post("/episodes/ep_doesnotexist/mcp", headers=MCP_HEADERS, content=b"{}")
        assert unknown.status_code == 404 and unknown.json() == {"error": "unknown episode 'ep_doesnotexist'"}
        assert raw.post("/episodes/whatever", headers=MCP_HEADERS, content=b"{}").status_code == 404
        big = b'{"env": "notes", "pad": "' + b"x" * (100 * 1024) + b'"}'
        for path in ("/api/episodes", "/envs/notes/mcp", f"/episodes/{ep['id']}/mcp"):
            r = raw.post(path, headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}, content=big)
            assert r.status_code == 413, (path, r.status_code)

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b"x" * 10_000

        chunked = raw.post("/api/episodes", headers={"Authorization": f"Bearer {TOKEN}"}, content=chunks())
        assert chunked.status_code == 413
        for path in ("/api/envs", "/envs/notes/mcp", f"/episodes/{ep['id']}/mcp", "/metrics", "/docs"):
            r = raw.post(path, headers={**MCP_HEADERS, "Host": "evil.example", "Authorization": f"Bearer {TOKEN}"},
                         content=b"{}")
            assert r.status_code in (400, 421), (path, r.status_code)
        evil_origin = raw.post("/envs/notes/mcp", headers={**MCP_HEADERS, "Origin": "http://evil.example"},
                               content=b"{}")
        assert evil_origin.status_code == 403


async def test_idle_episodes_expire() -> None:
    """The real expiry task on a controlled clock (wall-clock TTLs flake on a loaded machine)."""
    now = [1000.0]
    envs = {"notes": load_env_dir(NOTES)}
    manager = EpisodeManager(envs, InlineBackend(envs), Limits(ttl_seconds=100), clock=lambda: now[0])
    server = ThreadedFarm(build_farm_app(envs, manager, FarmSettings(expire_interval=0.05)))

    def wait_gone(api: httpx2.Client, episode: str) -> None:
        deadline = time.monotonic() + 10
        while api.get(f"/api/episodes/{episode}").status_code != 404:
            assert time.monotonic() < deadline, f"{episode} did not expire"
            time.sleep(0.05)

    try:
        with httpx2.Client(base_url=server.url, timeout=10) as api:
            idle = api.post("/api/episodes", json={"env": "notes"}).json()
            used = api.post("/api/episodes", json={"env": "notes"}).json()
            now[0] += 60
            async with Client(used["mcp_url"]) as client:
                await client.call_tool("list_notes", {})  # a call counts as use
            now[0] += 60  # idle for 120 s > TTL; used for 60 s
            wait_gone(api, idle["id"])
            time.sleep(0.2)  # a few more expiry ticks
            assert api.get(f"/api/episodes/{used['id']}").status_code == 200
            now[0] += 60
            wait_gone(api, used["id"])
            gone = api.post(f"/episodes/{used['id']}/mcp", headers=MCP_HEADERS, content=b"{}")
            assert gone.status_code == 404
    finally:
        server.stop()


def test_no_token_no_network() -> None:
    with pytest.raises(FarmConfigError, match="without a token"):
        FarmSettings(host="0.0.0.0").check_bind()
    envs = {"notes": load_env_dir(NOTES)}
    with pytest.raises(FarmConfigError, match="non-loopback"):
        build_farm_app(envs, EpisodeManager(envs, InlineBackend(envs)), FarmSettings(host="10.1.2.3"))
    FarmSettings(host="0.0.0.0", token="t").check_bind()
    FarmSettings(host="::1").check_bind()
    assert "10.1.2.3:*" in FarmSettings(host="10.1.2.3", token="t").host_patterns()


def test_cli_farm_serves_the_catalog() -> None:
    port = free_port()
    env = {**os.environ, "ENVFACTORY_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "envfactory", "farm", "--port", str(port), "--workers", "0",
                             "--ttl", "60"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        health = httpx2.get(f"http://127.0.0.1:{port}/health").json()
        assert health["envs"] == sorted(e.name for e in verified_envs()) and health["workers"] == 0
        assert httpx2.get(f"http://127.0.0.1:{port}/api/envs").status_code == 401
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in stderr.decode() and "/envs/shop/mcp" in stderr.decode()


async def test_worker_backend_serves_episodes_and_reports_stats() -> None:
    from servers.farm.app import make_backend

    envs = {"notes": load_env_dir(NOTES)}
    backend = make_backend(envs, workers=1)
    assert type(backend).__name__ == "ProcessBackend"
    manager = EpisodeManager(envs, backend, Limits())
    server = ThreadedFarm(build_farm_app(envs, manager, FarmSettings(workers=1)))  # the lifespan starts the workers
    try:
        with httpx2.Client(base_url=server.url, timeout=20) as api:
            a = api.post("/api/episodes", json={"env": "notes", "scenario": "empty"}).json()
            b = api.post("/api/episodes", json={"env": "notes", "scenario": "empty"}).json()
            with anyio.fail_after(30):
                async with Client(a["mcp_url"]) as client:
                    made = await client.call_tool("create_note", {"title": "in a worker"})
                    assert not made.is_error
                async with Client(b["mcp_url"], mode="legacy") as client:
                    assert notes_of(await client.call_tool("list_notes", {})) == 0
            assert api.get(f"/api/episodes/{a['id']}/state").json()["state_hash"] == made.meta[META_STATE_HASH]
            assert api.get("/health").json()["workers"] == 1
            text = api.get("/metrics").text
            assert "envfactory_worker_restarts_total 0.0" in text and "envfactory_workers 1.0" in text
    finally:
        server.stop()
