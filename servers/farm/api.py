"""The farm's control plane: plain HTTP under /api (never MCP tools), with pydantic models so /docs describes it."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from registry.catalog import CatalogSummary, entry
from registry.envdir import EnvDir
from servers.farm.episodes import EpisodeManager, EpisodeRecord, FarmError


class ErrorBody(BaseModel):
    error: str


class CreateEpisode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: str = Field(description="Catalog environment name.")
    scenario: str | None = Field(default=None, description="Scenario to start from (default: the env's initial one).")
    state: dict[str, Any] | None = Field(default=None, description="Explicit initial State instead of a scenario's.")
    seed: int | None = Field(default=None, description="Recorded with the episode (environments are deterministic).")


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str | None = Field(default=None, description="Reset to this scenario instead of the episode's origin.")


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot_id: str


class EpisodeInfo(BaseModel):
    id: str
    env: str
    scenario: str
    state_hash: str
    mcp_url: str = Field(description="Streamable HTTP endpoint bound to this episode; point any MCP client at it.")
    explicit_state: bool
    seed: int | None
    calls: int
    errors: int
    journal_length: int
    created: float
    last_used: float
    snapshots: list[str]


class EpisodeList(BaseModel):
    episodes: list[EpisodeInfo]


class StateResponse(BaseModel):
    state: dict[str, Any]
    state_hash: str


class SnapshotInfo(BaseModel):
    snapshot_id: str
    state_hash: str
    episode: str


class Deleted(BaseModel):
    deleted: str


class EnvInfo(CatalogSummary):
    mcp_url: str = Field(description="Shared endpoint; name an episode with _meta envfactory/episode.")


class EnvDetail(BaseModel):
    env: EnvInfo
    spec: dict[str, Any]
    tools: list[dict[str, Any]]
    scenarios: dict[str, Any]
    report: dict[str, Any] | None


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def episode_info(record: EpisodeRecord, request: Request) -> EpisodeInfo:
    return EpisodeInfo(mcp_url=f"{base_url(request)}/episodes/{record.id}/mcp", **record.summary())


def env_info(env: EnvDir, request: Request) -> EnvInfo:
    data = entry(env).model_dump(exclude={"path"})  # the server's filesystem layout is nobody's business
    return EnvInfo(mcp_url=f"{base_url(request)}/envs/{env.name}/mcp", **data)


def token_guard(token: str | None) -> Callable[..., None]:
    """A dependency that requires `Authorization: Bearer <token>` when a token is configured (constant-time)."""
    bearer = HTTPBearer(auto_error=False, description="The farm token (--token / ENVFACTORY_TOKEN).")
    expected = token.encode() if token else None

    def require(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if expected is None:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected):
            raise FarmError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    return require


ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 404, 409, 413, 422, 503)}


def control_plane(envs: dict[str, EnvDir], manager: EpisodeManager, require: Callable[..., None]) -> APIRouter:
    api = APIRouter(prefix="/api", dependencies=[Depends(require)], responses=ERRORS)

    @api.post("/episodes", response_model=EpisodeInfo, status_code=201, tags=["episodes"])
    async def create_episode(body: CreateEpisode, request: Request) -> EpisodeInfo:
        """Create an episode from a scenario (or an explicit State) and get its MCP URL."""
        record = await manager.create(body.env, body.scenario, body.state, body.seed)
        return episode_info(record, request)

    @api.get("/episodes", response_model=EpisodeList, tags=["episodes"])
    async def list_episodes(request: Request, env: str | None = None, scenario: str | None = None) -> EpisodeList:
        return EpisodeList(episodes=[episode_info(r, request) for r in manager.list(env, scenario)])

    @api.get("/episodes/{episode_id}", response_model=EpisodeInfo, tags=["episodes"])
    async def get_episode(episode_id: str, request: Request) -> EpisodeInfo:
        return episode_info(manager.get(episode_id), request)

    @api.get("/episodes/{episode_id}/state", response_model=StateResponse, tags=["episodes"])
    async def get_state(episode_id: str) -> StateResponse:
        state, digest = await manager.state(manager.get(episode_id))
        return StateResponse(state=state, state_hash=digest)

    @api.post("/episodes/{episode_id}/reset", response_model=EpisodeInfo, tags=["episodes"])
    async def reset_episode(episode_id: str, request: Request, body: ResetRequest | None = None) -> EpisodeInfo:
        """Back to the State the episode started from, or to another scenario's."""
        record = await manager.reset(manager.get(episode_id), body.scenario if body else None)
        return episode_info(record, request)

    @api.post("/episodes/{episode_id}/snapshots", response_model=SnapshotInfo, status_code=201, tags=["episodes"])
    async def snapshot_episode(episode_id: str) -> SnapshotInfo:
        snap = await manager.snapshot(manager.get(episode_id))
        return SnapshotInfo(snapshot_id=snap.id, state_hash=snap.state_hash, episode=episode_id)

    @api.post("/episodes/{episode_id}/restore", response_model=EpisodeInfo, tags=["episodes"])
    async def restore_episode(episode_id: str, body: RestoreRequest, request: Request) -> EpisodeInfo:
        record = await manager.restore(manager.get(episode_id), body.snapshot_id)
        return episode_info(record, request)

    @api.delete("/episodes/{episode_id}", response_model=Deleted, tags=["episodes"])
    async def delete_episode(episode_id: str) -> Deleted:
        await manager.delete(episode_id)
        return Deleted(deleted=episode_id)

    @api.get("/envs", response_model=list[EnvInfo], tags=["environments"])
    async def list_envs(request: Request) -> list[EnvInfo]:
        return [env_info(envs[name], request) for name in sorted(envs)]

    @api.get("/envs/{name}", response_model=EnvDetail, tags=["environments"])
    async def get_env(name: str, request: Request) -> EnvDetail:
        if name not in envs:
            raise FarmError(404, f"unknown environment {name!r} (farm hosts: {', '.join(sorted(envs))})")
        env = envs[name]
        spec = env.spec.model_dump(mode="json", by_alias=True)
        report = env.report()
        return EnvDetail(env=env_info(env, request), spec=spec, tools=spec.get("tools", []),
                         scenarios={n: s.model_dump(mode="json") for n, s in env.scenarios.items()},
                         report=report.model_dump(mode="json") if report else None)

    return api
