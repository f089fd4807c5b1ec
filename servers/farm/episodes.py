"""Episodes as the farm sees them: a scenario (or explicit State) plus a journal of state-changing calls.

The manager in the serving process owns that truth and never runs environment code. A backend holds materialized
States and executes calls: `InlineBackend` in-process (tests, `--workers 0`), `servers.farm.workers.ProcessBackend` in
worker processes. A backend may lose episodes at any time (a worker died, memory was reclaimed): it then answers
`EpisodeMissing`, and the manager rebuilds the episode by replaying its journal and checks the State hash is
the one it had.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from common.errors import EnvfactoryError
from registry.contract import canonical_json
from registry.envdir import EnvDir, EnvLoadError
from servers.runtime.runtime import EnvRuntime, Episode, load_module

log = logging.getLogger("envfactory.episodes")

JournalEntry = tuple[str, dict[str, Any]]


class CallResult(BaseModel):
    """One executed call as the manager needs it: the client-facing outcome plus what it did to the State."""

    is_error: bool
    output: dict[str, Any] | None = None
    error: str | None = None
    internal: bool = False
    changed: bool = False
    state_hash: str = ""
    detail: str | None = Field(default=None, exclude=True)

    def text(self) -> str:
        return (self.error or "error") if self.is_error else json.dumps(self.output, ensure_ascii=False)


class EpisodeMissing(EnvfactoryError):
    """The backend does not hold this episode (never loaded, evicted, or its worker was replaced)."""


class BackendFailure(EnvfactoryError):
    """The call could not complete (timeout, crash of the environment's worker); the episode itself is intact."""


class FarmError(EnvfactoryError):
    """A control-plane request that cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Backend(Protocol):
    async def load(self, episode_id: str, env: str, state: dict[str, Any], journal: list[JournalEntry]) -> str: ...
    async def call(self, episode_id: str, tool: str, arguments: dict[str, Any], max_state_bytes: int) -> CallResult: ...
    async def dump(self, episode_id: str) -> tuple[dict[str, Any], str]: ...
    async def drop(self, episode_id: str) -> None: ...
    async def close(self) -> None: ...


def execute_call(runtime: EnvRuntime, episode: Episode, tool: str, arguments: dict[str, Any],
                 max_state_bytes: int) -> CallResult:
    """Run a call where the State lives (worker or inline), enforcing the State size limit atomically."""
    before = episode.state
    outcome = runtime.call(episode, tool, arguments)
    changed = episode.state is not before
    if changed and max_state_bytes and len(canonical_json(episode.state.model_dump(mode="json"))) > max_state_bytes:
        episode.state = before
        episode.journal.pop()
        return CallResult(is_error=True, error=f"Refused: the State would exceed the farm's limit of "
                          f"{max_state_bytes} bytes", state_hash=episode.state_hash)
    return CallResult(is_error=outcome.is_error, output=outcome.output, error=outcome.error,
                      internal=outcome.internal, changed=changed, state_hash=episode.state_hash,
                      detail=outcome.detail)


def materialize(runtime: EnvRuntime, episode_id: str, state: dict[str, Any], journal: list[JournalEntry]) -> Episode:
    """Build an episode from its initial State and replay its journal (deterministic, so the hash is reproduced)."""
    episode = Episode(id=episode_id, scenario="", state=runtime.build_state(state))
    for tool, arguments in journal:
        outcome = runtime.call(episode, tool, arguments)
        if outcome.is_error:
            raise EnvLoadError(f"replaying {tool} failed: {outcome.error}")
    return episode


class InlineBackend:
    """Executes environment code in this process. For tests and `--workers 0`; no isolation."""

    def __init__(self, envs: dict[str, EnvDir], call_timeout: float = 5.0):
        self.runtimes = {name: EnvRuntime(env, load_module(env), call_timeout) for name, env in envs.items()}
        self.episodes: dict[str, tuple[str, Episode]] = {}

    async def load(self, episode_id: str, env: str, state: dict[str, Any], journal: list[JournalEntry]) -> str:
        episode = materialize(self.runtimes[env], episode_id, state, journal)
        self.episodes[episode_id] = (env, episode)
        return episode.state_hash

    def _get(self, episode_id: str) -> tuple[str, Episode]:
        try:
            return self.episodes[episode_id]
        except KeyError:
            raise EpisodeMissing(episode_id) from None

    async def call(self, episode_id: str, tool: str, arguments: dict[str, Any], max_state_bytes: int) -> CallResult:
        env, episode = self._get(episode_id)
        return execute_call(self.runtimes[env], episode, tool, arguments, max_state_bytes)

    async def dump(self, episode_id: str) -> tuple[dict[str, Any], str]:
        _, episode = self._get(episode_id)
        return episode.state.model_dump(mode="json"), episode.state_hash

    async def drop(self, episode_id: str) -> None:
        self.episodes.pop(episode_id, None)

    async def close(self) -> None:
        self.episodes.clear()


@dataclass
class Snapshot:
    id: str
    state: dict[str, Any]
    state_hash: str
    created: float


@dataclass
class EpisodeRecord:
    """The manager's truth about one episode: where it started, what its journal replays from, and the journal.

    `origin` is the explicit State it was created with (None: its scenario's State). `base` is what the journal
    replays from: None after a reset (the origin), a snapshot's State after a restore.
    """

    id: str
    env: str
    scenario: str
    origin: dict[str, Any] | None = None
    origin_hash: str = ""
    base: dict[str, Any] | None = None
    journal: list[JournalEntry] = field(default_factory=list)
    state_hash: str = ""
    seed: int | None = None
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    calls: int = 0
    errors: int = 0
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "env": self.env, "scenario": self.scenario, "explicit_state": self.origin is not None,
                "state_hash": self.state_hash, "seed": self.seed, "calls": self.calls, "errors": self.errors,
                "journal_length": len(self.journal), "created": self.created, "last_used": self.last_used,
                "snapshots": sorted(self.snapshots)}


class Limits(BaseModel):
    max_episodes: int = 100_000
    max_state_bytes: int = 8 * 1024 * 1024
    ttl_seconds: float = 3600.0
    max_snapshots_per_episode: int = 64


class EpisodeManager:
    """Create, call, read, reset, snapshot, restore, delete and expire episodes over a backend."""

    def __init__(self, envs: dict[str, EnvDir], backend: Backend, limits: Limits | None = None,
                 clock: Callable[[], float] = time.time):
        self.envs = envs
        self.backend = backend
        self.limits = limits or Limits()
        self.clock = clock
        self.episodes: dict[str, EpisodeRecord] = {}
        self._scenario_hashes: dict[tuple[str, str], str] = {}
        self.rebuilds = 0

    # --- lifecycle -------------------------------------------------------------------------------------------
    def _env(self, env: str) -> EnvDir:
        if env not in self.envs:
            raise FarmError(404, f"unknown environment {env!r} (farm hosts: {', '.join(sorted(self.envs))})")
        return self.envs[env]

    def _initial_state(self, record: EpisodeRecord) -> dict[str, Any]:
        if record.base is not None:
            return record.base
        if record.origin is not None:
            return record.origin
        return self.envs[record.env].scenarios[record.scenario].state

    def _check_scenario(self, env: str, scenario: str | None) -> str:
        spec = self._env(env).spec
        name = scenario or spec.initial_scenario
        if name not in spec.scenarios:
            raise FarmError(404, f"unknown scenario {name!r} for {env} (known: {', '.join(spec.scenarios)})")
        return name

    async def scenario_hash(self, env: str, scenario: str) -> str:
        """State hash of a scenario, computed once by the backend (State defaults live in env code)."""
        key = (env, scenario)
        if key not in self._scenario_hashes:
            probe = f"_probe:{env}:{scenario}:{secrets.token_hex(4)}"
            try:
                state = self.envs[env].scenarios[scenario].state
                self._scenario_hashes[key] = await self.backend.load(probe, env, state, [])
            finally:
                await self.backend.drop(probe)
        return self._scenario_hashes[key]

    async def create(self, env: str, scenario: str | None = None, state: dict[str, Any] | None = None,
                     seed: int | None = None, episode_id: str | None = None) -> EpisodeRecord:
        # an explicit State still records a scenario name: the one it is reset to when asked for "its scenario"
        name = self._check_scenario(env, scenario)
        if len(self.episodes) >= self.limits.max_episodes:
            raise FarmError(503, f"the farm holds its maximum of {self.limits.max_episodes} episodes; delete some "
                                 "or wait for idle ones to expire")
        episode_id = episode_id or f"ep_{secrets.token_hex(8)}"
        if episode_id in self.episodes:
            raise FarmError(409, f"episode {episode_id!r} already exists")
        record = EpisodeRecord(id=episode_id, env=env, scenario=name, seed=seed, created=self.clock(),
                               last_used=self.clock())
        if state is not None:
            self._check_size(state)
            try:
                record.state_hash = await self.backend.load(episode_id, env, state, [])
            except EnvLoadError as exc:
                raise FarmError(422, f"invalid State for {env}: {exc}") from None
            record.origin = state
        else:
            record.state_hash = await self.scenario_hash(env, name)
        record.origin_hash = record.state_hash
        self.episodes[episode_id] = record
        return record

    def _check_size(self, state: dict[str, Any]) -> None:
        size = len(canonical_json(state))
        if size > self.limits.max_state_bytes:
            raise FarmError(413, f"State is {size} bytes; the farm's limit is {self.limits.max_state_bytes}")

    def get(self, episode_id: str) -> EpisodeRecord:
        try:
            return self.episodes[episode_id]
        except KeyError:
            raise FarmError(404, f"unknown episode {episode_id!r}") from None

    async def get_or_create(self, episode_id: str, env: str, scenario: str | None = None) -> EpisodeRecord:
        """The named episode, created from `scenario` the first time an MCP request names it."""
        record = self.episodes.get(episode_id)
        if record is None:
            return await self.create(env, scenario, episode_id=episode_id)
        if record.env != env:
            raise FarmError(409, f"episode {episode_id!r} belongs to environment {record.env!r}, not {env!r}")
        return record

    async def _ensure_loaded(self, record: EpisodeRecord) -> None:
        rebuilt = await self.backend.load(record.id, record.env, self._initial_state(record), record.journal)
        self.rebuilds += bool(record.journal)
        if record.state_hash and rebuilt != record.state_hash:
            log.error("episode %s rebuilt to %s, expected %s", record.id, rebuilt, record.state_hash)
            raise FarmError(500, f"episode {record.id} could not be rebuilt to its last State")
        record.state_hash = rebuilt

    async def _with_episode(self, record: EpisodeRecord, op: Callable[[], Any], attempts: int = 3) -> Any:
        """Run `op`; when the backend has lost the episode, rebuild it and try again (a neighbour's crash can
        cost it again between the rebuild and the retry, hence a few attempts)."""
        for _ in range(attempts - 1):
            try:
                return await op()
            except EpisodeMissing:
                await self._ensure_loaded(record)
        return await op()

    # --- operations ------------------------------------------------------------------------------------------
    async def call(self, record: EpisodeRecord, tool: str, arguments: dict[str, Any]) -> CallResult:
        async with record.lock:
            record.last_used = self.clock()
            record.calls += 1
            try:
                result: CallResult = await self._with_episode(
                    record, lambda: self.backend.call(record.id, tool, arguments, self.limits.max_state_bytes))
            except BackendFailure as exc:
                record.errors += 1
                return CallResult(is_error=True, error=str(exc), internal=True, state_hash=record.state_hash)
            if result.is_error:
                record.errors += 1
            if result.changed:
                record.journal.append((tool, arguments))
            record.state_hash = result.state_hash
            return result

    async def state(self, record: EpisodeRecord) -> tuple[dict[str, Any], str]:
        async with record.lock:
            return await self._with_episode(record, lambda: self.backend.dump(record.id))

    async def reset(self, record: EpisodeRecord, scenario: str | None = None) -> EpisodeRecord:
        """Back to the State the episode started from, or to another scenario's."""
        async with record.lock:
            if scenario is not None:
                record.scenario = self._check_scenario(record.env, scenario)
                record.origin = None
                record.origin_hash = await self.scenario_hash(record.env, record.scenario)
            record.base, record.journal = None, []
            record.state_hash = record.origin_hash
            await self.backend.drop(record.id)
            record.last_used = self.clock()
            return record

    async def snapshot(self, record: EpisodeRecord) -> Snapshot:
        if len(record.snapshots) >= self.limits.max_snapshots_per_episode:
            raise FarmError(409, f"episode {record.id} already has {len(record.snapshots)} snapshots (the limit); "
                                 "delete one first")
        state, digest = await self.state(record)
        snap = Snapshot(id=f"snap_{secrets.token_hex(6)}", state=state, state_hash=digest, created=self.clock())
        record.snapshots[snap.id] = snap
        return snap

    async def restore(self, record: EpisodeRecord, snapshot_id: str) -> EpisodeRecord:
        snap = record.snapshots.get(snapshot_id)
        if snap is None:
            raise FarmError(404, f"episode {record.id} has no snapshot {snapshot_id!r}")
        async with record.lock:
            record.base, record.journal, record.state_hash = snap.state, [], snap.state_hash
            await self.backend.drop(record.id)
            record.last_used = self.clock()
        return record

    async def delete(self, episode_id: str) -> None:
        record = self.get(episode_id)
        self.episodes.pop(episode_id, None)
        await self.backend.drop(record.id)

    def list(self, env: str | None = None, scenario: str | None = None) -> builtins.list[EpisodeRecord]:
        return [r for r in self.episodes.values()
                if (env is None or r.env == env) and (scenario is None or r.scenario == scenario)]

    async def expire(self) -> builtins.list[str]:
        """Delete episodes idle for longer than the TTL; returns their ids."""
        cutoff = self.clock() - self.limits.ttl_seconds
        idle = [r.id for r in self.episodes.values() if r.last_used < cutoff and not r.lock.locked()]
        for episode_id in idle:
            await self.delete(episode_id)
        return idle

