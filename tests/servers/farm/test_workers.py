"""Process isolation: a hostile environment fails only its own calls, and no episode is ever lost.

The `hostile` fixture escapes the in-process import guard on purpose (see its env.py), so these tests show that the
worker processes, not the guard, are what protect the farm.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from registry.envdir import EnvDir, EnvLoadError, load_env_dir
from servers.farm.episodes import CallResult, EpisodeManager, EpisodeRecord, FarmError, InlineBackend
from servers.farm.workers import ProcessBackend
from tests.conftest import FIXTURES

HOSTILE = FIXTURES / "envs" / "hostile"
CALL_TIMEOUT = 1.5
MEMORY_LIMIT = 256 * 1024**2


@pytest.fixture(scope="module")
def envs() -> dict[str, EnvDir]:
    return {"hostile": load_env_dir(HOSTILE)}


@asynccontextmanager
async def farm(envs: dict[str, EnvDir], **kwargs: Any) -> AsyncIterator[tuple[EpisodeManager, ProcessBackend]]:
    backend = ProcessBackend(envs, **{"workers": 2, "call_timeout": CALL_TIMEOUT,
                                      "memory_limit_bytes": MEMORY_LIMIT, **kwargs})
    await backend.start()
    try:
        yield EpisodeManager(envs, backend), backend
    finally:
        processes = [slot.process for slot in backend._slots]
        await backend.close()
        assert all(p is not None and p.exitcode is not None for p in processes), "close() left a worker running"


def ids_on(backend: ProcessBackend, shard: int, count: int, prefix: str) -> list[str]:
    """Episode ids that the backend places on worker `shard`."""
    found = [f"{prefix}_{i}" for i in range(10_000) if backend.shard(f"{prefix}_{i}") == shard]
    return found[:count]


async def replayed_hash(envs: dict[str, EnvDir], record: EpisodeRecord) -> str:
    """The State hash an in-process replay of the manager's journal gives: the truth the farm must preserve."""
    inline = InlineBackend(envs)
    return await inline.load("replay", record.env, envs[record.env].scenarios[record.scenario].state, record.journal)


async def test_hostile_calls_fail_alone(envs: dict[str, EnvDir]) -> None:
    async with farm(envs) as (manager, backend):
        hostile_id, same_id = ids_on(backend, 0, 2, "ep")
        (other_id,) = ids_on(backend, 1, 1, "ep")
        hostile = await manager.create("hostile", "a", episode_id=hostile_id)
        same = await manager.create("hostile", "b", episode_id=same_id)
        other = await manager.create("hostile", "c", episode_id=other_id)
        assert not (await manager.call(hostile, "bump", {})).is_error

        async def well_behaved(record: EpisodeRecord) -> list[CallResult]:
            return [await manager.call(record, "bump", {}) for _ in range(100)]

        async def attacks() -> dict[str, CallResult]:
            out = {}
            for tool in ("spin", "spin_c", "hog", "exit_now", "segfault"):
                out[tool] = await manager.call(hostile, tool, {})
                await asyncio.sleep(0.01)  # let the neighbours' calls interleave with the attacks
            return out

        start = time.monotonic()
        same_results, other_results, bad = await asyncio.gather(well_behaved(same), well_behaved(other), attacks())
        elapsed = time.monotonic() - start

        assert [r.error for r in same_results + other_results if r.is_error] == []
        assert (await manager.state(same))[0]["count"] == 110 and (await manager.state(other))[0]["count"] == 200
        assert all(r.is_error and r.internal for r in bad.values()), bad
        assert bad["spin"].error == f"Tool spin timed out after {CALL_TIMEOUT:g} s"  # SIGALRM, worker kept
        assert f"timed out after {CALL_TIMEOUT:g} s while running spin_c" in (bad["spin_c"].error or "")
        assert "killed and restarted" in (bad["spin_c"].error or "")  # the watchdog, for a loop inside C
        # RLIMIT_AS turns the hog into a MemoryError inside the tool; on a very slow machine it may hit the alarm
        assert bad["hog"].error in ("Internal error in tool hog", f"Tool hog timed out after {CALL_TIMEOUT:g} s")
        assert "crashed while running exit_now (worker exit code 3)" in (bad["exit_now"].error or "")
        assert "crashed while running segfault (worker exit code -11, killed by SIGSEGV)" in (bad["segfault"].error
                                                                                                or "")
        assert "the call was not applied" in (bad["segfault"].error or "")

        after = await manager.call(hostile, "bump", {})
        assert not after.is_error and after.output == {"count": 2}
        assert hostile.journal == [("bump", {}), ("bump", {})]  # no attack was journaled
        for record in (hostile, same, other):
            assert (await manager.state(record))[1] == record.state_hash == await replayed_hash(envs, record)
        stats = backend.stats()
        assert stats["workers"][0]["restarts"] == 3 and stats["workers"][1]["restarts"] == 0  # spin_c, exit, segv
        assert manager.rebuilds >= 3
        print(f"hostile calls beside 2 x 100 bumps: {elapsed:.2f} s, {manager.rebuilds} rebuilds")


async def test_sigkill_mid_load_loses_nothing(envs: dict[str, EnvDir]) -> None:
    async with farm(envs) as (manager, backend):
        records = [await manager.create("hostile", "abc"[i % 3]) for i in range(50)]
        outcomes: dict[str, list[CallResult]] = {r.id: [] for r in records}
        done = 0
        killed: dict[str, Any] = {}

        async def drive(record: EpisodeRecord) -> None:
            nonlocal done
            for _ in range(30):
                outcomes[record.id].append(await manager.call(record, "bump", {}))
                done += 1

        async def killer() -> None:
            while done < 500:
                await asyncio.sleep(0.002)
            killed.update(backend.stats()["workers"][0])
            os.kill(killed["pid"], signal.SIGKILL)

        start = time.monotonic()
        await asyncio.gather(*(drive(r) for r in records), killer())
        elapsed = time.monotonic() - start

        # The worker was executing at most one request when it died: that call (and only it) fails, as a
        # BackendFailure turned into an internal error result; everything queued behind it was rebuilt and retried.
        failed = [(episode, res) for episode, results in outcomes.items() for res in results if res.is_error]
        failures = [res for _, res in failed]
        assert len(failures) <= 1, [f.error for f in failures]
        for episode, failure in failed:
            assert backend.shard(episode) == 0 and failure.internal and "crashed while running" in (failure.error or "")
            assert "killed by SIGKILL" in (failure.error or "") and "not applied" in (failure.error or "")

        stats = backend.stats()
        assert stats["workers"][0]["restarts"] == 1 and stats["workers"][0]["pid"] != killed["pid"]
        assert stats["workers"][1]["restarts"] == 0
        assert len(manager.list()) == 50
        on_killed = sum(backend.shard(r.id) == 0 for r in records)
        assert manager.rebuilds == on_killed  # each episode the dead worker held was replayed once, no other
        for record in records:
            state, digest = await manager.state(record)
            applied = sum(not r.is_error for r in outcomes[record.id])
            assert len(record.journal) == applied and state["count"] == {"a": 0, "b": 10, "c": 100}[
                record.scenario] + applied
            assert digest == record.state_hash == await replayed_hash(envs, record)
        print(f"1500 calls over 50 episodes ({on_killed} on the killed worker) with a SIGKILL: {elapsed:.2f} s, "
              f"{len(failures)} failed, "
              f"{manager.rebuilds} rebuilds, killed while {killed['running']}")


async def test_env_code_never_runs_in_the_serving_process(envs: dict[str, EnvDir]) -> None:
    async with farm(envs) as (manager, backend):
        record = await manager.create("hostile")
        result = await manager.call(record, "whoami", {})
        assert not result.is_error and result.output is not None
        worker_pids = {w["pid"] for w in backend.stats()["workers"]}
        assert result.output["pid"] != os.getpid() and result.output["pid"] in worker_pids


async def test_load_errors_are_env_load_errors(envs: dict[str, EnvDir]) -> None:
    async with farm(envs, workers=1) as (manager, backend):
        for bad in ({"count": "many"}, {"count": 1, "bogus": True}):
            with pytest.raises(FarmError) as err:
                await manager.create("hostile", state=bad)
            assert err.value.status == 422 and "invalid State for hostile" in err.value.message
        with pytest.raises(EnvLoadError, match="replaying nope failed"):
            await backend.load("x", "hostile", {"count": 1}, [("nope", {})])
        record = await manager.create("hostile", state={"count": 41})
        assert (await manager.call(record, "bump", {})).output == {"count": 42}


async def test_many_concurrent_episodes_and_cancellation(envs: dict[str, EnvDir]) -> None:
    async with farm(envs) as (manager, backend):
        records = [await manager.create("hostile", "a") for _ in range(1000)]
        start = time.monotonic()

        async def drive(record: EpisodeRecord) -> list[CallResult]:
            return [await manager.call(record, "bump", {}) for _ in range(3)]

        results = await asyncio.gather(*(drive(r) for r in records))
        elapsed = time.monotonic() - start
        assert all(r.output == {"count": i + 1} for rs in results for i, r in enumerate(rs))
        assert backend.stats()["episodes"] == 1000
        print(f"1000 episodes x 3 calls (plus 1000 loads): {elapsed:.2f} s")

        # A caller cancelled while its call waits behind a slow neighbour: the call never runs.
        slow_id, victim_id = ids_on(backend, 0, 2, "cancel")
        slow = await manager.create("hostile", episode_id=slow_id)
        victim = await manager.create("hostile", episode_id=victim_id)
        await manager.call(victim, "bump", {})
        spinning = asyncio.ensure_future(manager.call(slow, "spin", {}))
        await asyncio.sleep(0.2)
        queued = asyncio.ensure_future(manager.call(victim, "bump", {}))
        await asyncio.sleep(0.2)
        queued.cancel()
        assert (await spinning).is_error
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert (await manager.state(victim))[0]["count"] == 1 and victim.journal == [("bump", {})]
        assert (await manager.state(victim))[1] == await replayed_hash(envs, victim)


async def test_episode_lost_right_after_its_rebuild_is_reloaded(envs: dict[str, EnvDir]) -> None:
    async with farm(envs, workers=1) as (manager, backend):
        record = await manager.create("hostile", "b")
        await manager.call(record, "bump", {})
        # the manager's rebuild reached the worker, then a neighbour killed it before the retried call arrived
        await backend.load(record.id, "hostile", envs["hostile"].scenarios["b"].state, record.journal)
        pid = backend.stats()["workers"][0]["pid"]
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.1)
        result = await backend.call(record.id, "bump", {}, 0)  # no EpisodeMissing reaches the manager
        assert result.output == {"count": 12}
        stats = backend.stats()["workers"][0]
        assert stats["restarts"] == 1 and stats["pid"] != pid


async def test_cold_episodes_round_trip_to_the_same_hash(envs: dict[str, EnvDir]) -> None:
    """Beyond the hot set a worker keeps States as compressed JSON; using one again rebuilds the identical State."""
    async with farm(envs, hot_episodes=2) as (manager, backend):
        records = [await manager.create("hostile", "b") for _ in range(12)]
        for i, record in enumerate(records):
            for _ in range(i):
                await manager.call(record, "bump", {})
        for record in records:  # most of them went cold on their worker meanwhile
            state, digest = await manager.state(record)
            assert state["count"] == len(record.journal) + envs["hostile"].scenarios["b"].state["count"]
            assert digest == record.state_hash == await replayed_hash(envs, record)
            assert not (await manager.call(record, "read", {})).is_error
        assert manager.rebuilds == 0, "cold episodes are rehydrated by the worker, not rebuilt by replay"
