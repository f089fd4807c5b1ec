"""The farm: one FastAPI app hosting every catalog environment over MCP, with isolated episodes and a control plane.

Routes
  /envs/<name>/mcp      the environment's shared MCP endpoint (streamable HTTP, both protocol eras)
  /episodes/<id>/mcp    the same server, bound to one episode by URL (any MCP client can be pointed at it)
  /api/...              control plane (HTTP only, never MCP tools; bearer token when configured)
  /health, /metrics     liveness (open) and Prometheus metrics (token when configured)

Episode resolution for a tools/call, first match wins: the URL (/episodes/<id>/mcp), the request's
`_meta["envfactory/episode"]` (created on first use from `_meta["envfactory/scenario"]` or the default scenario), else
the environment's playground: `playground:<env>` for sessionless 2026-07-28 requests, `playground:<env>:<session>` for
each legacy 2025-11-25 session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from mcp import types
from mcp.server.lowlevel import Server
from pydantic import BaseModel, Field

from common.errors import EnvfactoryError
from registry.envdir import EnvDir
from registry.wire import META_EPISODE, META_SCENARIO, META_STATE_HASH
from servers.farm.api import ErrorBody, control_plane, token_guard
from servers.farm.episodes import Backend, EpisodeManager, EpisodeRecord, FarmError, InlineBackend, Limits
from servers.farm.metrics import CONTENT_TYPE, FarmMetrics
from servers.farm.workers import ProcessBackend
from servers.runtime.mcp_server import (
    LOOPBACK_HOSTS,
    env_server,
    error_result,
    result_of,
    transport_security,
)

log = logging.getLogger("envfactory.farm")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_EPISODE = "envfactory.episode"  # set by the /episodes/<id>/mcp dispatcher, read back from ctx.request.scope
EPISODE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")  # client-chosen ids must be usable in /episodes/<id>/mcp
PLAYGROUND = "playground"


class FarmConfigError(EnvfactoryError, ValueError):
    """The farm's settings are unsafe or inconsistent; the message says what to change."""


class FarmSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    workers: int = Field(default=0, ge=0, description="Worker processes (0: environment code runs in-process).")
    token: str | None = Field(default=None, description="Bearer token for /api and /metrics (--token, "
                                                         "ENVFACTORY_TOKEN). Required to bind a non-loopback host.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Extra Host values ('name:*' for any port).")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    limits: Limits = Field(default_factory=Limits)
    expire_interval: float = Field(default=30.0, gt=0)
    manage_backend: bool = Field(default=True, description="The app lifespan starts (if it can) and closes the "
                                                            "manager's backend.")

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def check_bind(self) -> None:
        if not self.is_loopback() and not self.token:
            raise FarmConfigError(
                f"refusing to serve on non-loopback host {self.host!r} without a token: the control plane would be "
                "open to the network. Pass --token (or set ENVFACTORY_TOKEN), or bind 127.0.0.1.")

    def host_patterns(self) -> list[str]:
        """Accepted Host header values: loopback, the bound address itself, and the explicitly allowed ones."""
        extra = list(self.allowed_hosts)
        if not self.is_loopback() and self.host not in ("0.0.0.0", "::", ""):
            extra.append(f"[{self.host}]:*" if ":" in self.host else f"{self.host}:*")
        return list(dict.fromkeys(extra))


def host_allowed(host: str | None, patterns: list[str]) -> bool:
    """Exact match, or `name:*` for any port (the MCP SDK's TransportSecuritySettings semantics)."""
    if not host:
        return False
    for pattern in patterns:
        if host == pattern:
            return True
        if pattern.endswith(":*") and host.startswith(pattern[:-1]) and host[len(pattern) - 1:].isdigit():
            return True
    return False


def _json_response(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status_code=status, media_type="application/json")


class FarmGuard:
    """Pure ASGI middleware (so SSE streams are untouched): request body limit (413) on every route, Host check
    (421) on every route except /health. MCP routes additionally get the SDK's own Host/Origin validation."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, host_patterns: list[str]):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.host_patterns = host_patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope.get("path") != "/health" and not host_allowed(headers.get("host"), self.host_patterns):
            await _json_response(421, "Invalid Host header")(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _json_response(400, "invalid Content-Length")(scope, receive, send)
                return
            if int(length) > self.max_body_bytes:
                await _json_response(413, f"request body exceeds {self.max_body_bytes} bytes")(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if "chunked" not in headers.get("transfer-encoding", ""):
            await self.app(scope, receive, send)
            return
        # no declared length: read the (bounded) body first, then replay it to the app
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await _json_response(413, f"request body exceeds {self.max_body_bytes} bytes")(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class EpisodeDispatcher:
    """ASGI app mounted at /episodes: `/<id>/mcp` runs the episode's environment app with the id in the scope."""

    def __init__(self, manager: EpisodeManager, apps: dict[str, ASGIApp]):
        self.manager = manager
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path: str = scope["path"]
        rel = path[len(root):] if root and path.startswith(root) else path
        parts = rel.split("/", 2)  # "", id, "mcp..."
        if len(parts) < 3 or not parts[2].startswith("mcp"):
            await _json_response(404, "not found: use /episodes/<id>/mcp")(scope, receive, send)
            return
        episode_id = parts[1]
        record = self.manager.episodes.get(episode_id)
        if record is None or record.env not in self.apps:
            await _json_response(404, f"unknown episode {episode_id!r}")(scope, receive, send)
            return
        child = dict(scope)
        child["root_path"] = f"{root}/{episode_id}"  # the env app now sees /mcp
        child[SCOPE_EPISODE] = episode_id
        await self.apps[record.env](child, receive, send)


def _request_scope(ctx: Any) -> MutableMapping[str, Any]:
    request = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, MutableMapping) else {}


def _session_id(ctx: Any) -> str | None:
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    return headers.get("mcp-session-id") if headers is not None else None


class EpisodeRouter:
    """Turns one tools/call into the episode it runs in (see the module docstring for the order)."""

    def __init__(self, env: str, manager: EpisodeManager):
        self.env = env
        self.manager = manager

    async def resolve(self, ctx: Any) -> EpisodeRecord:
        by_url = _request_scope(ctx).get(SCOPE_EPISODE)
        if by_url is not None:
            record = self.manager.get(by_url)
            if record.env != self.env:
                raise FarmError(409, f"episode {by_url!r} belongs to environment {record.env!r}")
            return record
        meta = dict(ctx.meta or {})
        named = meta.get(META_EPISODE)
        if named is not None:
            if not isinstance(named, str) or not EPISODE_ID.match(named):
                raise FarmError(400, f"_meta {META_EPISODE} must be 1-128 characters of A-Z a-z 0-9 _ . -")
            scenario = meta.get(META_SCENARIO)
            if scenario is not None and not isinstance(scenario, str):
                raise FarmError(400, f"_meta {META_SCENARIO} must be a string")
            return await self._get_or_create(named, scenario)
        session = _session_id(ctx)
        return await self._get_or_create(f"{PLAYGROUND}:{self.env}" + (f":{session}" if session else ""), None)

    async def _get_or_create(self, episode_id: str, scenario: str | None) -> EpisodeRecord:
        try:
            return await self.manager.get_or_create(episode_id, self.env, scenario)
        except FarmError as exc:
            # two first uses of one id raced (create awaits the backend before it registers the episode)
            raced = self.manager.episodes.get(episode_id)
            if exc.status == 409 and raced is not None and raced.env == self.env:
                return raced
            raise


def build_env_server(env: EnvDir, manager: EpisodeManager, metrics: FarmMetrics) -> Server[Any]:
    """One lowlevel MCP server per environment (not per episode): the spec's tools, calls routed to episodes."""
    router = EpisodeRouter(env.name, manager)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        started = time.perf_counter()
        try:
            record = await router.resolve(ctx)
        except FarmError as exc:
            metrics.observe(env.name, params.name, time.perf_counter() - started, True)
            return error_result(exc.message)
        result = await manager.call(record, params.name, dict(params.arguments or {}))
        metrics.observe(env.name, params.name, time.perf_counter() - started, result.is_error)
        # the error text only, never `detail`: that stays in the logs
        return result_of(result.is_error, result.text(), result.output,
                         {META_EPISODE: record.id, META_STATE_HASH: result.state_hash})

    return env_server(env.spec, on_call_tool)


class Health(BaseModel):
    ok: bool
    envs: list[str]
    episodes: int
    workers: int


async def _expire_loop(manager: EpisodeManager, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            expired = await manager.expire()
        except Exception:  # keep expiring on the next tick; one bad episode must not stop the loop
            log.exception("episode expiry failed")
            continue
        if expired:
            log.info("expired %d idle episode(s)", len(expired))


class FarmApp:
    """The front door. MCP paths go straight to their server apps through the guard; everything else (the control
    plane, /health, /metrics, /docs, and the ASGI lifespan) goes to the FastAPI app.

    The MCP hot path thus skips FastAPI's middleware stack and route scan, which serve only the control plane.
    """

    def __init__(self, api: FastAPI, env_apps: dict[str, ASGIApp], episodes: ASGIApp, guard: dict[str, Any]):
        self.api = api
        self.env_apps = env_apps
        self.episodes = episodes
        self._mcp = FarmGuard(self._route, **guard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path.startswith("/envs/") or path.startswith("/episodes/")):
            await self._mcp(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        prefix = "/episodes" if path.startswith("/episodes/") else "/envs/" + path[len("/envs/"):].split("/", 1)[0]
        app = self.episodes if prefix == "/episodes" else self.env_apps.get(prefix[len("/envs/"):])
        if app is None:
            await _json_response(404, f"no environment at {prefix}")(scope, receive, send)
            return
        # what a Starlette Mount does: the child app routes on the path below root_path
        await app({**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send)


def build_farm_app(envs: dict[str, EnvDir], manager: EpisodeManager, settings: FarmSettings,
                   extra_servers: dict[str, Any] | None = None) -> FarmApp:
    settings.check_bind()
    extra_servers = extra_servers or {}
    clash = set(envs) & set(extra_servers)
    if clash:
        raise FarmConfigError(f"extra servers clash with environments: {', '.join(sorted(clash))}")
    metrics = FarmMetrics(manager, {name: {t.name for t in env.spec.tools} for name, env in envs.items()})
    security = transport_security([*settings.host_patterns()])

    servers: dict[str, Any] = {name: build_env_server(env, manager, metrics) for name, env in envs.items()}
    servers.update(extra_servers)
    # SSE responses for legacy clients (the protocol default, and what conformance's server-sse-polling expects);
    # 2026-07-28 requests are answered with one JSON body either way.
    subapps: dict[str, ASGIApp] = {
        name: server.streamable_http_app(streamable_http_path="/mcp", json_response=False,
                                         max_request_body_size=settings.max_body_bytes, transport_security=security)
        for name, server in servers.items()
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            backend = manager.backend
            if settings.manage_backend:
                start = getattr(backend, "start", None)
                if callable(start):
                    await start()
                stack.push_async_callback(backend.close)
            for server in servers.values():  # mounted sub-app lifespans never run: enter every manager here
                await stack.enter_async_context(server.session_manager.run())
            expiry = asyncio.create_task(_expire_loop(manager, settings.expire_interval), name="farm-expire")
            try:
                yield
            finally:
                expiry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await expiry

    app = FastAPI(title="envfactory farm", version="0.1.0", debug=False, lifespan=lifespan,
                  description="Every catalog environment over MCP (/envs/<name>/mcp, /episodes/<id>/mcp) and the "
                              "episode control plane (/api).")
    app.state.manager = manager
    app.state.metrics = metrics
    app.state.settings = settings

    @app.exception_handler(FarmError)
    async def farm_error(request: Request, exc: FarmError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"invalid request: {where}: {first.get('msg', 'invalid')}" if errors else "invalid request"
        return JSONResponse({"error": message, "detail": json.loads(json.dumps(errors, default=str))},
                            status_code=422)

    require = token_guard(settings.token)
    app.include_router(control_plane(envs, manager, require))

    @app.get("/health", response_model=Health, tags=["ops"])
    async def health() -> Health:
        """Liveness; open without the token (it names the environments and counts episodes, nothing more)."""
        workers = getattr(manager.backend, "workers", 0)  # InlineBackend: none, environment code runs here
        return Health(ok=True, envs=sorted(envs), episodes=len(manager.episodes),
                      workers=workers if isinstance(workers, int) else 0)

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(require)],
             responses={200: {"content": {CONTENT_TYPE: {}}}, 401: {"model": ErrorBody}})
    async def metrics_route() -> Response:
        """Prometheus text format; requires the token when one is configured."""
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    dispatcher = EpisodeDispatcher(manager, {n: subapps[n] for n in envs})
    guard: dict[str, Any] = {"max_body_bytes": settings.max_body_bytes,
                             "host_patterns": [*LOOPBACK_HOSTS, *settings.host_patterns()]}
    app.add_middleware(FarmGuard, **guard)
    return FarmApp(app, subapps, dispatcher, guard)


def make_backend(envs: dict[str, EnvDir], workers: int, call_timeout: float = 5.0,
                 memory_limit_bytes: int | None = None) -> Backend:
    """ProcessBackend with `workers` processes, or InlineBackend (environment code in this process) for 0."""
    if workers > 0:
        kwargs: dict[str, Any] = {"workers": workers, "call_timeout": call_timeout}
        if memory_limit_bytes is not None:
            kwargs["memory_limit_bytes"] = memory_limit_bytes
        return ProcessBackend(envs, **kwargs)
    return InlineBackend(envs, call_timeout=call_timeout)


def serve_farm(envs: dict[str, EnvDir], settings: FarmSettings,
               on_ready: Callable[[str], None] | None = None) -> None:
    """Run the farm with uvicorn until interrupted (access log off, no debug)."""
    import uvicorn

    settings.check_bind()
    backend = make_backend(envs, settings.workers)
    manager = EpisodeManager(envs, backend, settings.limits)
    app = build_farm_app(envs, manager, settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            server_header=False, proxy_headers=False)
    server = uvicorn.Server(config)
    if on_ready:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        on_ready(f"http://{host}:{settings.port}")
    server.run()
