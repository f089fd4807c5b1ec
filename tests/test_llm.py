"""The LLM client against a real OpenAI-compatible HTTP server: retries, backoff, JSON mode, token accounting."""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from synthesizer.llm import (
    ChatModel,
    LLMClient,
    LLMInfraError,
    LLMReplyError,
    LLMSettings,
    OfflineLLM,
    Usage,
    parse_json_reply,
)
from tests.fixtures.scripted_llm import ScriptedLLMServer, delay, error, malformed_json, text

ROOT = Path(__file__).resolve().parents[1]
HELLO = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello world"}]


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
    tree = ast.parse((ROOT / "synthesizer" / "llm.py").read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m == "servers" or m.startswith("servers.") for m in imported)
    code = "import sys, synthesizer.llm; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"  # the openai package is loaded on the first chat, not at import
