"""One MCP tool call in a named episode, with the result reduced to what trajectories keep.

The episode and scenario travel in the request's `_meta` (invisible to the model); servers that know nothing of
episodes ignore them. A tool error is the call's outcome (`CallFailed` when the caller wants success); a lost
server is `ServerLost`, which the run reports and survives.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import MCPError
from mcp.types import CONNECTION_CLOSED
from pydantic import BaseModel

from common.errors import EnvfactoryError
from registry.wire import META_EPISODE, META_SCENARIO, META_STATE_HASH
from synthesizer.discovery.fastclient import RolloutClientError, RPCError
from synthesizer.discovery.sources import ConnectedServer
from synthesizer.errors import SynthError


class CallFailed(EnvfactoryError):
    """The tool answered isError (or a JSON-RPC error about this call)."""


class ServerLost(SynthError):
    """The server stopped answering (crashed, connection refused): every later call to it would fail too."""

    def __init__(self, server: str, message: str):
        super().__init__(message)
        self.server = server


class CallResult(BaseModel):
    tool: str
    arguments: dict[str, Any]
    output: Any
    text: str
    is_error: bool = False
    state_hash: str | None = None


def result_text(result: Any) -> str:
    parts = [c.text for c in (result.content or []) if getattr(c, "type", None) == "text"]
    if parts:
        return "\n".join(parts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return ""


def result_output(result: Any, text: str) -> Any:
    if result.structured_content is not None:
        return result.structured_content
    try:
        return json.loads(text)
    except ValueError:
        return text


async def call_tool(server: ConnectedServer, tool: str, arguments: dict[str, Any], episode: str,
                    scenario: str | None) -> CallResult:
    """The call's result, errors included (`is_error`); raises ServerLost when the server is gone."""
    meta: dict[str, Any] = {META_EPISODE: episode}
    if scenario:
        meta[META_SCENARIO] = scenario
    try:
        r = await server.caller.call_tool(tool, arguments, meta=meta)
    except RPCError as exc:  # thin client: a JSON-RPC error about this call is the call's failure
        if exc.is_protocol_error:
            raise ServerLost(server.name, f"MCP server {server.name!r} ({server.source.where()}) rejected the "
                                          f"request: JSON-RPC error {exc.code}: {exc.rpc_message}") from None
        return CallResult(tool=tool, arguments=arguments, output=None, text=exc.rpc_message, is_error=True)
    except RolloutClientError as exc:
        raise ServerLost(server.name, f"lost MCP server {server.name!r} ({server.source.where()}): {exc}") from None
    except Exception as exc:
        if isinstance(exc, MCPError) and exc.code != CONNECTION_CLOSED:  # SDK client: an error about this call
            return CallResult(tool=tool, arguments=arguments, output=None, text=str(exc), is_error=True)
        raise ServerLost(server.name, f"lost MCP server {server.name!r} ({server.source.where()}): "
                                      f"{type(exc).__name__}: {exc}") from None
    text = result_text(r)
    return CallResult(tool=tool, arguments=arguments, output=None if r.is_error else result_output(r, text),
                      text=text, is_error=bool(r.is_error), state_hash=(r.meta or {}).get(META_STATE_HASH))


async def call_ok(server: ConnectedServer, tool: str, arguments: dict[str, Any], episode: str,
                  scenario: str | None) -> CallResult:
    result = await call_tool(server, tool, arguments, episode, scenario)
    if result.is_error:
        raise CallFailed(f"{tool}: {result.text[:200]}")
    return result
