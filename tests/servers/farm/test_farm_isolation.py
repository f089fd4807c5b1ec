"""Isolation through the whole farm: uvicorn on loopback, worker processes, real MCP clients over HTTP.

A hostile environment (infinite loops, a memory bomb, `os._exit`, a segfault, reached by escaping the in-process guard)
must fail only its own calls; a worker killed with SIGKILL in the middle of a load must lose no episode.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from registry.envdir import EnvDir, load_env_dir
from registry.wire import META_EPISODE, META_SCENARIO
from servers.farm.app import FarmSettings, build_farm_app
from servers.farm.episodes import EpisodeManager, InlineBackend
from servers.farm.workers import ProcessBackend
from synthesizer.discovery.fastclient import RolloutClient
from tests.conftest import FIXTURES
from tests.servers.farm.test_farm import ThreadedFarm

HOSTILE = FIXTURES / "envs" / "hostile"


class LiveFarm:
    def __init__(self) -> None:
        self.envs: dict[str, EnvDir] = {"hostile": load_env_dir(HOSTILE)}
        self.backend = ProcessBackend(self.envs, workers=2, call_timeout=1.5, memory_limit_bytes=256 * 1024**2)
        manager = EpisodeManager(self.envs, self.backend)
        self.server = ThreadedFarm(build_farm_app(self.envs, manager, FarmSettings(workers=2)))
        self.url = self.server.url
        self.mcp = f"{self.url}/envs/hostile/mcp"

    def ids_on(self, shard: int, count: int, prefix: str) -> list[str]:
        return [f"{prefix}_{i}" for i in range(10_000) if self.backend.shard(f"{prefix}_{i}") == shard][:count]

    def state(self, episode: str) -> dict[str, Any]:
        r = httpx2.get(f"{self.url}/api/episodes/{episode}/state", timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def live() -> Iterator[LiveFarm]:
    farm = LiveFarm()
    yield farm
    farm.server.stop()


async def replay_hash(envs: dict[str, EnvDir], bumps: int) -> str:
    """The hash an in-process replay of `bumps` successful bumps on scenario `a` gives."""
    inline = InlineBackend(envs)
    return await inline.load("replay", "hostile", envs["hostile"].scenarios["a"].state, [("bump", {})] * bumps)


async def test_hostile_calls_fail_alone_over_mcp(live: LiveFarm) -> None:
    victim, neighbour = live.ids_on(0, 2, "calm")
    hostile = live.ids_on(0, 1, "evil")[0]  # on the same worker as the victim
    other = live.ids_on(1, 1, "calm1")[0]
    meta = {META_SCENARIO: "a"}

    async def well_behaved(client: RolloutClient, episode: str) -> list[bool]:
        return [(await client.call_tool("bump", {}, meta={**meta, META_EPISODE: episode})).is_error
                for _ in range(100)]

    async def attacks() -> dict[str, str]:
        results: dict[str, str] = {}
        async with Client(live.mcp) as sdk:  # the official client, 2026-07-28
            for tool in ("spin", "spin_c", "hog", "exit_now", "segfault"):
                res = await sdk.call_tool(tool, {}, meta={**meta, META_EPISODE: hostile}, read_timeout_seconds=60)
                assert res.is_error, tool
                results[tool] = res.content[0].text
        return results

    with anyio.fail_after(120):
        async with httpx2.AsyncClient(timeout=60) as http:
            client = RolloutClient(live.mcp, http=http)
            calm, calm_other, found = await asyncio.gather(well_behaved(client, victim),
                                                           well_behaved(client, other), attacks())
            assert not any(calm) and not any(calm_other), "well-behaved episodes completed 100 calls each"
            assert "timed out after 1.5 s" in found["spin"]
            assert "timed out" in found["spin_c"] and "worker was killed and restarted" in found["spin_c"]
            assert "Internal error in tool hog" in found["hog"] or "timed out" in found["hog"]
            assert "crashed" in found["exit_now"] and "exit code 3" in found["exit_now"]
            assert "crashed" in found["segfault"] and "SIGSEGV" in found["segfault"]
            after = await client.call_tool("bump", {}, meta={**meta, META_EPISODE: hostile})
            assert not after.is_error and after.structured_content["count"] == 1
            untouched = await client.call_tool("read", {}, meta={**meta, META_EPISODE: neighbour})
            assert untouched.structured_content["count"] == 0
    for episode in (victim, other):
        got = await asyncio.to_thread(live.state, episode)
        assert got["state"]["count"] == 100 and got["state_hash"] == await replay_hash(live.envs, 100)
    assert live.backend.stats()["restarts"] >= 3


async def test_sigkill_mid_load_loses_no_episode(live: LiveFarm) -> None:
    episodes = [f"load_{i}" for i in range(30)]
    done: dict[str, int] = dict.fromkeys(episodes, 0)
    failures: list[tuple[str, str]] = []
    calls = 0

    async with httpx2.AsyncClient(timeout=60) as http:
        client = RolloutClient(live.mcp, http=http)

        async def drive(episode: str) -> None:
            nonlocal calls
            for _ in range(20):
                res = await client.call_tool("bump", {}, meta={META_EPISODE: episode, META_SCENARIO: "a"})
                calls += 1
                if res.is_error:
                    failures.append((episode, res.content[0].text))
                else:
                    done[episode] += 1

        async def killer() -> int:
            while calls < 200:
                await asyncio.sleep(0.005)
            pid = live.backend.stats()["workers"][0]["pid"]
            os.kill(pid, signal.SIGKILL)
            return pid

        with anyio.fail_after(120):
            *_, killed = await asyncio.gather(*(drive(e) for e in episodes), killer())
    assert len(failures) <= 1, failures  # only a call that was running on the killed worker may fail
    for episode, message in failures:
        assert live.backend.shard(episode) == 0 and "crashed" in message and "not applied" in message
    for episode in episodes:
        got = await asyncio.to_thread(live.state, episode)
        assert got["state"]["count"] == done[episode]
        assert got["state_hash"] == await replay_hash(live.envs, done[episode]), episode
    assert live.backend.stats()["workers"][0]["pid"] != killed
