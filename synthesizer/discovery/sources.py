"""Server sources -> connected MCP servers with their tools (and scenario names, for catalog environments).

Sources: an mcp.json file (`mcpServers`, or VS Code `servers`; stdio entries with command/args/env/cwd, HTTP entries
with url), a list of streamable-HTTP URLs, an env farm (`GET <farm>/api/envs` -> one `<farm>/envs/<name>/mcp` per
environment), or by default the registry catalog exported as an mcp.json document.

Discovery (`tools/list`, server identity) always goes through the SDK `Client`. Tool calls go through
`ConnectedServer.caller`: for HTTP sources the thin `RolloutClient` (raw 2026-07-28 JSON-RPC over one shared
`httpx2.AsyncClient`), for stdio the SDK client.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO
from urllib.parse import quote, urlparse

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CONNECTION_CLOSED
from pydantic import BaseModel, Field

from registry import mcpconfig
from registry.catalog import verified_envs
from registry.contract import canonical_json, sha256_text
from registry.envdir import EnvLoadError, catalog_roots, env_dirs, load_env_dir
from synthesizer.discovery.fastclient import RolloutClient
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError

CALL_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0
TOKEN_ENV = "ENVFACTORY_TOKEN"


class ServerSource(BaseModel):
    """How to reach one server: a stdio command or a streamable-HTTP URL."""

    name: str
    transport: Literal["stdio", "http"]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    token: str | None = Field(default=None, repr=False)  # bearer token for HTTP requests (farm sources)
    scenarios: list[str] | None = None  # scenario names the source announced (farm); None: look up the catalog
    env_hash: str | None = None  # content hash the source announced (farm), if any

    def where(self) -> str:
        if self.transport == "http":
            return f"at {self.url}"
        return "launched with " + " ".join([self.command or "", *self.args]).strip()


class ServerInfo(BaseModel):
    """What discovery learned about a server: identity, tools, scenario names (catalog environments only)."""

    name: str
    transport: Literal["stdio", "http"]
    server_name: str
    version: str
    description: str = ""
    tools: list[ToolInfo]
    scenarios: list[str] = Field(default_factory=list)
    env_hash: str | None = None  # content hash of the catalog environment (its verification report's key)
    tools_hash: str = ""


class ToolCaller(Protocol):
    """What rollouts need: the SDK `Client` and `RolloutClient` both fit (results expose is_error, content,
    structured_content, meta)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], *, meta: dict[str, Any] | None = None) -> Any:
        ...


class ConnectedServer:
    """A live MCP client plus its ServerInfo. Only valid inside `connect_all`.

    `client` is the SDK client used for discovery; `caller` makes the rollout tool calls (the thin client when
    one was given, otherwise `client`)."""

    def __init__(self, source: ServerSource, client: Any, info: ServerInfo, fast: RolloutClient | None = None):
        self.source = source
        self.client = client
        self.info = info
        self.fast = fast

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def caller(self) -> ToolCaller:
        return self.fast if self.fast is not None else self.client


# --- sources ---------------------------------------------------------------------------------------------------------


def name_from_url(url: str) -> str:
    """`/envs/shop/mcp` -> `shop`; `/shop/mcp` -> `shop`; otherwise `host_port`."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SynthError(f"not an http(s) URL: {url!r}")
    parts = [p for p in parsed.path.split("/") if p]
    if parts and parts[-1] == "mcp":
        parts = parts[:-1]
    if len(parts) >= 2 and parts[-2] in ("envs", "episodes"):
        return _clean(parts[-1])
    if parts and parts[-1] not in ("envs", "episodes", "api"):
        return _clean(parts[-1])
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return _clean(f"{parsed.hostname}_{port}")


def _clean(name: str) -> str:
    """A server name fit to prefix tool names (`<server>__<tool>`, OpenAI allows [A-Za-z0-9_-])."""
    return re.sub(r"_{2,}", "_", re.sub(r"[^A-Za-z0-9_-]+", "_", name)).strip("_") or "server"


def sources_from_urls(urls: list[str]) -> list[ServerSource]:
    return [ServerSource(name=name_from_url(u), transport="http", url=u) for u in urls]


def sources_from_config(doc: Any, origin: str) -> list[ServerSource]:
    """Entries of an mcp.json document (`mcpServers` or VS Code `servers`)."""
    if not isinstance(doc, dict):
        raise SynthError(f"{origin}: expected a JSON object with 'mcpServers' or 'servers'")
    servers = doc.get("mcpServers", doc.get("servers"))
    if not isinstance(servers, dict):
        raise SynthError(f"{origin}: no 'mcpServers' (or VS Code 'servers') object")
    sources: list[ServerSource] = []
    for raw_name, entry in servers.items():
        name = _clean(str(raw_name))
        if not isinstance(entry, dict):
            raise SynthError(f"{origin}: server {name!r} is not an object")
        if entry.get("url"):
            sources.append(ServerSource(name=name, transport="http", url=str(entry["url"])))
        elif entry.get("command"):
            args = entry.get("args") or []
            env = entry.get("env")
            if not isinstance(args, list) or (env is not None and not isinstance(env, dict)):
                raise SynthError(f"{origin}: server {name!r}: 'args' must be a list and 'env' an object")
            sources.append(ServerSource(
                name=name, transport="stdio", command=str(entry["command"]), args=[str(a) for a in args],
                env={str(k): str(v) for k, v in env.items()} if env else None,
                cwd=str(entry["cwd"]) if entry.get("cwd") else None,
            ))
        else:
            raise SynthError(f"{origin}: server {name!r} has neither 'command' nor 'url'")
    return sources


def sources_from_file(path: Path) -> list[ServerSource]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SynthError(f"{path}: file not found") from exc
    except OSError as exc:
        raise SynthError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SynthError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    return sources_from_config(doc, str(path))


def sources_from_catalog() -> list[ServerSource]:
    envs = verified_envs()
    if not envs:
        where = ", ".join(map(str, catalog_roots()))
        raise SynthError(f"the catalog ({where}) has no verified environment; pass --url or --mcp-config")
    return sources_from_config(mcpconfig.mcp_config(envs, "generic", python=sys.executable), "catalog")


def farm_base(farm: str) -> str:
    parsed = urlparse(farm)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SynthError(f"--farm: not an http(s) URL: {farm!r}")
    return farm.rstrip("/")


def farm_token(token: str | None) -> str | None:
    """The farm's bearer token: `--farm-token`, else $ENVFACTORY_TOKEN, else none."""
    return token or os.environ.get(TOKEN_ENV) or None


def sources_from_farm_listing(farm: str, doc: Any, token: str | None) -> list[ServerSource]:
    """`GET <farm>/api/envs` (a list of catalog entries) -> one HTTP source per environment."""
    base = farm_base(farm)
    if isinstance(doc, dict) and isinstance(doc.get("envs"), list):
        doc = doc["envs"]
    if not isinstance(doc, list):
        raise SynthError(f"farm at {base}: /api/envs did not answer a JSON list of environments")
    sources: list[ServerSource] = []
    for i, entry in enumerate(doc):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise SynthError(f"farm at {base}: /api/envs entry {i} has no valid 'name'")
        scenarios = entry.get("scenarios", [])
        if not isinstance(scenarios, list) or not all(isinstance(x, str) for x in scenarios):
            raise SynthError(f"farm at {base}: environment {name!r} has a malformed 'scenarios' list")
        env_hash = entry.get("env_hash")
        sources.append(ServerSource(name=name, transport="http", url=f"{base}/envs/{quote(name)}/mcp", token=token,
                                    scenarios=list(scenarios),
                                    env_hash=env_hash if isinstance(env_hash, str) else None))
    if not sources:
        raise SynthError(f"farm at {base} serves no environment")
    return sources


async def sources_from_farm(farm: str, token: str | None = None,
                            http: httpx2.AsyncClient | None = None) -> list[ServerSource]:
    """Ask the farm which environments it serves. `token` is sent as a bearer token (and kept for the MCP calls)."""
    base = farm_base(farm)
    headers = {"accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    url = f"{base}/api/envs"
    try:
        if http is None:
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(CALL_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)) as own:
                resp = await own.get(url, headers=headers)
        else:
            resp = await http.get(url, headers=headers)
    except httpx2.HTTPError as exc:
        raise SynthError(f"cannot reach the farm at {base}: {describe_failure(exc)}") from None
    if resp.status_code in (401, 403):
        hint = "a wrong token" if token else f"no token; pass --farm-token or set {TOKEN_ENV}"
        raise SynthError(f"the farm at {base} refused {url} with HTTP {resp.status_code} ({hint})")
    if resp.status_code != 200:
        raise SynthError(f"the farm at {base} answered HTTP {resp.status_code} to GET /api/envs")
    try:
        doc = resp.json()
    except ValueError:
        raise SynthError(f"the farm at {base}: /api/envs did not answer JSON") from None
    return sources_from_farm_listing(base, doc, token)


def sources_from_commands(commands: list[str]) -> list[ServerSource]:
    """`--stdio "npx -y @modelcontextprotocol/server-memory"` -> a stdio source named after its last word."""
    sources = []
    for command in commands:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise SynthError(f"--stdio {command!r}: {exc}") from None
        if not argv:
            raise SynthError("--stdio: empty command")
        last = next((a for a in reversed(argv) if not a.startswith("-")), argv[0])
        name = _clean(Path(last.split("/")[-1]).stem if last.endswith(".py") else last.split("/")[-1].split("@")[0])
        sources.append(ServerSource(name=name or "server", transport="stdio", command=argv[0], args=argv[1:]))
    return sources


def resolve_sources(mcp_config: Path | None, urls: list[str] | None,
                    farm_sources: list[ServerSource] | None = None,
                    commands: list[str] | None = None) -> list[ServerSource]:
    """All sources, sorted by name (the round-robin order). Names must be unique."""
    sources: list[ServerSource] = []
    if mcp_config is not None:
        sources += sources_from_file(mcp_config)
    if urls:
        sources += sources_from_urls(urls)
    if farm_sources:
        sources += farm_sources
    if commands:
        sources += sources_from_commands(commands)
    if mcp_config is None and not urls and not farm_sources and not commands:
        sources = sources_from_catalog()
    seen: set[str] = set()
    for s in sources:
        if s.name in seen:
            raise SynthError(f"two servers are named {s.name!r}; give them distinct names in an mcp.json")
        seen.add(s.name)
    return sorted(sources, key=lambda s: s.name)


# --- connecting ------------------------------------------------------------------------------------------------------


def _leaf_errors(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for e in exc.exceptions:
            out += _leaf_errors(e)
        return out
    return [exc]


def describe_failure(exc: BaseException) -> str:
    leaf = _leaf_errors(exc)[0]
    kind = type(leaf).__name__
    text = str(leaf).strip().splitlines()[0] if str(leaf).strip() else kind
    if isinstance(leaf, httpx2.ConnectError | ConnectionRefusedError):
        return f"connection refused ({text})"
    if isinstance(leaf, FileNotFoundError):
        return f"command not found ({leaf.filename or text})"
    if isinstance(leaf, OSError) and leaf.strerror:
        return leaf.strerror
    if isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
        return "the server closed the connection (did the command start an MCP server?)"
    return text if text.startswith(kind) else f"{kind}: {text}"


def _client_for(source: ServerSource, errlog: TextIO | None, http: httpx2.AsyncClient | None = None) -> Client:
    if source.transport == "http":
        if http is None:
            return Client(source.url or "", read_timeout_seconds=CALL_TIMEOUT_S)
        return Client(streamable_http_client(source.url or "", http_client=http), read_timeout_seconds=CALL_TIMEOUT_S)
    params = StdioServerParameters(command=source.command or "", args=source.args, env=source.env, cwd=source.cwd)
    stderr = errlog or sys.__stderr__ or sys.stderr  # __stderr__ is None only under pythonw-like launchers
    return Client(stdio_client(params, errlog=stderr), read_timeout_seconds=CALL_TIMEOUT_S)


def shared_http_client(token: str | None = None) -> httpx2.AsyncClient:
    """One connection pool (keep-alive) for discovery and rollouts; building one costs ~28 ms, so share it."""
    headers = {"authorization": f"Bearer {token}"} if token else None
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30.0)
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(CALL_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                              limits=limits)


def _last_line(log: TextIO | None) -> str:
    if log is None:
        return ""
    try:
        log.flush()
        log.seek(0)
        text = log.read()
    except (OSError, ValueError):
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def tool_info(tool: Any) -> ToolInfo:
    ann = tool.annotations
    return ToolInfo(
        name=tool.name,
        description=tool.description or "",
        input_schema=dict(tool.input_schema or {"type": "object", "properties": {}}),
        output_schema=dict(tool.output_schema) if tool.output_schema else None,
        read_only=bool(ann and ann.read_only_hint),
        destructive=bool(ann and ann.destructive_hint),
    )


async def list_all_tools(client: Client) -> list[ToolInfo]:
    tools: list[ToolInfo] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools += [tool_info(t) for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def catalog_scenarios(*names: str) -> tuple[list[str], str | None]:
    """Scenario names and content hash from the registry when a name is a catalog environment; none otherwise."""
    dirs = env_dirs()
    for name in names:
        if name not in dirs:
            continue
        try:
            env = load_env_dir(dirs[name])
        except EnvLoadError:
            continue
        return list(env.spec.scenarios), env.content_hash()
    return [], None


def tools_hash(tools: list[ToolInfo]) -> str:
    """sha256 of the canonical tool list as served: identifies the interface of any server, ours or not."""
    return sha256_text(canonical_json([t.model_dump(mode="json") for t in tools]))


async def _connect(stack: AsyncExitStack, source: ServerSource, http: httpx2.AsyncClient | None = None,
                   fast: bool = False) -> ConnectedServer:
    verb = "reach" if source.transport == "http" else "start"
    # a stdio server's stderr goes to a private file: it never garbles our output, and its last line explains a crash
    errlog: TextIO | None = None
    if source.transport == "stdio":
        errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))  # noqa: SIM115
    try:
        client = await stack.enter_async_context(_client_for(source, errlog, http))
        tools = await list_all_tools(client)
    except Exception as exc:  # every transport failure becomes one clear line
        reason = describe_failure(exc)
        last = _last_line(errlog)
        if last:
            reason += f"; its stderr ends with: {last}"
        raise SynthError(f"cannot {verb} MCP server {source.name!r} {source.where()}: {reason}") from None
    info = client.server_info
    server_name = getattr(info, "name", None) or source.name
    scenarios, env_hash = catalog_scenarios(source.name, server_name)
    if source.scenarios is not None:  # the farm said which scenarios it serves; trust the local hash only if it agrees
        env_hash = source.env_hash or (env_hash if scenarios == source.scenarios else None)
        scenarios = list(source.scenarios)
    rollout: RolloutClient | None = None
    if fast and source.transport == "http" and http is not None:
        # the bearer token (if any) is a default header of `http`; outputs are validated like the SDK client does
        rollout = RolloutClient(source.url or "", http=http, timeout=CALL_TIMEOUT_S,
                                # a farm validates its own outputs before answering; other servers are checked here
                                output_schemas={} if source.scenarios is not None else
                                {t.name: t.output_schema for t in tools if t.output_schema})
    return ConnectedServer(source, client, ServerInfo(
        name=source.name,
        transport=source.transport,
        server_name=server_name,
        version=getattr(info, "version", None) or "",
        description=getattr(info, "description", None) or "",
        tools=tools,
        scenarios=scenarios,
        env_hash=env_hash,
        tools_hash=tools_hash(tools),
    ), fast=rollout)


@asynccontextmanager
async def connect_all(sources: list[ServerSource], fast: bool = True,
                      on_failure: Callable[[ServerSource, str], None] | None = None
                      ) -> AsyncIterator[list[ConnectedServer]]:
    """Connect to every source (in this task: MCP clients must be closed by the task that opened them).

    HTTP sources share one `httpx2.AsyncClient` per bearer token. With `fast` (the default) their tool calls go
    through the thin `RolloutClient` over that pool; with `fast=False` through the SDK client (the reference path).
    Listing the tools is the health check: with `on_failure`, a server that cannot be started or reached is reported
    to it and skipped; without, it is fatal (SynthError).
    """
    try:
        async with AsyncExitStack() as stack:
            pools: dict[str | None, httpx2.AsyncClient] = {}
            servers: list[ConnectedServer] = []
            for s in sources:
                http: httpx2.AsyncClient | None = None
                if s.transport == "http":
                    if s.token not in pools:
                        pools[s.token] = await stack.enter_async_context(shared_http_client(s.token))
                    http = pools[s.token]
                try:
                    servers.append(await _connect(stack, s, http, fast))
                except SynthError as exc:
                    if on_failure is None:
                        raise
                    on_failure(s, str(exc))
            yield servers
    except BaseExceptionGroup as group:  # the SDK clients' task groups wrap what the body raised: unwrap one
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, BaseExceptionGroup):
            raise
        raise leaf from None
