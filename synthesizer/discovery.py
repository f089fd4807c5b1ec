"""Server sources -> connected MCP servers with their tools (and scenario names, for catalog environments).

Sources: an mcp.json file (`mcpServers`, or VS Code `servers`; stdio entries with command/args/env/cwd, HTTP entries
with url), a list of streamable-HTTP URLs, or by default the registry catalog exported as an mcp.json document.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import urlparse

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import BaseModel, Field

from registry.contract import canonical_json, sha256_text
from registry.envdir import EnvLoadError, envs_root, find_env
from synthesizer.errors import SynthError

CALL_TIMEOUT_S = 60.0


class ServerSource(BaseModel):
    """How to reach one server: a stdio command or a streamable-HTTP URL."""

    name: str
    transport: Literal["stdio", "http"]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None

    def where(self) -> str:
        if self.transport == "http":
            return f"at {self.url}"
        return "launched with " + " ".join([self.command or "", *self.args]).strip()


class ToolInfo(BaseModel):
    """A tool as listed over MCP (the subset the synthesizer uses)."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    read_only: bool = False
    destructive: bool = False

    @property
    def is_write(self) -> bool:
        return not self.read_only


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


class ConnectedServer:
    """A live MCP client plus its ServerInfo. Only valid inside `connect_all`."""

    def __init__(self, source: ServerSource, client: Client, info: ServerInfo):
        self.source = source
        self.client = client
        self.info = info

    @property
    def name(self) -> str:
        return self.info.name


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
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "server"


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
    for name, entry in servers.items():
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
    from registry.catalog import verified_envs
    from registry.mcpconfig import mcp_config

    envs = verified_envs()
    if not envs:
        raise SynthError(f"the catalog at {envs_root()} has no verified environment; pass --url or --mcp-config")
    return sources_from_config(mcp_config(envs, "generic", python=sys.executable), "catalog")


def resolve_sources(mcp_config: Path | None, urls: list[str] | None) -> list[ServerSource]:
    """All sources, sorted by name (the round-robin order). Names must be unique."""
    sources: list[ServerSource] = []
    if mcp_config is not None:
        sources += sources_from_file(mcp_config)
    if urls:
        sources += sources_from_urls(urls)
    if mcp_config is None and not urls:
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
    if kind == "ConnectError" or isinstance(leaf, ConnectionRefusedError):
        return f"connection refused ({text})"
    if isinstance(leaf, FileNotFoundError):
        return f"command not found ({leaf.filename or text})"
    if isinstance(leaf, OSError) and leaf.strerror:
        return leaf.strerror
    if kind == "MCPError" and "closed" in text.lower():
        return "the server closed the connection (did the command start an MCP server?)"
    return text if text.startswith(kind) else f"{kind}: {text}"


def _client_for(source: ServerSource, errlog: TextIO | None) -> Client:
    if source.transport == "http":
        return Client(source.url or "", read_timeout_seconds=CALL_TIMEOUT_S)
    params = StdioServerParameters(command=source.command or "", args=source.args, env=source.env, cwd=source.cwd)
    return Client(stdio_client(params, errlog=errlog or sys.__stderr__), read_timeout_seconds=CALL_TIMEOUT_S)


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
    root = envs_root()
    for name in names:
        if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not (root / name / "env.json").is_file():
            continue
        try:
            env = find_env(name, root)
        except EnvLoadError:
            continue
        return list(env.spec.scenarios), env.content_hash()
    return [], None


def tools_hash(tools: list[ToolInfo]) -> str:
    """sha256 of the canonical tool list as served: identifies the interface of any server, ours or not."""
    return sha256_text(canonical_json([t.model_dump(mode="json") for t in tools]))


async def _connect(stack: AsyncExitStack, source: ServerSource) -> ConnectedServer:
    verb = "reach" if source.transport == "http" else "start"
    # a stdio server's stderr goes to a private file: it never garbles our output, and its last line explains a crash
    errlog: TextIO | None = None
    if source.transport == "stdio":
        errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))  # noqa: SIM115
    try:
        client = await stack.enter_async_context(_client_for(source, errlog))
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
    ))


@asynccontextmanager
async def connect_all(sources: list[ServerSource]) -> AsyncIterator[list[ConnectedServer]]:
    """Connect to every source (in this task: MCP clients must be closed by the task that opened them)."""
    async with AsyncExitStack() as stack:
        servers = [await _connect(stack, s) for s in sources]
        yield servers
