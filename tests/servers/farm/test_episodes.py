"""The episode manager: journal-backed episodes over a backend that may lose them at any time."""

from __future__ import annotations

import pytest

from registry.envdir import load_env_dir
from servers.farm.episodes import EpisodeManager, FarmError, InlineBackend, Limits
from tests.conftest import NOTES


@pytest.fixture
def manager() -> EpisodeManager:
    envs = {"notes": load_env_dir(NOTES)}
    return EpisodeManager(envs, InlineBackend(envs), Limits(max_episodes=5, max_state_bytes=4000))


async def test_isolation_reset_snapshot_restore(manager: EpisodeManager) -> None:
    a = await manager.create("notes", "small")
    b = await manager.create("notes", "small")
    start = a.state_hash
    assert start == b.state_hash
    res = await manager.call(a, "create_note", {"title": "only a"})
    assert not res.is_error and res.changed and a.journal == [("create_note", {"title": "only a"})]
    assert b.state_hash == start and len((await manager.state(b))[0]["notes"]) == 2

    snap = await manager.snapshot(a)
    await manager.call(a, "delete_note", {"note_id": "note_0001"})
    assert (await manager.restore(a, snap.id)).state_hash == snap.state_hash
    assert (await manager.state(a))[1] == snap.state_hash
    await manager.reset(a)
    assert a.state_hash == start and (await manager.state(a))[1] == start and a.journal == []
    await manager.reset(a, "empty")
    assert (await manager.state(a))[0]["notes"] == {}


async def test_lost_episodes_are_rebuilt_from_the_journal(manager: EpisodeManager) -> None:
    ep = await manager.create("notes", "empty")
    for title in ("one", "two", "three"):
        await manager.call(ep, "create_note", {"title": title})
    await manager.call(ep, "list_notes", {})  # reads are not journaled
    before = ep.state_hash
    manager.backend.episodes.clear()  # type: ignore[attr-defined]  # what a dead worker looks like
    state, digest = await manager.state(ep)
    assert digest == before and len(state["notes"]) == 3 and len(ep.journal) == 3 and manager.rebuilds == 1


async def test_limits_and_clear_errors(manager: EpisodeManager) -> None:
    with pytest.raises(FarmError) as err:
        await manager.create("nope")
    assert err.value.status == 404 and "unknown environment 'nope'" in err.value.message
    with pytest.raises(FarmError) as err:
        await manager.create("notes", "huge")
    assert err.value.status == 404 and "unknown scenario" in err.value.message
    with pytest.raises(FarmError) as err:
        await manager.create("notes", state={"notes": {"x": {"id": "x"}}})
    assert err.value.status == 422
    with pytest.raises(FarmError) as err:
        await manager.create("notes", state={"notes": {}, "now": "x" * 5000})
    assert err.value.status == 413
    ep = await manager.create("notes", "empty")
    refused = await manager.call(ep, "create_note", {"title": "t", "body": "y" * 5000})
    assert refused.is_error and "limit of 4000 bytes" in (refused.error or "") and ep.journal == []
    for _ in range(4):
        await manager.create("notes")
    with pytest.raises(FarmError) as err:
        await manager.create("notes")
    assert err.value.status == 503


async def test_idle_episodes_expire() -> None:
    now = [1000.0]
    envs = {"notes": load_env_dir(NOTES)}
    manager = EpisodeManager(envs, InlineBackend(envs), Limits(ttl_seconds=60), clock=lambda: now[0])
    old = await manager.create("notes")
    now[0] += 50
    fresh = await manager.create("notes")
    now[0] += 30
    await manager.call(old, "list_notes", {})  # touching keeps it alive
    now[0] += 35
    assert await manager.expire() == [fresh.id]
    assert [r.id for r in manager.list()] == [old.id]
