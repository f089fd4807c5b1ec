"""The project's one LLM client: any OpenAI-compatible chat endpoint (vLLM, a hosted API), plus an offline twin.

Settings come from flags or `ENVFACTORY_LLM_*` variables (`LLMSettings.from_env`). `LLMClient.chat` sends one
chat completion through the `openai` package (its own retries off) and runs OUR retry loop: timeouts, connection
errors, HTTP 429 and 5xx are retried with exponential backoff and jitter drawn from a seeded RNG; when the retries
run out it raises `LLMInfraError`, an infrastructure failure that is never the fault of what the model was asked to
produce. In JSON mode a reply that does not parse gets one corrective re-ask, then `LLMReplyError`. Every reply
carries its token counts, and the client keeps a running `Usage` total.

Native function calling: pass OpenAI function `tools` (and optionally `tool_choice`, `parallel_tool_calls`); the
reply's `tool_calls` keep each call's arguments as the RAW string the model sent (the caller parses it and can see
malformed JSON), and `LLMReply.assistant_message()` is the message to append before the `tool` results. JSON mode
and tools are mutually exclusive.

`OfflineLLM` has the same interface and answers from a script (a list of replies) or a deterministic callable,
so every LLM step runs without a model. It imports nothing from the runtime/factory package (as the whole
synthesizer).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from common.errors import EnvfactoryError

__all__ = ["DEFAULT_MODEL", "ChatModel", "LLMClient", "LLMError", "LLMInfraError", "LLMReply", "LLMReplyError",
           "LLMSettings", "OfflineLLM", "OfflineReply", "OfflineToolCall", "ToolCall", "Usage", "parse_json_reply"]

DEFAULT_MODEL = "gpt-4o-mini"
ENV_PREFIX = "ENVFACTORY_LLM_"
RETRYABLE_STATUS = frozenset({408, 409, 429})
"""HTTP statuses worth retrying besides every 5xx (request timeout, conflict/overload, rate limit)."""

Message = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]
ToolChoice = str | dict[str, Any]
""""auto" | "none" | "required", or the OpenAI named-function form {"type": "function", "function": {"name": ...}}."""


class LLMError(EnvfactoryError):
    """Base of the client's errors; the message is one line, fit for a report or the CLI."""


class LLMInfraError(LLMError):
    """The endpoint could not be used (timeouts, connection, 429/5xx after every retry, auth, bad request).

    Infrastructure, never the fault of the environment being generated: callers stop and report it as such.
    """


class LLMReplyError(LLMError):
    """The model answered, but not in the requested form (JSON mode: still not JSON after one corrective re-ask)."""


# --- settings and accounting ------------------------------------------------------------------------------------

class LLMSettings(BaseModel):
    """Where and how to call the model. `from_env()` fills unset fields from `ENVFACTORY_LLM_*` variables."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, min_length=1, description="Model name as the endpoint knows it.")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL (http://host:8000/v1); None: OpenAI.")
    api_key: str | None = Field(None, repr=False, description="ENVFACTORY_LLM_API_KEY or OPENAI_API_KEY; vLLM "
                                "accepts anything, so a missing key is sent as 'EMPTY'.")
    timeout: float = Field(120.0, gt=0, description="Seconds per request before it counts as timed out.")
    max_retries: int = Field(4, ge=0, description="Retries after the first try for timeouts, connection, 429, 5xx.")
    backoff_base: float = Field(1.0, ge=0, description="First backoff delay in seconds; doubles on every retry.")
    backoff_max: float = Field(30.0, ge=0, description="Ceiling of one backoff delay (also caps Retry-After).")
    temperature: float = Field(0.2, ge=0, le=2)
    seed: int | None = Field(0, description="Sent to the endpoint (where supported) and seeds the jitter RNG.")
    max_tokens: int | None = Field(None, ge=1, description="Default completion budget per request.")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> LLMSettings:
        """Settings from `ENVFACTORY_LLM_{MODEL,BASE_URL,API_KEY,TIMEOUT,MAX_RETRIES,TEMPERATURE,SEED}`.

        Keyword overrides (command-line flags) win over the environment; an override of None means "not given".
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in ("model", "base_url", "api_key", "timeout", "max_retries", "temperature", "seed", "max_tokens",
                      "backoff_base", "backoff_max"):
            raw = env.get(ENV_PREFIX + field.upper())
            if raw not in (None, ""):
                values[field] = raw
        if "api_key" not in values and env.get("OPENAI_API_KEY"):
            values["api_key"] = env["OPENAI_API_KEY"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


class Usage(BaseModel):
    """Token and request accounting; `add` sums another Usage in place."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = Field(0, description="Infrastructure retries (timeouts, connection errors, 429, 5xx).")
    reasks: int = Field(0, description="Corrective re-asks after a reply that was not valid JSON.")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> Usage:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.retries += other.retries
        self.reasks += other.reasks
        return self


class ToolCall(BaseModel):
    """One function call the model asked for. `arguments` is kept raw so callers can report malformed JSON."""

    id: str
    name: str
    arguments: str = Field("", description="The argument string exactly as the model sent it (normally JSON).")

    def wire(self) -> dict[str, Any]:
        """The OpenAI wire shape of this call inside an assistant message."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class LLMReply(BaseModel):
    """One answered chat call (a JSON-mode re-ask is folded in: `text`/`data` are from the reply that parsed).

    A reply may carry text, tool calls, both, or neither (then `text` is empty).
    """

    text: str
    data: Any = Field(None, description="The parsed JSON value when json_mode was requested.")
    model: str
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage, description="This call only, re-ask and retries included.")
    tool_calls: list[ToolCall] = Field(default_factory=list, description="Function calls requested, in order.")

    def assistant_message(self) -> Message:
        """This reply as the OpenAI chat message to append to the conversation before the `tool` results."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.text}
        return {"role": "assistant", "content": self.text or None, "tool_calls": [c.wire() for c in self.tool_calls]}

    @property
    def prompt_tokens(self) -> int:
        return self.usage.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self.usage.completion_tokens

    @property
    def retries(self) -> int:
        return self.usage.retries


@runtime_checkable
class ChatModel(Protocol):
    """What callers depend on: LLMClient and OfflineLLM both satisfy it."""

    usage: Usage

    @property
    def model(self) -> str: ...

    async def chat(self, messages: Sequence[Message], *, json_mode: bool = False, max_tokens: int | None = None,
                   tools: list[dict[str, Any]] | None = None, tool_choice: ToolChoice | None = None,
                   parallel_tool_calls: bool | None = None, temperature: float | None = None,
                   seed: int | None = None) -> LLMReply: ...


# --- JSON replies -----------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def parse_json_reply(text: str) -> Any:
    """The JSON value in a reply; tolerates one surrounding ``` fence. Raises ValueError with a precise message."""
    body = text.strip()
    match = _FENCE.match(body)
    if match:
        body = match.group(1).strip()
    if not body:
        raise ValueError("the reply was empty")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _reask_message(error: str) -> Message:
    return {"role": "user", "content": (
        f"Your previous reply is not valid JSON ({error}). Reply again with only the complete JSON document: "
        "no prose, no code fences, no comments, no trailing commas.")}


def _check_tools(json_mode: bool, tools: list[dict[str, Any]] | None) -> None:
    if json_mode and tools:
        raise ValueError("json_mode and tools are mutually exclusive: ask for JSON or offer tools, not both")


def one_line(text: object, limit: int = 300) -> str:
    """A message squeezed onto one line (for one-line errors)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the client -------------------------------------------------------------------------------------------------

class OpenAIEndpoint:
    """What LLMClient and the embeddings client share: one `openai.AsyncOpenAI` per event loop (its HTTP pool is
    bound to the loop that made it), created on first use, closed by `aclose()` or `async with`."""

    settings: Any
    retries_by_openai = 0  # the chat client runs its own retry loop; others may let the SDK retry

    def __init__(self) -> None:
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def model(self) -> str:
        return self.settings.model

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # a pool bound to a closed loop: nothing left to release
                await client.close()

    def _openai(self) -> Any:
        """The AsyncOpenAI client for the running loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from openai import AsyncOpenAI  # ~0.3 s import: paid on first use, not at import of this module

            s = self.settings
            self._client = AsyncOpenAI(base_url=s.base_url, api_key=s.api_key or "EMPTY", timeout=s.timeout,
                                       max_retries=self.retries_by_openai)
            self._loop = loop
        return self._client


class LLMClient(OpenAIEndpoint):
    """Async chat client for one OpenAI-compatible endpoint. Create it where it is used; it opens no connection
    until the first `chat`. Use `async with` or `await aclose()` to release the HTTP pool."""

    def __init__(self, settings: LLMSettings | None = None, *, sleep: Sleep | None = None) -> None:
        self.settings = settings or LLMSettings.from_env()
        self.usage = Usage()
        self._rng = random.Random(self.settings.seed)
        self._sleep: Sleep = sleep or asyncio.sleep
        super().__init__()

    def backoff(self, retry: int, retry_after: float | None = None) -> float:
        """Delay before retry number `retry` (0-based): base * 2**retry capped, "equal jitter" from the seeded RNG.

        A server's Retry-After is honoured when longer, within `backoff_max`.
        """
        s = self.settings
        ceiling = min(s.backoff_max, s.backoff_base * (2 ** retry))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.backoff_max))
        return delay

    async def chat(self, messages: Sequence[Message], *, json_mode: bool = False, max_tokens: int | None = None,
                   tools: list[dict[str, Any]] | None = None, tool_choice: ToolChoice | None = None,
                   parallel_tool_calls: bool | None = None, temperature: float | None = None,
                   seed: int | None = None) -> LLMReply:
        """One chat completion. JSON mode asks for a JSON object and parses it (one corrective re-ask); `tools`
        offers OpenAI function tools (the reply's `tool_calls` keep raw arguments). `temperature`/`seed` override
        the settings for this call only.

        Raises LLMInfraError when the endpoint cannot be used, LLMReplyError when JSON mode gets no JSON twice,
        ValueError for json_mode together with tools.
        """
        _check_tools(json_mode, tools)
        s = self.settings
        options: dict[str, Any] = {"temperature": s.temperature if temperature is None else temperature}
        budget = max_tokens or s.max_tokens
        if budget:
            options["max_tokens"] = budget
        if seed is not None or s.seed is not None:
            options["seed"] = s.seed if seed is None else seed
        if json_mode:
            options["response_format"] = {"type": "json_object"}
        if tools:
            options["tools"] = list(tools)
        if tool_choice is not None:
            options["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            options["parallel_tool_calls"] = parallel_tool_calls
        usage = Usage()
        convo = [dict(m) for m in messages]
        try:
            text, finish, calls = await self._complete(convo, options, usage)
            if not json_mode:
                return LLMReply(text=text, model=self.model, finish_reason=finish, usage=usage, tool_calls=calls)
            try:
                data = parse_json_reply(text)
            except ValueError as first:
                usage.reasks += 1
                convo += [{"role": "assistant", "content": text}, _reask_message(str(first))]
                text, finish, _ = await self._complete(convo, options, usage)
                try:
                    data = parse_json_reply(text)
                except ValueError as second:
                    raise LLMReplyError(f"the model's reply is not JSON, even after a corrective re-ask: {second}"
                                        ) from None
            return LLMReply(text=text, data=data, model=self.model, finish_reason=finish, usage=usage)
        finally:
            self.usage.add(usage)

    async def _complete(self, messages: list[Message], options: dict[str, Any],
                        usage: Usage) -> tuple[str, str | None, list[ToolCall]]:
        import openai

        s = self.settings
        kwargs: dict[str, Any] = {"model": s.model, "messages": messages, "timeout": s.timeout, **options}
        where = s.base_url or "the OpenAI API"
        retry = 0
        while True:
            retry_after: float | None = None
            try:
                usage.requests += 1
                response = await self._openai().chat.completions.create(**kwargs)
            except openai.APITimeoutError:
                problem = f"timed out after {s.timeout:g} s"
            except openai.APIConnectionError as exc:
                problem = f"connection failed: {one_line(exc.__cause__ or exc, 160)}"
            except openai.APIStatusError as exc:
                problem = f"HTTP {exc.status_code}: {one_line(api_error_message(exc), 200)}"
                if exc.status_code not in RETRYABLE_STATUS and exc.status_code < 500:
                    raise LLMInfraError(f"model endpoint {where} refused the request ({problem})") from None
                retry_after = _retry_after(exc)
            except openai.OpenAIError as exc:  # malformed response body and the like
                problem = f"{type(exc).__name__}: {one_line(exc, 200)}"
            else:
                return self._read(response, usage)
            if retry >= s.max_retries:
                raise LLMInfraError(f"model endpoint {where} failed after {retry + 1} tries; last: {problem}")
            usage.retries += 1
            await self._sleep(self.backoff(retry, retry_after))
            retry += 1

    def _read(self, response: Any, usage: Usage) -> tuple[str, str | None, list[ToolCall]]:
        counts = getattr(response, "usage", None)
        if counts is not None:
            usage.prompt_tokens += int(getattr(counts, "prompt_tokens", 0) or 0)
            usage.completion_tokens += int(getattr(counts, "completion_tokens", 0) or 0)
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise LLMInfraError("model endpoint returned a completion without choices")
        message = choices[0].message
        calls = [_tool_call(call, i) for i, call in enumerate(getattr(message, "tool_calls", None) or [])]
        return (message.content or ""), choices[0].finish_reason, calls


def _tool_call(call: Any, index: int) -> ToolCall:
    """A ToolCall from the openai package's object; a custom (non-function) tool's free-form input is its arguments.

    Some servers omit the id; a positional one keeps the conversation's tool results addressable.
    """
    function = getattr(call, "function", None)
    if function is not None:
        name, arguments = function.name, function.arguments
    else:
        custom = getattr(call, "custom", None)
        name, arguments = getattr(custom, "name", ""), getattr(custom, "input", "")
    return ToolCall(id=getattr(call, "id", None) or f"call_{index}", name=name or "", arguments=arguments or "")


def api_error_message(exc: Any) -> str:
    """The message of an OpenAI-compatible endpoint's error body (or the exception's)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", None) or exc)


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / scale)
            except ValueError:
                return None
    return None


# --- offline ----------------------------------------------------------------------------------------------------

class OfflineToolCall(BaseModel):
    """A scripted tool call; dict arguments are JSON-encoded, a str is kept raw (it may be malformed on purpose)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: str | dict[str, Any] = ""
    id: str | None = Field(None, description="Default: call_<n>, n counting this OfflineLLM's tool calls from 1.")


class OfflineReply(BaseModel):
    """A scripted reply that may call tools: `{"content": ..., "tool_calls": [{"name": ..., "arguments": ...}]}`."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[OfflineToolCall] = Field(default_factory=list)


ScriptItem = str | dict[str, Any] | OfflineReply
Responder = Callable[..., ScriptItem]
"""A deterministic answerer: (messages, json_mode) -> reply text or an OfflineReply-shaped dict. One that accepts a
`tools` keyword (or **kwargs) is also given the tools offered (None when none)."""


def _accepts_tools(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return False
    return any(p.name == "tools" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class OfflineLLM:
    """Same interface as LLMClient, no endpoint: replies come from a script (in order) or a deterministic callable.

    Token counts are estimated (characters / 4) so accounting code paths run unchanged. An exhausted script raises
    LLMInfraError, as an unreachable endpoint would. Per request it records the messages (`requests`), the tools
    offered (`requests_tools`, None when none) and the other call options (`requests_options`), so tests can
    assert on them.
    """

    def __init__(self, replies: Responder | Iterable[ScriptItem], *, model: str = "offline") -> None:
        self._responder: Responder | None = replies if callable(replies) else None
        self._responder_takes_tools = callable(replies) and _accepts_tools(replies)
        self._script: list[OfflineReply] = [] if callable(replies) else [_offline_reply(r) for r in replies]
        self._model = model
        self._calls = 0
        self.usage = Usage()
        self.requests: list[list[Message]] = []
        self.requests_tools: list[list[dict[str, Any]] | None] = []
        self.requests_options: list[dict[str, Any]] = []

    @property
    def model(self) -> str:
        return self._model

    @property
    def remaining(self) -> int:
        return len(self._script)

    async def __aenter__(self) -> OfflineLLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def chat(self, messages: Sequence[Message], *, json_mode: bool = False, max_tokens: int | None = None,
                   tools: list[dict[str, Any]] | None = None, tool_choice: ToolChoice | None = None,
                   parallel_tool_calls: bool | None = None, temperature: float | None = None,
                   seed: int | None = None) -> LLMReply:
        _check_tools(json_mode, tools)
        tools = list(tools) if tools else None
        options = {k: v for k, v in {"max_tokens": max_tokens, "tool_choice": tool_choice, "temperature": temperature,
                                     "parallel_tool_calls": parallel_tool_calls, "seed": seed}.items()
                   if v is not None}
        usage = Usage()
        convo = [dict(m) for m in messages]
        try:
            text, calls = self._answer(convo, json_mode, tools, options, usage)
            if not json_mode:
                return LLMReply(text=text, model=self.model, finish_reason="tool_calls" if calls else "stop",
                                usage=usage, tool_calls=calls)
            try:
                data = parse_json_reply(text)
            except ValueError as first:
                usage.reasks += 1
                convo += [{"role": "assistant", "content": text}, _reask_message(str(first))]
                text, _ = self._answer(convo, json_mode, tools, options, usage)
                try:
                    data = parse_json_reply(text)
                except ValueError as second:
                    raise LLMReplyError(f"the model's reply is not JSON, even after a corrective re-ask: {second}"
                                        ) from None
            return LLMReply(text=text, data=data, model=self.model, finish_reason="stop", usage=usage)
        finally:
            self.usage.add(usage)

    def _answer(self, messages: list[Message], json_mode: bool, tools: list[dict[str, Any]] | None,
                options: dict[str, Any], usage: Usage) -> tuple[str, list[ToolCall]]:
        self.requests.append(messages)
        self.requests_tools.append(tools)
        self.requests_options.append(options)
        if self._responder is not None:
            extra = {"tools": tools} if self._responder_takes_tools else {}
            reply = _offline_reply(self._responder(messages, json_mode, **extra))
        elif self._script:
            reply = self._script.pop(0)
        else:
            raise LLMInfraError("offline model: the script of replies is exhausted")
        calls = []
        for call in reply.tool_calls:
            self._calls += 1
            arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            calls.append(ToolCall(id=call.id or f"call_{self._calls}", name=call.name, arguments=arguments))
        text = reply.content or ""
        usage.requests += 1
        usage.prompt_tokens += sum(len(str(m.get("content") or "")) for m in messages) // 4
        usage.completion_tokens += (len(text) + sum(len(c.name) + len(c.arguments) for c in calls)) // 4
        return text, calls


def _offline_reply(item: ScriptItem) -> OfflineReply:
    if isinstance(item, OfflineReply):
        return item
    if isinstance(item, str):
        return OfflineReply(content=item)
    return OfflineReply.model_validate(item)
