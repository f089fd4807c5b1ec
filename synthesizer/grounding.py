"""Grounded dry run: execute a skeleton in scratch episodes, feeding parameters from real earlier outputs.

A plan is only worth a model's time if it runs: every call must succeed against the scenario's State, with ids that
exist. The executed calls (arguments and outputs) become the gold plan, and the scratch episodes' final State hashes
the expected ones.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel

from synthesizer.calls import CallFailed, CallResult, call_ok
from synthesizer.discovery import ConnectedServer, ToolInfo
from synthesizer.records import split_qualified
from synthesizer.topology import Skeleton
from synthesizer.values import fill_arguments


class FedValue(BaseModel):
    """Where a fed argument came from: output of step `src` at `field`, and the record holding it (for naming)."""

    param: str
    src: int
    field: str
    value: Any
    record: dict[str, Any] | None = None
    position: int | None = None
    count: int | None = None


class Step(BaseModel):
    name: str  # namespaced
    server: str
    tool: str
    arguments: dict[str, Any]
    output: Any
    text: str
    state_hash: str | None = None
    read_only: bool = False


class GroundedPlan(BaseModel):
    skeleton: Skeleton
    steps: list[Step]
    feeds: list[list[FedValue]]
    scenarios: dict[str, str | None]
    episodes: dict[str, str]  # server -> scratch episode

    @property
    def servers(self) -> list[str]:
        return list(dict.fromkeys(s.server for s in self.steps))

    def expected_hashes(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for s in self.steps:
            out[s.server] = s.state_hash
        return out


def pick(output: Any, path: str, rng: random.Random, avoid: set[int] | None = None,
         memo: dict[str, int] | None = None) -> tuple[Any, dict | None, int | None, int | None]:
    """The value at `path` (`orders[].id`): a seeded item of each list, avoiding positions siblings already took."""
    memo = {} if memo is None else memo
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
            prefix = ".".join(done)
            if prefix not in memo:
                free = [i for i in range(len(cur)) if i not in (avoid or set())]
                memo[prefix] = rng.choice(free) if free else rng.randrange(len(cur))
            position, count = memo[prefix], len(cur)
            cur = cur[memo[prefix]]
            done.append("[]")
        if isinstance(cur, dict):
            record = cur
    return cur, record, position, count


def fed_values(sk: Skeleton, j: int, steps: list[Step], rng: random.Random,
               taken: dict[int, set[int]]) -> list[FedValue]:
    """Values for step j's fed parameters; sibling consumers of one list get different items."""
    out: list[FedValue] = []
    memos: dict[int, dict[str, int]] = {}
    for src, field, param in sk.feeds(j):
        memo = memos.setdefault(src, {})
        value, record, position, count = pick(steps[src].output, field, rng, taken.get(src), memo)
        out.append(FedValue(param=param, src=src, field=field, value=value, record=record, position=position,
                            count=count))
        if position is not None:
            taken.setdefault(src, set()).add(position)
    return out


async def ground(sk: Skeleton, servers: dict[str, ConnectedServer], tools: dict[str, ToolInfo],
                 rng: random.Random, episodes: dict[str, str], scenarios: dict[str, str | None]) -> GroundedPlan:
    """Run every step in order in its server's scratch episode; raise CallFailed on the first failure."""
    steps: list[Step] = []
    feeds: list[list[FedValue]] = []
    taken: dict[int, set[int]] = {}
    for j, name in enumerate(sk.nodes):
        server_name, raw = split_qualified(name)
        tool = tools[name]
        fv = fed_values(sk, j, steps, rng, taken)
        arguments = fill_arguments(tool.input_schema, {f.param: f.value for f in fv}, rng, raw, tool.read_only)
        r: CallResult = await call_ok(servers[server_name], raw, arguments, episodes[server_name],
                                      scenarios.get(server_name))
        steps.append(Step(name=name, server=server_name, tool=raw, arguments=arguments, output=r.output, text=r.text,
                          state_hash=r.state_hash, read_only=tool.read_only))
        feeds.append(fv)
    return GroundedPlan(skeleton=sk, steps=steps, feeds=feeds, scenarios=scenarios, episodes=episodes)
