"""The LLM client against a real OpenAI-compatible HTTP server: retries, backoff, JSON mode, token accounting."""

from __future__ import annotations

import ast
import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from common.llm import (
    ChatModel,
    LLMClient,
    LLMInfraError,
    LLMReply,
    LLMReplyError,
    LLMSettings,
    OfflineLLM,
    ToolCall,
    Usage,
    parse_json_reply,
)
from tests.fixtures.scripted_llm import (
    EMBEDDING_DIM,
    ScriptedLLMServer,
    Step,
    delay,
    embed,
    error,
    malformed_json,
    text,
    tool_calls,
)

ROOT = Path(__file__).resolve().parents[2]
HELLO = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello world"}]
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time in a city.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
]


def make(server: ScriptedLLMServer, delays: list[float] | None = None, **overrides: Any) -> LLMClient:
    settings = {"model": "scripted", "base_url": server.base_url, "api_key": "k", "timeout": 5.0, "max_retries": 3,
                "backoff_base": 0.01, "backoff_max": 0.08, **overrides}

    async def record(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)
        await asyncio.sleep(seconds)

    return LLMClient(LLMSettings.model_validate(settings), sleep=record)


def run(client: LLMClient, fn: Callable[[LLMClient], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with client:
            return await fn(client)
    return asyncio.run(go())


def test_text_reply_and_token_accounting() -> None:
    with ScriptedLLMServer(["hello world", "again"]) as server:
        client = make(server)

        async def two(c: LLMClient) -> list[Any]:
            return [await c.chat(HELLO), await c.chat(HELLO, max_tokens=7)]
        first, second = run(client, two)
    assert first.text == "hello world" and first.data is None and first.model == "scripted"
    assert (first.prompt_tokens, first.completion_tokens, first.retries) == (6, 2, 0)  # words, per the server
    assert second.completion_tokens == 1 and second.finish_reason == "stop"
    assert client.usage == Usage(requests=2, prompt_tokens=12, completion_tokens=3)
    assert client.usage.total_tokens == 15
    body = server.requests[1]
    assert body["model"] == "scripted" and body["messages"] == HELLO and body["max_tokens"] == 7
    assert body["seed"] == 0 and "response_format" not in body


def test_429_and_5xx_are_retried_with_seeded_exponential_backoff() -> None:
    delays: list[float] = []
    with ScriptedLLMServer([error(429), error(500), error(502), "ok"]) as server:
        reply = run(make(server, delays, backoff_base=0.01, backoff_max=1.0), lambda c: c.chat(HELLO))
    assert reply.text == "ok" and reply.retries == 3 and reply.usage.requests == 4
    assert len(delays) == 3
    for i, d in enumerate(delays):  # equal jitter: within [ceiling/2, ceiling], ceiling = base * 2**i
        assert 0.01 * 2**i / 2 <= d <= 0.01 * 2**i
    again = LLMClient(LLMSettings(backoff_base=0.01, backoff_max=1.0, seed=0))
    assert [again.backoff(i) for i in range(3)] == delays  # the jitter is reproducible from the seed
    other = LLMClient(LLMSettings(backoff_base=0.01, backoff_max=1.0, seed=1))
    assert [other.backoff(i) for i in range(3)] != delays


def test_backoff_is_capped_and_honours_retry_after() -> None:
    client = LLMClient(LLMSettings(backoff_base=1.0, backoff_max=4.0))
    assert all(2.0 <= client.backoff(10) <= 4.0 for _ in range(20))
    assert client.backoff(0, retry_after=3.0) == 3.0
    assert client.backoff(0, retry_after=60.0) <= 4.0
    delays: list[float] = []
    with ScriptedLLMServer([error(429, headers={"retry-after-ms": "50"}), "ok"]) as server:
        run(make(server, delays, backoff_base=0.001, backoff_max=1.0), lambda c: c.chat(HELLO))
    assert delays == [0.05]


def test_a_timeout_is_retried() -> None:
    with ScriptedLLMServer([delay(1.5, "too late"), "in time"]) as server:
        reply = run(make(server, timeout=0.3), lambda c: c.chat(HELLO))
    assert reply.text == "in time" and reply.retries == 1 and len(server.requests) == 2


def test_exhausted_retries_raise_a_one_line_infra_error() -> None:
    with ScriptedLLMServer([error(500), error(503), delay(1.0)]) as server:
        client = make(server, max_retries=2, timeout=0.3)
        with pytest.raises(LLMInfraError) as info:
            run(client, lambda c: c.chat(HELLO))
    message = str(info.value)
    assert "\n" not in message and "failed after 3 tries" in message and "timed out after 0.3 s" in message
    assert server.base_url in message
    assert client.usage.requests == 3 and client.usage.retries == 2


def test_connection_refused_is_an_infra_error() -> None:
    with ScriptedLLMServer() as server:
        url = server.base_url
    client = LLMClient(LLMSettings(base_url=url, api_key="k", max_retries=1, backoff_base=0.01))
    with pytest.raises(LLMInfraError, match="connection failed"):
        run(client, lambda c: c.chat(HELLO))


def test_client_errors_are_not_retried() -> None:
    with ScriptedLLMServer([error(401, "Incorrect API key provided"), "never"]) as server:
        with pytest.raises(LLMInfraError, match="refused the request .HTTP 401: Incorrect API key"):
            run(make(server), lambda c: c.chat(HELLO))
        assert len(server.requests) == 1


def test_json_mode_parses_and_asks_for_a_json_object() -> None:
    with ScriptedLLMServer(['{"a": [1, 2]}', '```json\n{"b": true}\n```']) as server:
        async def two(c: LLMClient) -> list[Any]:
            return [await c.chat(HELLO, json_mode=True), await c.chat(HELLO, json_mode=True)]
        first, second = run(make(server), two)
    assert first.data == {"a": [1, 2]} and second.data == {"b": True}
    assert server.requests[0]["response_format"] == {"type": "json_object"}


def test_malformed_json_gets_one_corrective_reask() -> None:
    with ScriptedLLMServer([malformed_json(), '{"fixed": 1}']) as server:
        client = make(server)
        reply = run(client, lambda c: c.chat(HELLO, json_mode=True))
    assert reply.data == {"fixed": 1} and reply.usage.reasks == 1 and reply.usage.requests == 2
    reask = server.requests[1]["messages"]
    assert reask[:2] == HELLO and reask[2]["role"] == "assistant" and reask[2]["content"] == malformed_json().content
    assert "not valid JSON" in reask[3]["content"] and "line 1" in reask[3]["content"]
    assert client.usage.reasks == 1 and client.usage.prompt_tokens == reply.prompt_tokens > 0


def test_malformed_json_twice_is_a_reply_error() -> None:
    with ScriptedLLMServer([malformed_json(), text("Sure, here it is: {oops}")]) as server:
        client = make(server)
        with pytest.raises(LLMReplyError, match="not JSON, even after a corrective re-ask"):
            run(client, lambda c: c.chat(HELLO, json_mode=True))
    assert client.usage.requests == 2  # the failed exchange is still accounted


def test_settings_from_env_flags_win_and_the_key_is_hidden() -> None:
    env = {"ENVFACTORY_LLM_MODEL": "qwen-coder", "ENVFACTORY_LLM_BASE_URL": "http://127.0.0.1:8000/v1",
           "OPENAI_API_KEY": "sk-secret", "ENVFACTORY_LLM_TIMEOUT": "30", "ENVFACTORY_LLM_MAX_RETRIES": "2"}
    settings = LLMSettings.from_env(env)
    assert (settings.model, settings.base_url, settings.api_key) == ("qwen-coder", "http://127.0.0.1:8000/v1",
                                                                     "sk-secret")
    assert (settings.timeout, settings.max_retries) == (30.0, 2)
    assert "sk-secret" not in repr(settings)
    flagged = LLMSettings.from_env({**env, "ENVFACTORY_LLM_API_KEY": "ef-key"}, model="flag-model", base_url=None)
    assert (flagged.model, flagged.base_url, flagged.api_key) == ("flag-model", "http://127.0.0.1:8000/v1", "ef-key")
    assert LLMSettings.from_env({}).api_key is None


def test_offline_llm_has_the_same_interface() -> None:
    scripted = OfflineLLM(["plain", "not json", '{"k": 1}'], model="offline-test")
    assert isinstance(scripted, ChatModel) and isinstance(LLMClient(LLMSettings()), ChatModel)

    async def go() -> tuple[Any, Any]:
        return await scripted.chat(HELLO), await scripted.chat(HELLO, json_mode=True)
    plain, parsed = asyncio.run(go())
    assert plain.text == "plain" and parsed.data == {"k": 1} and parsed.usage.reasks == 1
    assert scripted.usage.requests == 3 and scripted.usage.prompt_tokens > 0 and scripted.model == "offline-test"
    with pytest.raises(LLMInfraError, match="exhausted"):
        asyncio.run(scripted.chat(HELLO))

    echo = OfflineLLM(lambda messages, json_mode: json.dumps({"echo": len(messages)}) if json_mode else "hi")
    assert asyncio.run(echo.chat(HELLO, json_mode=True)).data == {"echo": 2}


def test_parse_json_reply_messages() -> None:
    assert parse_json_reply(' ```\n[1]\n``` ') == [1]
    with pytest.raises(ValueError, match="empty"):
        parse_json_reply("  ")
    with pytest.raises(ValueError, match="line 2 column 1"):
        parse_json_reply('{"a": 1,\n}')


def test_llm_module_imports_no_servers_and_creates_nothing_at_import() -> None:
    tree = ast.parse((ROOT / "common" / "llm.py").read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m == "servers" or m.startswith("servers.") for m in imported)
    code = "import sys, common.llm; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"  # the openai package is loaded on the first chat, not at import


# --- native function calling ------------------------------------------------------------------------------------

def test_a_tool_call_reply_is_parsed_and_tools_are_sent_on_the_wire() -> None:
    with ScriptedLLMServer([tool_calls([("get_weather", {"city": "Paris"})])]) as server:
        reply = run(make(server), lambda c: c.chat(HELLO, tools=TOOLS, tool_choice="required",
                                                   parallel_tool_calls=False, temperature=0.9, seed=7))
    assert reply.tool_calls == [ToolCall(id="call_1_0", name="get_weather", arguments='{"city": "Paris"}')]
    assert reply.text == "" and reply.data is None and reply.finish_reason == "tool_calls"
    assert reply.completion_tokens == 2 and reply.usage.requests == 1
    body = server.requests[0]
    assert body["tools"] == TOOLS and body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["temperature"] == 0.9 and body["seed"] == 7 and "response_format" not in body


def test_defaults_send_no_tool_fields_and_the_settings_temperature_and_seed() -> None:
    with ScriptedLLMServer(["plain"]) as server:
        reply = run(make(server, temperature=0.3, seed=11), lambda c: c.chat(HELLO))
    assert reply.tool_calls == [] and reply.assistant_message() == {"role": "assistant", "content": "plain"}
    body = server.requests[0]
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & body.keys()
    assert (body["temperature"], body["seed"]) == (0.3, 11)


def test_two_parallel_tool_calls_keep_their_order_and_the_text() -> None:
    step = tool_calls([("get_weather", {"city": "Oslo"}), ("get_time", {"city": "Lima"})], content="Checking both.")
    with ScriptedLLMServer(["warm-up", step]) as server:
        async def two(c: LLMClient) -> LLMReply:
            await c.chat(HELLO)
            return await c.chat(HELLO, tools=TOOLS)
        reply = run(make(server), two)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("call_2_0", "get_weather", {"city": "Oslo"}), ("call_2_1", "get_time", {"city": "Lima"})]
    assert reply.text == "Checking both."
    assert reply.assistant_message()["content"] == "Checking both."


def test_malformed_arguments_are_preserved_raw() -> None:
    raw = '{"city": "Paris",, '
    with ScriptedLLMServer([tool_calls([("get_weather", raw), ("get_time", "")])]) as server:
        reply = run(make(server), lambda c: c.chat(HELLO, tools=TOOLS))
    assert [c.arguments for c in reply.tool_calls] == [raw, ""]
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.tool_calls[0].arguments)


def test_assistant_message_round_trips_through_the_conversation() -> None:
    script = [tool_calls([("get_weather", {"city": "Rome"})]), "It is sunny in Rome."]
    with ScriptedLLMServer(script) as server:
        async def loop(c: LLMClient) -> tuple[LLMReply, LLMReply]:
            first = await c.chat(HELLO, tools=TOOLS)
            convo = [*HELLO, first.assistant_message()]
            convo += [{"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'}
                      for call in first.tool_calls]
            return first, await c.chat(convo, tools=TOOLS)
        first, final = run(make(server), loop)
    assert first.assistant_message() == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]}
    sent = server.requests[1]["messages"]
    assert sent[:2] == HELLO and sent[2] == first.assistant_message()
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1_0", "content": '{"sky": "sunny"}'}
    assert final.text == "It is sunny in Rome." and final.tool_calls == [] and final.finish_reason == "stop"


def test_a_reply_with_neither_text_nor_tool_calls_is_an_empty_reply() -> None:
    with ScriptedLLMServer([Step(content=None)]) as server:
        reply = run(make(server), lambda c: c.chat(HELLO, tools=TOOLS))
    assert (reply.text, reply.tool_calls, reply.completion_tokens) == ("", [], 0)
    assert reply.assistant_message() == {"role": "assistant", "content": ""}


def test_json_mode_and_tools_are_mutually_exclusive() -> None:
    with ScriptedLLMServer(["never"]) as server:
        with pytest.raises(ValueError, match="mutually exclusive"):
            run(make(server), lambda c: c.chat(HELLO, json_mode=True, tools=TOOLS))
        assert server.requests == []
    with pytest.raises(ValueError, match="mutually exclusive"):
        asyncio.run(OfflineLLM(["never"]).chat(HELLO, json_mode=True, tools=TOOLS))


# --- the scripted server: responder, latency, embeddings -------------------------------------------------------

def test_the_responder_answers_after_the_script_and_can_route_by_request() -> None:
    def route(body: dict[str, Any]) -> Step | str:
        if body.get("tools"):
            return tool_calls([(body["tools"][0]["function"]["name"], {"city": "Kyiv"})])
        return f"system said: {body['messages'][0]['content']}"

    async def route_async(body: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return "async " + route(body)  # type: ignore[operator]

    with ScriptedLLMServer(["scripted first"], responder=route) as server:
        async def three(c: LLMClient) -> list[LLMReply]:
            return [await c.chat(HELLO), await c.chat(HELLO), await c.chat(HELLO, tools=TOOLS[1:])]
        first, second, third = run(make(server), three)
        assert server.remaining == 0 and len(server.requests) == 3
    assert first.text == "scripted first" and second.text == "system said: You are terse."
    assert [(c.id, c.name) for c in third.tool_calls] == [("call_3_0", "get_time")]
    with ScriptedLLMServer(responder=route_async) as server:
        assert run(make(server), lambda c: c.chat(HELLO)).text == "async system said: You are terse."


def test_a_failing_responder_is_an_outage_naming_the_bug() -> None:
    def broken(body: dict[str, Any]) -> str:
        raise KeyError("no-such-route")

    with ScriptedLLMServer(responder=broken) as server, pytest.raises(LLMInfraError, match="responder raised Key"):
        run(make(server, max_retries=0), lambda c: c.chat(HELLO))


def test_latency_is_applied_concurrently_to_many_requests() -> None:
    with ScriptedLLMServer(responder=lambda body: "pong", latency=0.2) as server:
        async def burst(c: LLMClient) -> tuple[float, list[LLMReply]]:
            start = time.monotonic()
            replies = await asyncio.gather(*(c.chat([{"role": "user", "content": f"ping {i}"}]) for i in range(64)))
            return time.monotonic() - start, replies
        elapsed, replies = run(make(server, timeout=10.0), burst)
        assert len(server.requests) == 64
    assert all(r.text == "pong" and r.retries == 0 for r in replies)
    assert 0.2 <= elapsed < 2.0, elapsed  # serial service would take 64 * 0.2 = 12.8 s


def test_embeddings_endpoint_shape_and_determinism() -> None:
    import openai

    with ScriptedLLMServer() as server:
        async def go() -> tuple[Any, Any]:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
            try:
                many = await client.embeddings.create(model="embed-test", input=["Hello, World!", "hello world",
                                                                                 "the weather in Paris", "!!"])
                one = await client.embeddings.create(model="embed-test", input="Hello world")
                return many, one
            finally:
                await client.close()
        many, one = asyncio.run(go())
        assert server.requests[0]["input"][0] == "Hello, World!" and server.requests[1]["input"] == "Hello world"
        assert server.remaining == 0 and server.prompts() == ["", ""]  # embeddings consume no chat steps
    assert many.model == "embed-test" and many.object == "list" and many.usage.prompt_tokens == 9
    assert [d.index for d in many.data] == [0, 1, 2, 3] and all(d.object == "embedding" for d in many.data)
    vectors = [d.embedding for d in many.data]
    assert all(len(v) == EMBEDDING_DIM for v in vectors)
    assert vectors[0] == vectors[1] == one.data[0].embedding == embed("hello world")  # case and punctuation fold
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in vectors[:3])
    assert vectors[3] == [0.0] * EMBEDDING_DIM  # no words: the zero vector
    assert vectors[2] != vectors[0]
    assert embed("red blue") == embed("blue red") and embed("blue red") != embed("red red")
    digest = subprocess.run([sys.executable, "-c", "from tests.fixtures.scripted_llm import embed; "
                             "print(embed('stable across processes'))"], capture_output=True, text=True, cwd=ROOT,
                            check=True, env={"PYTHONHASHSEED": "123"})
    assert digest.stdout.strip() == str(embed("stable across processes"))  # hashlib, not the salted hash()


def test_embeddings_reject_a_non_text_input() -> None:
    import openai

    with ScriptedLLMServer() as server:
        async def go() -> None:
            async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
                await client.embeddings.create(model="m", input=[[1, 2, 3]])
        with pytest.raises(openai.BadRequestError, match="input"):
            asyncio.run(go())


# --- OfflineLLM tool calls --------------------------------------------------------------------------------------

def test_offline_llm_tool_calls_from_a_script() -> None:
    llm = OfflineLLM([
        {"content": None, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                                         {"name": "get_time", "arguments": '{"city": ', "id": "mine"}]},
        {"tool_calls": [{"name": "get_time", "arguments": {"city": "Lima"}}]},
        "done",
    ])

    async def go() -> list[LLMReply]:
        return [await llm.chat(HELLO, tools=TOOLS, tool_choice="auto"), await llm.chat(HELLO, tools=TOOLS[:1]),
                await llm.chat(HELLO, temperature=0.0, seed=3)]
    first, second, third = asyncio.run(go())
    assert first.tool_calls == [ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}'),
                                ToolCall(id="mine", name="get_time", arguments='{"city": ')]
    assert first.finish_reason == "tool_calls" and first.text == ""
    assert first.assistant_message()["tool_calls"][1] == {
        "id": "mine", "type": "function", "function": {"name": "get_time", "arguments": '{"city": '}}
    assert [c.id for c in second.tool_calls] == ["call_3"]  # n counts every tool call, explicit ids too
    assert third.text == "done" and third.tool_calls == [] and third.finish_reason == "stop"
    assert llm.requests_tools == [TOOLS, TOOLS[:1], None]
    assert llm.requests_options == [{"tool_choice": "auto"}, {}, {"temperature": 0.0, "seed": 3}]
    assert llm.usage.requests == 3 and llm.usage.completion_tokens > 0
    with pytest.raises(ValueError):
        OfflineLLM([{"content": "x", "tool_calls": [{"arguments": {}}]}])  # a tool call needs a name


def test_offline_llm_responder_sees_the_tools_offered() -> None:
    def responder(messages: list[dict[str, Any]], json_mode: bool, tools: list[dict[str, Any]] | None) -> Any:
        if tools and messages[-1]["role"] != "tool":
            return {"tool_calls": [{"name": tools[0]["function"]["name"], "arguments": {"n": len(messages)}}]}
        return "final answer"

    llm = OfflineLLM(responder)

    async def go() -> tuple[LLMReply, LLMReply]:
        first = await llm.chat(HELLO, tools=TOOLS)
        convo = [*HELLO, first.assistant_message(),
                 {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "42"}]
        return first, await llm.chat(convo, tools=TOOLS)
    first, second = asyncio.run(go())
    assert first.tool_calls == [ToolCall(id="call_1", name="get_weather", arguments='{"n": 2}')]
    assert second.text == "final answer" and llm.requests[1][2]["content"] is None
    assert isinstance(llm, ChatModel)
