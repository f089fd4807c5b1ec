"""One sample index, end to end: schedule -> skeleton -> grounded dry run -> persona and query (refined) ->
k assistant rollouts with a simulated user -> verification -> the record. Bounded attempts; all seeded by index.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from common.llm import LLMInfraError
from synthesizer.data.records import (
    Checks,
    EnvRef,
    Intent,
    PassAtK,
    PlanCall,
    Topology,
    Trajectory,
    split_qualified,
    trajectory_id,
)
from synthesizer.discovery.calls import CallFailed, ServerLost
from synthesizer.discovery.controlplane import ControlPlane
from synthesizer.discovery.sources import ConnectedServer
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError
from synthesizer.plan.distractors import confusable_distractors
from synthesizer.plan.grounded import GroundedPlan
from synthesizer.plan.grounding import ground
from synthesizer.plan.schedule import Planned, Schedule, sample_skeleton, unfit
from synthesizer.plan.topology import Sampler, Skeleton, ToolCatalog, classify
from synthesizer.plan.values import Known
from synthesizer.query.compose import id_values, plan_summary
from synthesizer.query.refine import check_draft, leaked_ids
from synthesizer.query.roles.base import Roles, Sample
from synthesizer.query.roles.model import RoleFailed
from synthesizer.query.turns import segment, withhold
from synthesizer.rollout.checking import verify
from synthesizer.rollout.conversation import Rollout, converse
from synthesizer.rollout.gold import plan_calls
from synthesizer.task.build import TaskUnfit, build_task
from synthesizer.task.check import task_problems
from synthesizer.task.irrelevance import irrelevant_request
from synthesizer.task.lexicon import slot

MAX_ATTEMPTS = 12
REFINE_ROUNDS = 3
STRICT_ATTEMPTS = 6  # attempts that keep the planned shape and mode before falling back
DISTRACTORS = 6  # confusable tools of another server shown beside the plan's


@dataclass
class RunContext:
    seed: int
    prefix: str
    servers: dict[str, ConnectedServer]
    tools: dict[str, ToolInfo]  # namespaced
    catalog: ToolCatalog
    sampler: Sampler
    schedule: Schedule
    roles: Roles
    system_prompt: str
    k: int = 1
    max_attempts: int = MAX_ATTEMPTS
    control: ControlPlane | None = None
    dead: dict[str, str] = field(default_factory=dict)  # server -> why it was dropped
    initial: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    known: dict[tuple[str, str | None], Known | None] = field(default_factory=dict)
    initial_source: Any = None  # async (server, scenario) -> State | None

    def server_tools(self, server: str) -> list[str]:
        return [n for n in self.tools if split_qualified(n)[0] == server]


class IndexOutcome(BaseModel):
    index: int
    trajectory: Trajectory | None = None
    attempts: int = 0
    rejected: dict[str, int] = {}
    warning: str | None = None

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def failed_components(c: Checks) -> list[str]:
    """The names of the verification components a rollout failed, in the order a reader would look at them."""
    named = [("a user message leaks a tool name or id", bool(c.user_leaks)),
             ("state differs", c.state_match is False), ("outputs differ", c.outputs_match is False),
             ("calls differ", not c.calls.matched), ("unhandled tool error", bool(c.unhandled_errors)),
             ("wrong behaviour", not c.behaviour_ok), ("did not finish", not c.finished),
             ("wrong record", bool(c.wrong_records)), ("ambiguous reference", bool(c.ambiguous)),
             ("unexplained argument value", bool(c.unexplained)), ("answer leaves out a fact", bool(c.untold)),
             ("extra or malformed calls", bool(c.calls.extra) or c.calls.malformed > 0)]
    return [name for name, failed in named if failed] or ["not verified"]


def topology_of(sk: Skeleton, ctx: RunContext) -> Topology:
    return Topology(kind=classify(sk), nodes=list(sk.nodes), edges=list(sk.edges), depth=sk.depth(),
                    servers=list(dict.fromkeys(ctx.catalog.server[n] for n in sk.nodes)))


def env_ref(server: ConnectedServer) -> EnvRef:
    i = server.info
    return EnvRef(name=i.name, server_name=i.server_name, version=i.version, transport=i.transport,
                  tools_hash=i.tools_hash, env_hash=i.env_hash)


def system_prompt_for(ctx: RunContext, shown: list[str]) -> str:
    """The run's system prompt naming only the services whose tools this sample shows."""
    names = [ctx.servers[s].info.server_name for s in dict.fromkeys(split_qualified(n)[0] for n in shown)
             if s in ctx.servers]
    return ctx.system_prompt.replace("{services}", ", ".join(names) or "none")


def openai_tools(ctx: RunContext, names: list[str]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": n, "description": ctx.tools[n].description,
                                              "parameters": ctx.tools[n].input_schema or {"type": "object",
                                                                                          "properties": {}}}}
            for n in names]


def draft_problems(ctx: RunContext, sample: Sample, draft: str, steps: list[int]) -> list[str]:
    """Leaked tool names and ids, procedures, and what the task says the message must (not) carry."""
    problems = check_draft(draft, list(ctx.tools), None, steps, sample.tools, sample.withheld)
    if sample.plan is not None:
        problems += [f"mentions the internal id {v!r}, which the user cannot know"
                     for v in leaked_ids(draft, id_values(sample.plan))]
    if sample.told is not None:
        problems += task_problems(draft, sample.told, steps, first=True)
    return problems


async def refine_first(ctx: RunContext, sample: Sample, out: IndexOutcome) -> tuple[str | None, dict[str, Any]]:
    draft = await ctx.roles.writer.write(sample, 0)
    history: list[dict[str, Any]] = []
    steps = sample.segments[0] if sample.segments else []
    for _ in range(REFINE_ROUNDS + 1):
        problems = draft_problems(ctx, sample, draft, steps)
        history.append({"draft": draft, "problems": problems})
        if not problems:
            return draft, {"rounds": len(history) - 1, "history": history}
        if len(history) > REFINE_ROUNDS:
            break
        draft = await ctx.roles.refiner.rewrite(sample, 0, draft, problems)
    out.reject("query kept failing refinement")
    return None, {"rounds": len(history) - 1, "history": history}


async def known_of(ctx: RunContext, server: str, scenario: str | None) -> Known | None:
    """What the scenario's State holds (values by key, records), computed once per scenario."""
    key = (server, scenario)
    if key not in ctx.known:
        state = await initial_state(ctx, server, scenario)
        ctx.known[key] = Known.of(state) if state is not None else None
    return ctx.known[key]


async def initial_state(ctx: RunContext, server: str, scenario: str | None) -> Any:
    key = (server, scenario)
    if key not in ctx.initial and ctx.initial_source is not None:
        ctx.initial[key] = await ctx.initial_source(server, scenario)
    return ctx.initial.get(key)


async def synthesize_index(ctx: RunContext, index: int) -> IndexOutcome:
    started = time.perf_counter()
    out = IndexOutcome(index=index)
    planned = ctx.schedule.item(index)
    if not planned.anchor:
        out.warning = f"index {index}: no tool can be sampled"
        return out
    anchor = planned.anchor
    for attempt in range(ctx.max_attempts):
        rng = random.Random(f"envfactory/synth:{ctx.seed}:{index}:{attempt}")
        if attempt >= STRICT_ATTEMPTS and attempt % 3 == 0:  # this anchor keeps failing: give another tool a chance
            anchor = rng.choice(sorted(ctx.catalog.reachable))
        if ctx.catalog.server[anchor] in ctx.dead:
            alive = sorted(q for q in ctx.catalog.reachable if ctx.catalog.server[q] not in ctx.dead)
            if not alive:
                out.warning = f"index {index}: every server is down"
                return out
            anchor = rng.choice(alive)
        out.attempts += 1
        base = f"{ctx.prefix}-s{ctx.seed}-i{index}-a{attempt}"
        try:
            traj = await attempt_sample(ctx, index, planned, anchor, rng, base, out, strict=attempt < STRICT_ATTEMPTS)
        except CallFailed as exc:
            out.reject("dry run failed")
            out.warning = f"index {index}: {exc}"
            continue
        except ServerLost as exc:
            ctx.dead.setdefault(exc.server, str(exc))
            out.reject("server lost")
            continue
        except RoleFailed as exc:
            out.reject("model reply unusable")
            out.warning = f"index {index}: {exc}"
            continue
        except LLMInfraError as exc:
            raise SynthError(f"the model endpoint failed; records so far are kept, re-run to resume: {exc}") from None
        if traj is not None:
            traj.timings["total_s"] = round(time.perf_counter() - started, 3)
            out.trajectory = traj
            out.warning = None
            return out
    out.warning = out.warning or f"index {index}: no verified sample after {ctx.max_attempts} attempts"
    return out


async def attempt_sample(ctx: RunContext, index: int, planned: Planned, anchor: str, rng: random.Random, base: str,
                         out: IndexOutcome, strict: bool = True) -> Trajectory | None:
    kind, mode = planned.kind, planned.mode
    anchor_server = ctx.catalog.server[anchor]
    plan: GroundedPlan | None = None
    task = ""
    plan_servers = [anchor_server]
    if kind == "irrelevance":
        mine = [ctx.tools[n] for n in ctx.server_tools(anchor_server) if n not in ctx.catalog.control]
        neighbours = [t for s, srv in ctx.servers.items() if s != anchor_server and s not in ctx.dead
                      for t in srv.info.tools]
        task = irrelevant_request(mine, neighbours, rng)
    scenarios: dict[str, str | None] = {}
    gold_episodes: dict[str, str] = {}
    if kind != "irrelevance":
        sk = sample_skeleton(ctx.sampler, rng, planned, anchor, strict)
        if sk is None:
            out.reject("no plan shape fits the tool")
            return None
        problem = unfit(ctx.catalog, sk, mode if strict else "single_turn", kind)  # a kind never falls back
        if problem:  # known before any call: no dry run is spent on it
            out.reject(problem)
            return None
        plan_servers = list(dict.fromkeys(ctx.catalog.server[n] for n in sk.nodes))
        scenarios = {s: (rng.choice(ctx.servers[s].info.scenarios) if ctx.servers[s].info.scenarios else None)
                     for s in plan_servers}
        gold_episodes = {s: f"{base}-gold-{s}" for s in plan_servers}
        known = {s: k for s in plan_servers if (k := await known_of(ctx, s, scenarios[s])) is not None}
        plan = await ground(sk, ctx.servers, ctx.tools, rng, gold_episodes, scenarios, known, ctx.catalog.into,
                            speakable=lambda p: slot(p) is not None)
    else:
        scenarios = {anchor_server: None}
    shown = [n for s in plan_servers for n in ctx.server_tools(s)]
    distractors: list[str] = []
    if kind == "distractors":
        others = sorted(s for s in ctx.servers if s not in plan_servers and s not in ctx.dead)
        if others:
            assert plan is not None
            distractors = confusable_distractors(list(plan.skeleton.nodes),
                                                 {s: ctx.servers[s].info.tools for s in others},
                                                 rng, DISTRACTORS, known=ctx.tools)
            shown += distractors
        else:
            kind = "normal"
    sample = Sample(index=index, seed=ctx.seed, mode=mode, kind=kind, rng=rng, tools=ctx.tools, shown=shown,
                    plan=plan, task=task)
    if plan is not None:
        sample.segments = segment(plan, mode, rng)
        if len(sample.segments) < 2 and mode == "multi_turn":
            if strict:
                out.reject("plan too small for several turns")
                return None
            sample.mode = mode = "single_turn"
        if mode == "clarification" or kind == "missing_info":
            sample.withheld = withhold(plan, ctx.tools, rng)
            if not sample.withheld:
                if kind == "missing_info" or strict:
                    out.reject("nothing the user could leave out")
                    return None
                sample.mode = mode = "single_turn"
    task_states: dict[str, Any] = {}
    if plan is not None:
        states = {s: await initial_state(ctx, s, scenarios.get(s)) for s in plan_servers}
        task_states = {s: v for s, v in states.items() if v is not None}
        try:
            sample.told = build_task(plan, ctx.tools, task_states, rng, sample.withheld)
        except TaskUnfit as exc:
            out.reject(f"task unfit: {exc.kind}")
            return None
    sample.persona, sample.goal = await ctx.roles.planner.plan(sample)
    if sample.told is not None:
        task = sample.told.task
        task.user = task.user or f"{sample.persona.name}, {sample.persona.role}"
        task.goal = sample.goal or task.goal
    first, refinement = await refine_first(ctx, sample, out)
    if first is None:
        return None
    tools = openai_tools(ctx, shown)
    results: list[tuple[Rollout, Any, list[PlanCall]]] = []
    timings: dict[str, float] = {}
    for r in range(ctx.k):
        episodes = {s: f"{base}-r{r}-{s}" for s in plan_servers}
        t0 = time.perf_counter()
        rollout = await converse(sample, ctx.roles.assistant_for(sample), ctx.roles.user, first,
                                 system_prompt_for(ctx, shown), tools, ctx.servers, episodes, scenarios)
        timings[f"rollout_{r}_s"] = round(time.perf_counter() - t0, 3)
        said = " ".join(m.get("content") or "" for m in rollout.messages if m.get("role") == "user")
        calls = plan_calls(plan, ctx.tools, said) if plan is not None else []
        expected = plan.expected_hashes() if plan is not None and kind != "missing_info" else {}
        if kind == "missing_info":  # the right move is to ask: nothing is required, a write is wrong
            for c in calls:
                c.required = False
        checks = await verify(sample, calls, expected, rollout, episodes, gold_episodes, distractors, ctx.control,
                              task_states)
        results.append((rollout, checks, calls))
    passed = [x for x in results if x[1].verified]
    if not passed:
        for why in failed_components(results[0][1]):  # each failing component is counted, so none hides another
            out.reject(f"rollout not verified: {why}")
        return None
    rollout, checks, calls = passed[0]
    verdict = await ctx.roles.judge.judge(sample, rollout.messages)
    if verdict.verdict == "fail":  # the judge can veto: a sample it fails is not kept
        checks.judge_veto = verdict.reason or "failed by the judge"
        checks.verified = False
        out.reject(f"judge veto: {verdict.reason[:60]}")
        return None
    said_turns = [m.get("content") or "" for m in rollout.messages if m.get("role") == "user"]
    for c in calls:
        c.turn = next((t for t, seg in enumerate(sample.segments) if c.step in seg), 0)
    initial = {s: await initial_state(ctx, s, scenarios.get(s)) for s in plan_servers}
    knowledge = sample.withheld_values()
    return Trajectory(
        id=trajectory_id(ctx.seed, index, plan_servers), seed=ctx.seed, index=index, mode=sample.mode,
        kind=sample.kind, envs=[env_ref(ctx.servers[s]) for s in plan_servers], scenarios=scenarios,
        initial_states={s: v for s, v in initial.items() if v is not None},
        topology=topology_of(plan.skeleton, ctx) if plan is not None else Topology(kind="none", nodes=[]),
        plan=calls, persona=sample.persona, intent=Intent(
            goal=sample.goal, knowledge={"plan": plan_summary(plan)} | knowledge if plan else {},
            withheld=knowledge, segments=said_turns),
        task=sample.told.task if sample.told is not None else None,
        query=first, messages=rollout.messages, tools=tools, distractors=distractors,
        read_only_tools=[n for n in shown if ctx.tools[n].read_only],
        expected_state_hashes=plan.expected_hashes() if plan is not None and kind != "missing_info" else {},
        final_state_hashes=dict(rollout.state_hashes), checks=checks,
        pass_at_k=PassAtK(k=ctx.k, passed=len(passed), rollouts=[c for _, c, _ in results] if ctx.k > 1 else []),
        judge=verdict, refinement=refinement,
        models=dict(ctx.roles.models), prompt_hashes=dict(ctx.roles.prompt_hashes),
        tokens=dict(sample.tokens),
        timings=timings)
