"""Offline executor: run a sampled chain in a fresh episode, feeding ids from earlier real outputs."""

from __future__ import annotations

import json
import random
from typing import Any

import networkx as nx
from pydantic import BaseModel

from synthesizer.discovery import ConnectedServer
from synthesizer.errors import SynthError
from synthesizer.fastclient import RolloutClientError, RPCError
from synthesizer.sampler import Chain, tool_of
from synthesizer.values import fill_arguments

META_EPISODE = "envfactory/episode"
META_SCENARIO = "envfactory/scenario"
META_STATE_HASH = "envfactory/state_hash"


class CallFailed(Exception):
    """A call returned is_error (or a JSON-RPC error): the attempt is discarded and resampled."""


class StepResult(BaseModel):
    tool: str
    arguments: dict[str, Any]
    output: Any
    text: str
    state_hash: str | None = None


class Feed(BaseModel):
    """Where a fed argument came from: output of step `src` at `field`; the record holding it (for naming)."""

    param: str
    src: int
    field: str
    value: Any
    record: dict[str, Any] | None = None
    position: int | None = None
    count: int | None = None


class Execution(BaseModel):
    scenario: str | None
    chain: Chain
    steps: list[StepResult]
    feeds: list[list[Feed]]

    @property
    def final_state_hash(self) -> str | None:
        return self.steps[-1].state_hash if self.steps else None


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


async def call(server: ConnectedServer, tool: str, arguments: dict[str, Any], episode: str,
               scenario: str | None) -> StepResult:
    meta: dict[str, Any] = {META_EPISODE: episode}
    if scenario:
        meta[META_SCENARIO] = scenario
    try:
        r = await server.caller.call_tool(tool, arguments, meta=meta)
    except RPCError as exc:  # thin client: a JSON-RPC error about this call (like the SDK's MCPError) is resampled
        if exc.is_protocol_error:
            raise SynthError(f"MCP server {server.name!r} ({server.source.where()}) rejected the request: "
                             f"JSON-RPC error {exc.code}: {exc.rpc_message}") from None
        raise CallFailed(f"{tool}: {exc.rpc_message}") from None
    except RolloutClientError as exc:
        raise SynthError(f"lost MCP server {server.name!r} ({server.source.where()}): {exc}") from None
    except Exception as exc:
        name = type(exc).__name__
        if name == "MCPError" and "closed" not in str(exc).lower():
            raise CallFailed(f"{tool}: {exc}") from None
        raise SynthError(f"lost MCP server {server.name!r} ({server.source.where()}): {name}: {exc}") from None
    text = result_text(r)
    if r.is_error:
        raise CallFailed(f"{tool}: {text[:200]}")
    return StepResult(tool=tool, arguments=arguments, output=result_output(r, text), text=text,
                      state_hash=(r.meta or {}).get(META_STATE_HASH))


def pick(output: Any, path: str, rng: random.Random, memo: dict[str, int]) -> tuple[Any, dict | None, int | None,
                                                                                     int | None]:
    """The value at `path` (`notes[].id`): a seeded item of each list (shared by feeds with the same prefix)."""
    cur: Any = output
    record: dict | None = output if isinstance(output, dict) else None
    position = count = None
    done: list[str] = []
    for part in path.split("."):
        key = part.rstrip("[]")
        if key:
            if not isinstance(cur, dict) or key not in cur or cur[key] is None:
                raise CallFailed(f"output has no {'.'.join([*done, part])}")
            cur = cur[key]
        done.append(key)
        for _ in range((len(part) - len(key)) // 2):
            if not isinstance(cur, list) or not cur:
                raise CallFailed(f"output list {'.'.join(done)} is empty")
            prefix = ".".join(done) + f"#{len(done)}"
            if prefix not in memo:
                memo[prefix] = rng.randrange(len(cur))
            position, count = memo[prefix], len(cur)
            cur = cur[memo[prefix]]
            done.append("[]")
        if isinstance(cur, dict):
            record = cur
    return cur, record, position, count


async def execute(server: ConnectedServer, graph: nx.DiGraph, chain: Chain, rng: random.Random, episode: str,
                  scenario: str | None) -> Execution:
    """Run every step in `episode`; raise CallFailed on the first error."""
    steps: list[StepResult] = []
    feeds: list[list[Feed]] = []
    memos: dict[int, dict[str, int]] = {}
    for j, name in enumerate(chain.nodes):
        step_feeds: list[Feed] = []
        for e in chain.feeds(j):
            memo = memos.setdefault(e.src, {})
            value, record, position, count = pick(steps[e.src].output, e.field, rng, memo)
            taken = [f.value for f in step_feeds if f.src == e.src and f.field == e.field]
            for _ in range(6):  # two parameters fed from one list (origin, destination): different items
                if value not in taken or "[]" not in e.field:
                    break
                value, record, position, count = pick(steps[e.src].output, e.field, rng, {})
            step_feeds.append(Feed(param=e.param, src=e.src, field=e.field, value=value, record=record,
                                   position=position, count=count))
        fed = {f.param: f.value for f in step_feeds}
        tool = tool_of(graph, name)
        arguments = fill_arguments(tool.input_schema, fed, rng, name, tool.read_only)
        steps.append(await call(server, name, arguments, episode, scenario))
        feeds.append(step_feeds)
    return Execution(scenario=scenario, chain=chain, steps=steps, feeds=feeds)
