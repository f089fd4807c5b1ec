"""Wraps an EnvRuntime in the official MCP SDK's lowlevel `Server`, and serves it over stdio or streamable HTTP.

The lowlevel server is used because tool schemas come from env.json (raw JSON Schema), not from Python type hints;
the runtime validates arguments and outputs itself. Episodes are named by the request's `_meta`
(`envfactory/episode`, optionally `envfactory/scenario` on first use); a call that names none runs in the playground.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings

from registry.envdir import EnvLoadError
from registry.spec import EnvSpec, ToolSpec
from registry.wire import META_EPISODE, META_SCENARIO, META_STATE_HASH
from servers.runtime.runtime import EnvRuntime, EpisodeStore

log = logging.getLogger("envfactory.server")


def mcp_tool(tool: ToolSpec) -> types.Tool:
    ann = tool.annotations
    return types.Tool(
        name=tool.name,
        title=ann.title,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=types.ToolAnnotations(
            title=ann.title,
            read_only_hint=ann.read_only_hint,
            destructive_hint=ann.destructive_hint,
            idempotent_hint=ann.idempotent_hint,
            open_world_hint=ann.open_world_hint,
        ),
    )


def error_result(message: str, meta: dict[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True, _meta=meta)


CallHandler = Callable[[Any, types.CallToolRequestParams], Awaitable[types.CallToolResult]]


def result_of(is_error: bool, text: str, output: dict[str, Any] | None, meta: dict[str, Any]) -> types.CallToolResult:
    """The MCP result for one call: the message alone on error, else the JSON text plus structured content."""
    if is_error:
        return error_result(text, meta)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=output,
                                is_error=False, _meta=meta)


def env_server(spec: EnvSpec, on_call_tool: CallHandler) -> Server[Any]:
    """A lowlevel MCP server exposing `spec`'s tools; where calls execute is the caller's (stand-alone or farm)."""
    listing = types.ListToolsResult(tools=[mcp_tool(t) for t in spec.tools])
    schemas = {t.name: t.input_schema for t in spec.tools}

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return listing

    # Environments expose tools only; the empty listings keep generic clients (and conformance) from seeing
    # "method not found" on the routine resources/prompts discovery calls.
    async def on_list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[])

    async def on_list_resource_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])

    async def on_list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[])

    return Server(
        spec.name,
        version=spec.version,
        title=spec.name,
        description=spec.description,
        instructions=spec.description,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_list_prompts=on_list_prompts,
        get_tool_input_schema=schemas.get,
    )


def build_server(runtime: EnvRuntime, store: EpisodeStore | None = None) -> Server[Any]:
    """The stand-alone server: episodes held in this process, named by `_meta`."""
    store = store or EpisodeStore(runtime)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        meta = dict(ctx.meta or {})
        episode_id = meta.get(META_EPISODE)
        if episode_id is not None and not isinstance(episode_id, str):
            return error_result(f"_meta {META_EPISODE} must be a string")
        try:
            episode = store.get(episode_id, meta.get(META_SCENARIO))
        except EnvLoadError as exc:
            return error_result(str(exc))
        outcome = runtime.call(episode, params.name, params.arguments)
        return result_of(outcome.is_error, outcome.text(), outcome.output,
                         {META_EPISODE: episode.id, META_STATE_HASH: episode.state_hash})

    return env_server(runtime.spec, on_call_tool)


async def serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]


def transport_security(allowed_hosts: list[str] | None = None) -> TransportSecuritySettings:
    """Host/Origin validation always on: loopback plus the hosts named explicitly (never "anything goes")."""
    hosts = [*LOOPBACK_HOSTS, *(allowed_hosts or [])]
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in allowed_hosts or []]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


def http_app(server: Server[Any], allowed_hosts: list[str] | None = None) -> Any:
    """Streamable HTTP app at /mcp. Legacy (2025-11-25) clients get SSE streams, the protocol default, which the
    conformance suite expects (server-sse-polling); 2026-07-28 requests are answered with JSON either way."""
    return server.streamable_http_app(streamable_http_path="/mcp", json_response=False,
                                      transport_security=transport_security(allowed_hosts))


def serve_http(server: Server[Any], port: int, host: str = "127.0.0.1",
               allowed_hosts: list[str] | None = None) -> None:
    import uvicorn

    uvicorn.run(http_app(server, allowed_hosts), host=host, port=port, log_level="warning", access_log=False)


def run_env_server(env_path: Path | str, http_port: int | None = None, host: str = "127.0.0.1",
                   allowed_hosts: list[str] | None = None) -> None:
    """Entry point shared by every `server.py` and `envfactory serve`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runtime = EnvRuntime.load(env_path)
    for scenario in runtime.spec.scenarios:  # fail at start, not on some later call
        runtime.scenario_state(scenario)
    server = build_server(runtime)
    if http_port is None:
        anyio.run(serve_stdio, server)
    else:
        serve_http(server, http_port, host, allowed_hosts)


def main_for(env_file: str, argv: list[str] | None = None) -> None:
    """`python server.py [--http PORT] [--host H]`: run the environment directory that holds `env_file`."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Serve the {Path(env_file).parent.name} environment over MCP.")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on PORT instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind with --http (default 127.0.0.1)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="HOST[:PORT]",
                        help="extra Host header value to accept (repeatable; `name:*` for any port)")
    args = parser.parse_args(argv)
    run_env_server(Path(env_file).resolve().parent, args.http, args.host, args.allowed_host)
