"""A thin MCP client for the rollout hot path: raw 2026-07-28 JSON-RPC POSTs over one shared `httpx2.AsyncClient`.

The SDK `Client` spends about 2 ms of client CPU per tool call (pydantic models in and out, protocol-schema checks,
a dispatcher task per request). This client builds the request body with `json.dumps`, posts it, and reads the answer
with `json.loads`; it keeps no session (the 2026-07-28 protocol has none) and is safe to use from many concurrent
tasks. Discovery stays on the SDK `Client`; this client only calls tools (and lists them, for convenience).

Wire format (replicated from what SDK 2.3's `Client` sends to our servers):

    POST <url>
    Content-Type: application/json
    Accept: application/json, text/event-stream
    MCP-Protocol-Version: 2026-07-28
    Mcp-Method: tools/call                     (mirrors the body's `method`, or the server answers 400 / -32020)
    Mcp-Name: <tool>                           (tools/call only: mirrors `params.name`)
    Authorization: Bearer <token>              (optional)

    {"jsonrpc":"2.0","id":N,"method":"tools/call","params":{"_meta":{<caller keys>,
      "io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{...},
      "io.modelcontextprotocol/clientCapabilities":{}},"name":"<tool>","arguments":{...}}}

The answer is one `application/json` JSON-RPC response (an SSE stream is accepted too). JSON-RPC errors arrive with
HTTP 200, 400 or 404 and become `RPCError`; other HTTP failures become `HTTPStatusFailure`; refused connections and
timeouts become `ConnectionFailure`. All of them are `SynthError`s with one clear line naming the URL.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urljoin, urlparse

import httpx2

from synthesizer.errors import SynthError

PROTOCOL_VERSION = "2026-07-28"
META_PREFIX = "io.modelcontextprotocol/"
META_PROTOCOL_VERSION = META_PREFIX + "protocolVersion"
META_CLIENT_INFO = META_PREFIX + "clientInfo"
META_CLIENT_CAPABILITIES = META_PREFIX + "clientCapabilities"
CLIENT_INFO: dict[str, str] = {"name": "envfactory-rollout", "version": "0.1.0"}
DEFAULT_TIMEOUT_S = 60.0

# JSON-RPC codes that say the request itself (our wire format) is wrong, not the call: never worth a retry.
PROTOCOL_ERROR_CODES = frozenset({-32700, -32600, -32601, -32020})


# --- errors ----------------------------------------------------------------------------------------------------------


class RolloutClientError(SynthError):
    """Base of every failure of the thin client; `url` is the endpoint that failed."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class ConnectionFailure(RolloutClientError):
    """No HTTP answer at all: connection refused, DNS failure, timeout, connection dropped mid-request."""


class HTTPStatusFailure(RolloutClientError):
    """An HTTP error status without a JSON-RPC error body (401, 403, 421, 5xx, a 404 from a router, ...)."""

    def __init__(self, message: str, url: str, status: int):
        super().__init__(message, url)
        self.status = status


class RPCError(RolloutClientError):
    """A JSON-RPC error response (the SDK raises `MCPError` for the same answers)."""

    def __init__(self, message: str, url: str, code: int, rpc_message: str, data: Any = None, status: int = 200):
        super().__init__(message, url)
        self.code = code
        self.rpc_message = rpc_message
        self.data = data
        self.status = status

    @property
    def is_protocol_error(self) -> bool:
        """True when the server rejected the request's form (parse error, header mismatch, unknown method)."""
        return self.code in PROTOCOL_ERROR_CODES


class ProtocolFailure(RolloutClientError):
    """A 200 answer that is not a usable JSON-RPC result (bad JSON, wrong id, unsupported resultType, ...)."""


# --- results ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Content:
    """One content item of a tool result: `type` and `text` as the SDK's TextContent; `raw` is the wire object."""

    type: str
    text: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolResult:
    """The attributes the rollout code reads from the SDK's `CallToolResult`, with the same names."""

    is_error: bool
    content: list[Content]
    structured_content: Any = None
    meta: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "\n".join(c.text for c in self.content if c.type == "text" and c.text is not None)


@dataclass(slots=True)
class ToolPage:
    tools: list[dict[str, Any]]  # wire objects (camelCase keys: inputSchema, outputSchema, annotations)
    next_cursor: str | None = None


def _result(obj: Any, url: str) -> ToolResult:
    if not isinstance(obj, dict):
        raise ProtocolFailure(f"MCP server at {url}: tools/call result is not an object", url)
    result_type = obj.get("resultType", "complete")
    if result_type != "complete":
        raise ProtocolFailure(f"MCP server at {url}: tools/call answered resultType {result_type!r}, "
                              "which the rollout client does not support", url)
    content: list[Content] = []
    for item in obj.get("content") or []:
        if isinstance(item, dict):
            kind = str(item.get("type", ""))
            text = item.get("text") if kind == "text" else None
            content.append(Content(type=kind, text=text if isinstance(text, str) else None, raw=item))
    meta = obj.get("_meta")
    return ToolResult(is_error=bool(obj.get("isError", False)), content=content,
                      structured_content=obj.get("structuredContent"), meta=meta if isinstance(meta, dict) else None)


def _sse_messages(body: str) -> list[Any]:
    """JSON payloads of the `data:` fields of an SSE body (one event may span several data lines)."""
    out: list[Any] = []
    data: list[str] = []
    for line in [*body.splitlines(), ""]:
        if not line:
            if data:
                with contextlib.suppress(ValueError):
                    out.append(json.loads("\n".join(data)))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return out


def response_detail(resp: httpx2.Response) -> str:
    """What an HTTP error answer says: the first line of its body (at most 200 characters), else its reason phrase."""
    text = resp.text.strip()
    return text.splitlines()[0][:200] if text else resp.reason_phrase


def _describe_transport_error(exc: httpx2.HTTPError) -> str:
    kind = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, httpx2.ConnectError):
        return f"connection refused ({text or kind})"
    if isinstance(exc, httpx2.TimeoutException):
        return f"timed out ({kind})"
    return f"{kind}: {text}" if text else kind


# --- the client ------------------------------------------------------------------------------------------------------


class SharedHttp:
    """Base of the async clients that use a shared `httpx2.AsyncClient` (the caller's to close) or make their own,
    which `aclose()` and leaving `async with` close."""

    def __init__(self, http: httpx2.AsyncClient | None, make: Callable[[], httpx2.AsyncClient]):
        self._owns_http = http is None
        self._http = http if http is not None else make()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


class RolloutClient(SharedHttp):
    """Thin 2026-07-28 MCP client for one endpoint. Share one `httpx2.AsyncClient` between all instances.

    `http`: the shared client (not closed here); when omitted one is created and closed by `aclose()`.
    `token`: sent as `Authorization: Bearer <token>`. `output_schemas`: tool name -> output schema; when given,
    non-error results of those tools are validated like the SDK client does (a mismatch is a ProtocolFailure).
    """

    def __init__(self, url: str, *, http: httpx2.AsyncClient | None = None, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, client_info: Mapping[str, str] | None = None,
                 output_schemas: Mapping[str, dict[str, Any] | None] | None = None):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SynthError(f"not an http(s) URL: {url!r}")
        self.url = url
        super().__init__(http, lambda: httpx2.AsyncClient(timeout=timeout))
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._envelope: dict[str, Any] = {
            META_PROTOCOL_VERSION: PROTOCOL_VERSION,
            META_CLIENT_INFO: dict(client_info or CLIENT_INFO),
            META_CLIENT_CAPABILITIES: {},
        }
        self._headers: dict[str, str] = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-protocol-version": PROTOCOL_VERSION,
        }
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._output_schemas = dict(output_schemas or {})
        self._validators: dict[str, Any] = {}

    # -- public calls --

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None, *,
                        meta: Mapping[str, Any] | None = None) -> ToolResult:
        """`tools/call`; `meta` keys (e.g. `envfactory/episode`) go first in `_meta`, then the protocol envelope."""
        params: dict[str, Any] = {"_meta": {**meta, **self._envelope} if meta else self._envelope, "name": name,
                                  "arguments": dict(arguments) if arguments is not None else {}}
        result = _result(await self._request("tools/call", params, name), self.url)
        if not result.is_error and name in self._output_schemas:
            self._validate(name, result)
        return result

    async def list_tools(self, cursor: str | None = None) -> ToolPage:
        params: dict[str, Any] = {"_meta": self._envelope}
        if cursor:
            params["cursor"] = cursor
        obj = await self._request("tools/list", params, None)
        tools = obj.get("tools") if isinstance(obj, dict) else None
        if not isinstance(tools, list):
            raise ProtocolFailure(f"MCP server at {self.url}: tools/list result has no 'tools' list", self.url)
        nxt = obj.get("nextCursor")
        return ToolPage(tools=tools, next_cursor=nxt if isinstance(nxt, str) and nxt else None)

    # -- internals --

    async def _request(self, method: str, params: dict[str, Any], name: str | None) -> Any:
        rid = next(self._ids)
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {**self._headers, "mcp-method": method}
        if name is not None:
            headers["mcp-name"] = name
        what = f"{method} {name}" if name else method
        for _ in range(3):  # a same-origin 307/308 (e.g. a trailing slash) is followed, like the SDK client does
            try:
                resp = await self._http.post(self.url, content=body, headers=headers, timeout=self._timeout)
            except httpx2.HTTPError as exc:
                raise ConnectionFailure(f"cannot reach MCP server at {self.url} ({what}): "
                                        f"{_describe_transport_error(exc)}", self.url) from None
            if resp.status_code in (307, 308) and self._follow(resp.headers.get("location")):
                continue
            return self._decode(resp, rid, what)
        raise HTTPStatusFailure(f"MCP server at {self.url} ({what}): too many redirects", self.url, 310)

    def _follow(self, location: str | None) -> bool:
        if not location:
            return False
        target = urljoin(self.url, location)
        a, b = urlparse(self.url), urlparse(target)
        if (a.scheme, a.hostname, a.port) != (b.scheme, b.hostname, b.port):
            return False
        self.url = target
        return True

    def _decode(self, resp: httpx2.Response, rid: int, what: str) -> Any:
        status = resp.status_code
        ctype = resp.headers.get("content-type", "")
        message: Any = None
        if ctype.startswith("application/json"):
            try:
                message = json.loads(resp.content)
            except ValueError:
                message = None
        elif ctype.startswith("text/event-stream"):
            found = [m for m in _sse_messages(resp.text) if isinstance(m, dict) and m.get("id") == rid]
            message = found[-1] if found else None
        if isinstance(message, dict) and isinstance(message.get("error"), dict):
            err = message["error"]
            code = err.get("code")
            code = code if isinstance(code, int) else 0
            text = str(err.get("message", ""))
            raise RPCError(f"MCP server at {self.url} ({what}): JSON-RPC error {code}: {text}", self.url, code, text,
                           err.get("data"), status)
        if status != 200:
            raise HTTPStatusFailure(f"MCP server at {self.url} ({what}): HTTP {status}: {response_detail(resp)}",
                                    self.url, status)
        if not isinstance(message, dict):
            raise ProtocolFailure(f"MCP server at {self.url} ({what}): the answer is not a JSON-RPC message "
                                  f"(content-type {ctype or 'none'})", self.url)
        if message.get("id") != rid or "result" not in message:
            raise ProtocolFailure(f"MCP server at {self.url} ({what}): the answer does not carry the result "
                                  f"of request {rid}", self.url)
        return message["result"]

    def _validate(self, name: str, result: ToolResult) -> None:
        schema = self._output_schemas.get(name)
        if schema is None:
            return
        if result.structured_content is None:
            raise ProtocolFailure(f"MCP server at {self.url}: tool {name} has an output schema but did not return "
                                  "structured content", self.url)
        validator = self._validators.get(name)
        if validator is None:
            from jsonschema.validators import validator_for
            from referencing import Registry

            cls = validator_for(schema)
            validator = self._validators[name] = cls(schema, registry=Registry())
        from jsonschema.exceptions import best_match

        error = best_match(validator.iter_errors(result.structured_content))
        if error is not None:
            raise ProtocolFailure(f"MCP server at {self.url}: invalid structured content returned by tool {name}: "
                                  f"{error.message}", self.url)
