"""Grounded dry run: execute a skeleton in scratch episodes, feeding parameters from real earlier outputs.

A plan is only worth a model's time if it runs: every call must succeed against the scenario's State, with ids that
exist. The executed calls (arguments and outputs) become the gold plan, and the scratch episodes' final State hashes
the expected ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from synthesizer.data.records import split_qualified
from synthesizer.discovery.calls import CallFailed, CallResult, call_ok
from synthesizer.discovery.sources import ConnectedServer
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.grounded import FedValue, GroundedPlan, Step
from synthesizer.plan.observed import Observed
from synthesizer.plan.topology import Skeleton
from synthesizer.plan.values import Known, fill_arguments, value_for


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


STEP_TRIES = 4  # a step whose generated values the State rejects is tried again with other values
CREATING = ("create", "add", "new", "make", "book", "reserve", "place", "schedule", "send", "post", "register")


async def ground(sk: Skeleton, servers: dict[str, ConnectedServer], tools: dict[str, ToolInfo],
                 rng: random.Random, episodes: dict[str, str], scenarios: dict[str, str | None],
                 known: dict[str, Known] | None = None,
                 into: dict[tuple[str, str, str, str], str] | None = None,
                 speakable: Callable[[str], bool] | None = None) -> GroundedPlan:
    """Run every step in order in its server's scratch episode; raise CallFailed when a step keeps failing.

    `known`: per server, values its initial State holds by key; a lookup or a change of an existing thing states
    one of them (a user knows their own email), a creation never does. A server with neither a State nor a scenario
    (third-party) takes paths and ids only from its own read-only outputs (`observed`)."""
    steps: list[Step] = []
    feeds: list[list[FedValue]] = []
    taken: dict[int, set[int]] = {}
    observed = {s: Observed() for s in dict.fromkeys(split_qualified(n)[0] for n in sk.nodes)
                if s not in (known or {}) and not scenarios.get(s)}
    for j, name in enumerate(sk.nodes):
        server_name, raw = split_qualified(name)
        tool = tools[name]
        pool = None if raw.lower().startswith(CREATING) else (known or {}).get(server_name)
        obs = observed.get(server_name)
        if obs is not None and not obs.scouted and obs.lacks(tool, {}):
            await obs.scout(servers[server_name], [t for q, t in tools.items() if split_qualified(q)[0] == server_name],
                            episodes[server_name], scenarios.get(server_name))
        r: CallResult | None = None
        for attempt in range(STEP_TRIES):
            # a retry takes other items of the source lists (taken positions are avoided) and other values
            fv = fed_values(sk, j, steps, rng, taken)
            fed = nest({f.param: f.value for f in fv}, {f.param: (into or {}).get((sk.nodes[f.src], name, f.param,
                                                                                  f.field)) for f in fv},
                       tool, rng)
            if obs is not None:  # paths and ids from the server's own outputs, or CallFailed: never invented
                fed = obs.fill(tool, fed, rng)
            arguments = fill_arguments(tool.input_schema, fed | from_records(tool, fv, fed), rng, raw,
                                       tool.read_only, pool)
            if obs is not None:
                arguments = obs.settle(tool, arguments, fed)
            if speakable is not None:  # an optional value no person could state is not set (it would be invented)
                req = set((tool.input_schema or {}).get("required", []))
                arguments = {k: v for k, v in arguments.items() if k in req or k in fed or speakable(k)}
            try:
                r = await call_ok(servers[server_name], raw, arguments, episodes[server_name],
                                  scenarios.get(server_name))
                if tool.read_only and attempt < STEP_TRIES - 1 and _can_vary(tool, fv):
                    empty = _empty_feeds(sk, j, r.output)  # a search that found nothing feeds nobody: ask again
                    if empty:
                        continue
                break
            except CallFailed:
                if attempt == STEP_TRIES - 1 or not _can_vary(tool, fv):
                    raise
        assert r is not None
        if obs is not None:
            obs.harvest(tool, arguments, r.output, r.text)
            obs.wrote(tool, arguments)
        steps.append(Step(name=name, server=server_name, tool=raw, arguments=arguments, output=r.output, text=r.text,
                          state_hash=r.state_hash, read_only=tool.read_only))
        feeds.append(fv)
    return GroundedPlan(skeleton=sk, steps=steps, feeds=feeds, scenarios=scenarios, episodes=episodes)


AMOUNT = ("amount", "amount_cents", "payment_cents", "total", "total_cents", "sum")
OWED = ("balance_due", "amount_due", "due", "outstanding", "balance", "total")


def from_records(tool: ToolInfo, fv: list[FedValue], fed: dict[str, Any]) -> dict[str, Any]:
    """Values a record the step acts on already holds: a payment's amount is that booking's balance due, a
    parameter named like one of the record's fields takes that field (one situation, not independent draws)."""
    props = (tool.input_schema or {}).get("properties", {})
    out: dict[str, Any] = {}
    records = [f.record for f in fv if isinstance(f.record, dict)]
    for name in props:
        if name in fed:
            continue
        low = name.lower()
        for rec in records:
            keys = {k.lower(): k for k in rec}
            if low in AMOUNT:
                unit = "_cents" if low.endswith("_cents") else ""
                hit = next((keys[k] for o in OWED for k in keys if k in (o + unit, o) and
                            isinstance(rec[keys[k]], (int, float)) and rec[keys[k]] > 0), None)
                if hit is not None:
                    out[name] = rec[hit]
                    break
    return out


def _can_vary(tool: ToolInfo, fv: list[FedValue]) -> bool:
    """Whether another try could change anything: a generated argument, or a fed one picked from a longer list."""
    fed = {f.param for f in fv}
    return any(p not in fed for p in (tool.input_schema or {}).get("properties", {})) or any(
        f.count is not None and f.count > 1 for f in fv)


def _empty_feeds(sk: Skeleton, j: int, output: Any) -> list[str]:
    """Fields of step j's output that a later step needs but that lead to nothing (an empty list, a missing key)."""
    bad = []
    for _, d, field, _ in [e for e in sk.edges if e[0] == j]:
        try:
            pick(output, field, random.Random(0))
        except CallFailed:
            bad.append(f"{d}:{field}")
    return bad


def nest(fed: dict[str, Any], members: dict[str, str | None], tool: ToolInfo, rng: random.Random) -> dict[str, Any]:
    """A value fed into a member of a composite parameter (`items` <- `[].product_id`) becomes that parameter: one
    generated element with the member set (`[{"product_id": "prod_0003", "quantity": 1}]`)."""
    out = dict(fed)
    props = (tool.input_schema or {}).get("properties", {})
    for param, member in members.items():
        if not member or param not in props:
            continue
        shell = value_for(param, props[param], rng, tool.input_schema, example_p=0.0)
        target = shell
        path = [p for p in member.split(".") if p]
        for part in path[:-1]:
            key = part.removesuffix("[]")
            if key:
                target = target.setdefault(key, {}) if isinstance(target, dict) else target
            if part.endswith("[]") or part == "[]":
                if not isinstance(target, list) or not target:
                    break
                del target[1:]
                target = target[0]
        leaf = path[-1].removesuffix("[]")
        if isinstance(target, dict):
            target[leaf] = fed[param]
            out[param] = shell
    return out
