"""One trajectory index: sample, execute, write the query, replay-verify, build the record (bounded attempts)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from pydantic import BaseModel

from synthesizer.discovery import ConnectedServer, ToolInfo
from synthesizer.graph import build_graph
from synthesizer.messages import build_messages, openai_tool
from synthesizer.query import write_query
from synthesizer.records import Checks, EnvRef, PlanStep, Trajectory, trajectory_id
from synthesizer.rollout import CallFailed, execute
from synthesizer.sampler import sample_chain
from synthesizer.verify import replay

MAX_ATTEMPTS = 30


@dataclass
class ServerContext:
    """A connected server with what the synthesizer derived from its tool list."""

    server: ConnectedServer
    graph: nx.DiGraph
    tools: dict[str, ToolInfo]
    openai_tools: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, server: ConnectedServer) -> ServerContext:
        tools = {t.name: t for t in server.info.tools}
        return cls(server=server, graph=build_graph(server.info.tools), tools=tools,
                   openai_tools=[openai_tool(t) for t in server.info.tools])


class IndexOutcome(BaseModel):
    index: int
    server: str
    trajectory: Trajectory | None = None
    attempts: int = 0
    failed_calls: int = 0
    bad_queries: int = 0
    unverified: int = 0
    reasons: list[str] = []
    warning: str | None = None


def attempt_rng(seed: int, index: int, attempt: int) -> random.Random:
    return random.Random(f"envfactory/synth:{seed}:{index}:{attempt}")


def episode_id(prefix: str, seed: int, index: int, attempt: int) -> str:
    return f"{prefix}-s{seed}-i{index}-a{attempt}"


async def synthesize_index(ctx: ServerContext, seed: int, index: int, prefix: str,
                           max_attempts: int = MAX_ATTEMPTS) -> IndexOutcome:
    info = ctx.server.info
    out = IndexOutcome(index=index, server=info.name)
    last_reason = ""
    for attempt in range(max_attempts):
        rng = attempt_rng(seed, index, attempt)
        chain = sample_chain(ctx.graph, rng)
        if chain is None:
            out.warning = f"index {index}: {info.name} has no chain of 2+ linked tools; skipped"
            return out
        out.attempts += 1
        scenario = rng.choice(info.scenarios) if info.scenarios else None
        episode = episode_id(prefix, seed, index, attempt)
        try:
            ex = await execute(ctx.server, ctx.graph, chain, rng, episode, scenario)
        except CallFailed as exc:
            out.failed_calls += 1
            last_reason = str(exc)
            out.reasons.append(last_reason)
            continue
        try:
            parts = write_query(info.name, ex, ctx.tools, rng)
        except ValueError as exc:
            out.bad_queries += 1
            last_reason = str(exc)
            out.reasons.append(last_reason)
            continue
        verdict = await replay(ctx.server, ex, episode + "-replay")
        if not verdict.verified:
            out.unverified += 1
            last_reason = verdict.reason
            out.reasons.append(last_reason)
            continue
        out.trajectory = Trajectory(
            id=trajectory_id(seed, index, info.name),
            seed=seed,
            index=index,
            env=EnvRef(name=info.name, server_name=info.server_name, version=info.version, transport=info.transport,
                       tools_hash=info.tools_hash, env_hash=info.env_hash),
            scenario=scenario,
            topology=chain.topology(),
            plan=[PlanStep(tool=s.tool, arguments=s.arguments, output=s.output) for s in ex.steps],
            intent=parts.intent,
            query=parts.query,
            messages=build_messages(info, parts.query, ex, parts.actions),
            tools=ctx.openai_tools,
            final_state_hash=ex.final_state_hash,
            expected_state_hash=verdict.expected_state_hash,
            checks=Checks(replay_state_match=verdict.replay_state_match,
                          replay_outputs_match=verdict.replay_outputs_match),
        )
        return out
    out.warning = f"index {index}: no valid trajectory on {info.name} after {max_attempts} attempts ({last_reason})"
    return out
