"""A live MCP server's tools/list -> ApiModel, so an existing server can be rebuilt as a verified environment.

The server is reached with the official SDK client: `mcp+stdio:<command line>` spawns it over stdio, an
`http(s)://` URL (optionally prefixed `mcp+`) speaks streamable HTTP. Argument names are kept exactly as the server
declares them (they are the real call surface); only tool names that break our naming pattern are rewritten.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

from registry.spec import ToolAnnotationsSpec

from ..apimodel import ApiModel, Operation, Param
from .common import ImportFailure, annotations_from, clean_text
from .names import env_name

CONNECT_TIMEOUT = 30.0
MAX_PAGES = 100
T = TypeVar("T")


def parse_target(source: str) -> Any:
    """What `mcp.Client` takes for this source: StdioServerParameters or a URL string."""
    from mcp import StdioServerParameters

    if source.startswith("mcp+stdio:"):
        argv = shlex.split(source[len("mcp+stdio:"):])
        if not argv:
            raise ImportFailure(f"{source}: no command after 'mcp+stdio:'")
        return StdioServerParameters(command=argv[0], args=argv[1:], cwd=os.getcwd())
    url = source[len("mcp+"):] if source.startswith("mcp+http") else source
    if not re.match(r"^https?://[^/\s]+", url):
        raise ImportFailure(f"{source}: not an MCP source (use mcp+stdio:<command> or an http(s):// URL)")
    return url


def run_sync(fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async function from sync code, also when the caller already sits inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(fn)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, fn).result()


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def fetch_tools(source: str, timeout: float = CONNECT_TIMEOUT) -> tuple[Any, list[Any]]:
    """(server_info, tools) from tools/list, following `next_cursor` pages."""
    from mcp import Client

    target = parse_target(source)
    try:
        with anyio.fail_after(timeout):
            async with Client(target) as client:
                tools: list[Any] = []
                cursor: str | None = None
                seen: set[str] = set()
                for _ in range(MAX_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor or cursor in seen:
                        break
                    seen.add(cursor)
                return client.server_info, tools
    except ImportFailure:
        raise
    except TimeoutError:
        raise ImportFailure(f"{source}: MCP server did not answer tools/list within {timeout:.0f} s") from None
    except BaseException as exc:  # noqa: BLE001 - transports fail in many ways; the user needs one line
        if isinstance(exc, KeyboardInterrupt | SystemExit | anyio.get_cancelled_exc_class()):
            raise
        leaf = _leaf(exc)
        text = str(leaf).strip().splitlines()[0] if str(leaf).strip() else type(leaf).__name__
        raise ImportFailure(f"{source}: MCP server unreachable ({type(leaf).__name__}: {text})") from None


def params_from_schema(schema: dict[str, Any]) -> list[Param]:
    """Tool arguments as Params. MCP has no HTTP locations: every argument travels in the call body."""
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = set(schema.get("required") or [])
    out = []
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        out.append(Param(name=str(name), original=str(name), location="body", required=name in required,
                         description=str(prop.get("description") or ""),
                         schema={k: v for k, v in prop.items() if k != "description"}))
    return out


def _tool_name(raw: str, taken: set[str], renamed: list[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    if not name or not name[0].isalpha():
        name = "tool_" + name
    name = name[:64].rstrip("_") or "tool"
    base, n = name, 2
    while name in taken:
        name, n = f"{base[:60]}_{n}", n + 1
    taken.add(name)
    if name != raw:
        renamed.append(f"tool {raw!r}: renamed to {name!r} (tool names must match ^[a-zA-Z][a-zA-Z0-9_]{{0,63}}$)")
    return name


def _annotations(tool: Any) -> ToolAnnotationsSpec:
    a = tool.annotations
    title = tool.title or (a.title if a else None)
    if a is None:
        return annotations_from(False, True, False, title)
    read_only = bool(a.read_only_hint)
    destructive = False if read_only else (True if a.destructive_hint is None else bool(a.destructive_hint))
    idempotent = read_only if a.idempotent_hint is None else bool(a.idempotent_hint)
    return annotations_from(read_only, destructive, idempotent, title)


def import_mcp(source: str, *, name: str | None = None, timeout: float = CONNECT_TIMEOUT) -> ApiModel:
    info, tools = run_sync(lambda: fetch_tools(source, timeout))
    if not tools:
        raise ImportFailure(f"{source}: the MCP server lists no tools")
    taken: set[str] = set()
    renamed: list[str] = []
    operations = []
    for tool in tools:
        in_schema = dict(tool.input_schema or {})
        in_schema.setdefault("type", "object")
        out_schema = tool.output_schema if isinstance(tool.output_schema, dict) and \
            tool.output_schema.get("type") == "object" else {"type": "object"}
        description = (tool.description or "").strip()
        operations.append(Operation(
            tool=_tool_name(tool.name, taken, renamed),
            operation_id=tool.name,
            summary=clean_text(description.split("\n")[0], 200) if description else (tool.title or ""),
            description=description or tool.title or tool.name,
            params=params_from_schema(in_schema),
            input_schema=in_schema,
            output_schema=dict(out_schema),
            annotations=_annotations(tool),
        ))
    title = (getattr(info, "title", None) or getattr(info, "name", None) or "") if info else ""
    return ApiModel(
        name=name or env_name(source, title),
        title=title or source,
        version=str(getattr(info, "version", None) or "0.1.0"),
        description=str(getattr(info, "description", None) or ""),
        source=source,
        importer="mcp",
        operations=operations,
        dropped=renamed,
    )
