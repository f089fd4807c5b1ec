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
    EnvRef,
    Feed,
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
from synthesizer.discovery.sources import ConnectedServer, ToolInfo
from synthesizer.errors import SynthError
from synthesizer.plan.grounding import GroundedPlan, ground
from synthesizer.plan.schema import main_type, properties, required, resolve
from synthesizer.plan.topology import Sampler, Skeleton, ToolCatalog, classify
from synthesizer.plan.values import Known
from synthesizer.query.compose import plan_summary, salient
from synthesizer.query.refine import check_draft, mentioned, stated_arguments
from synthesizer.query.roles.base import Roles, Sample
from synthesizer.query.roles.model import RoleFailed
from synthesizer.query.roles.offline import irrelevant_task
from synthesizer.rollout.checking import verify
from synthesizer.rollout.conversation import Rollout, converse

MAX_ATTEMPTS = 12
REFINE_ROUNDS = 3
KIND_WEIGHTS = {"normal": 0.64, "distractors": 0.12, "irrelevance": 0.12, "missing_info": 0.12}
MODE_WEIGHTS = {"single_turn": 0.5, "multi_turn": 0.25, "clarification": 0.25}
TOPOLOGY_WEIGHTS = {"single": 0.14, "chain": 0.34, "fan_out": 0.2, "fan_in": 0.16, "dag": 0.16}
FALLBACK = ("chain", "single", "fan_out", "fan_in", "dag")
STRICT_ATTEMPTS = 6  # attempts that keep the planned shape and mode before falling back


class Planned(BaseModel):
    """What the schedule asks of an index (the sample may fall back to another shape or mode when it must)."""

    kind: str
    mode: str
    topology: str
    anchor: str


def weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Schedule:
    """Per-index targets, computed in index order so they never depend on which rollouts finished first.

    The anchor tool is drawn with weight 1/(1+uses)^2, so under-sampled tools come first and coverage grows evenly."""

    def __init__(self, catalog: ToolCatalog, seed: int, sampler: Sampler | None = None, probes: int = 4):
        self.catalog = catalog
        self.seed = seed
        self.items: list[Planned] = []
        self.uses: dict[str, int] = dict.fromkeys(sorted(catalog.reachable), 0)
        self.feasible = self._probe(sampler or Sampler(catalog), probes)
        share = {k: sum(k in f for f in self.feasible.values()) / max(len(self.feasible), 1)
                 for k in TOPOLOGY_WEIGHTS}
        # a shape few tools can take is asked for more often when the anchor can take it: the mix stays balanced
        self.boost = {k: TOPOLOGY_WEIGHTS[k] / share[k] if share[k] else 0.0 for k in TOPOLOGY_WEIGHTS}

    def _probe(self, sampler: Sampler, probes: int) -> dict[str, list[str]]:
        """Which shapes each tool can anchor (seeded tries); never empty for a reachable tool (chain/fan-out)."""
        out: dict[str, list[str]] = {}
        for q in self.uses:
            kinds = [k for k in TOPOLOGY_WEIGHTS if any(
                sampler.sample(random.Random(f"envfactory/probe:{self.seed}:{q}:{k}:{i}"), k, q)
                for i in range(probes))]
            out[q] = kinds or ["chain"]
        return out

    def item(self, index: int) -> Planned:
        while len(self.items) <= index:
            i = len(self.items)
            rng = random.Random(f"envfactory/schedule:{self.seed}:{i}")
            kind = weighted(rng, KIND_WEIGHTS)
            mode = "single_turn" if kind in ("irrelevance", "missing_info") else weighted(rng, MODE_WEIGHTS)
            names = list(self.uses)
            anchor = rng.choices(names, weights=[1.0 / (1 + self.uses[n]) ** 2 for n in names])[0] if names else ""
            topology = "chain"
            if anchor:
                self.uses[anchor] += 1
                topology = weighted(rng, {k: self.boost[k] for k in self.feasible[anchor]})
            self.items.append(Planned(kind=kind, mode=mode, topology=topology, anchor=anchor))
        return self.items[index]


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


def sample_skeleton(ctx: RunContext, rng: random.Random, planned: Planned, anchor: str,
                    strict: bool) -> Skeleton | None:
    """The planned shape around the anchor; once the early attempts are spent, any shape that fits."""
    kinds = [planned.topology] if strict else [planned.topology, *[k for k in FALLBACK if k != planned.topology]]
    for kind in kinds:
        sk = ctx.sampler.sample(rng, kind, anchor)
        if sk is not None:
            return sk
    return None


def unfit(ctx: RunContext, sk: Skeleton, mode: str, kind: str) -> str | None:
    """Why a skeleton cannot serve the planned mode or kind (judged from the schemas, before the dry run)."""
    keys = [j for j, q in enumerate(sk.nodes) if not ctx.tools[q].read_only or not sk.children(j)]
    if mode == "multi_turn" and len(keys) < 2:
        return "plan too small for several turns"
    if mode == "clarification" or kind == "missing_info":
        for j in keys:
            tool = ctx.tools[sk.nodes[j]]
            fed = {p for _, _, p in sk.feeds(j)}
            props = properties(tool.input_schema)
            if any(p not in fed and ctx.catalog.statable(sk.nodes[j], p)
                   and main_type(resolve(props.get(p, {}), tool.input_schema)) == "string"
                   for p in required(tool.input_schema)):
                return None
        return "nothing the user could leave out"
    return None


def segment(plan: GroundedPlan, mode: str, rng: random.Random) -> list[list[int]]:
    """Steps per user turn: multi-turn splits the salient steps over 2-3 turns; a lookup goes with its first user."""
    n = len(plan.steps)
    keys = salient(plan, list(range(n)))
    if mode != "multi_turn" or len(keys) < 2:
        return [list(range(n))]
    parts = min(len(keys), rng.choice([2, 3]))
    cuts = sorted(rng.sample(range(1, len(keys)), parts - 1))
    groups = [keys[a:b] for a, b in zip([0, *cuts], [*cuts, len(keys)], strict=True)]
    owner = {j: g for g, grp in enumerate(groups) for j in grp}
    for j in reversed(range(n)):
        if j not in owner:
            users = [owner[d] for d in range(j + 1, n) if d in owner and j in plan.skeleton.parents(d)]
            owner[j] = min(users) if users else len(groups) - 1
    return [sorted(j for j in range(n) if owner[j] == g) for g in range(len(groups))]


def withhold(plan: GroundedPlan, tools: dict[str, ToolInfo], rng: random.Random) -> dict[int, tuple[str, ...]]:
    """One stated string value of a salient step (a write when there is one) the user leaves out at first."""
    options = []
    for j in salient(plan, list(range(len(plan.steps)))):
        for name, value in stated_arguments(plan, j, tools).items():
            if isinstance(value, str) and len(value) >= 2:
                options.append((0 if plan.steps[j].read_only else 1, j, name))
    if not options:
        return {}
    best = max(o[0] for o in options)
    _, j, name = rng.choice([o for o in options if o[0] == best])
    return {j: (name,)}


def plan_calls(plan: GroundedPlan, tools: dict[str, ToolInfo], said: str) -> list[PlanCall]:
    """The gold calls: required ones are the salient steps; an argument no user message states is free."""
    keys = set(salient(plan, list(range(len(plan.steps)))))
    out = []
    for j, s in enumerate(plan.steps):
        fed = {f.param for f in plan.feeds[j]}
        free = [k for k, v in s.arguments.items() if k not in fed and not mentioned(v, said)]
        out.append(PlanCall(step=j, server=s.server, tool=s.tool, name=s.name, arguments=s.arguments, output=s.output,
                            depends=[Feed(src=f.src, field=f.field, param=f.param) for f in plan.feeds[j]],
                            free=free, required=j in keys, read_only=s.read_only,
                            turn=0))
    return out


def topology_of(sk: Skeleton, ctx: RunContext) -> Topology:
    return Topology(kind=classify(sk), nodes=list(sk.nodes), edges=list(sk.edges), depth=sk.depth(),
                    servers=list(dict.fromkeys(ctx.catalog.server[n] for n in sk.nodes)))


def env_ref(server: ConnectedServer) -> EnvRef:
    i = server.info
    return EnvRef(name=i.name, server_name=i.server_name, version=i.version, transport=i.transport,
                  tools_hash=i.tools_hash, env_hash=i.env_hash)


def openai_tools(ctx: RunContext, names: list[str]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": n, "description": ctx.tools[n].description,
                                              "parameters": ctx.tools[n].input_schema or {"type": "object",
                                                                                          "properties": {}}}}
            for n in names]


async def refine_first(ctx: RunContext, sample: Sample, out: IndexOutcome) -> tuple[str | None, dict[str, Any]]:
    draft = await ctx.roles.writer.write(sample, 0)
    history: list[dict[str, Any]] = []
    steps = sample.segments[0] if sample.segments else []
    for _ in range(REFINE_ROUNDS + 1):
        problems = check_draft(draft, list(ctx.tools), sample.plan, steps, sample.tools, sample.withheld)
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
        text = " ".join(f"{n} {ctx.tools[n].description}" for n in ctx.server_tools(anchor_server))
        task = irrelevant_task(text, rng) or ""
        if not task:
            kind = "normal"
    scenarios: dict[str, str | None] = {}
    gold_episodes: dict[str, str] = {}
    if kind != "irrelevance":
        sk = sample_skeleton(ctx, rng, planned, anchor, strict)
        if sk is None:
            out.reject("no plan shape fits the tool")
            return None
        problem = unfit(ctx, sk, mode if strict else "single_turn", kind)  # a kind never falls back
        if problem:  # known before any call: no dry run is spent on it
            out.reject(problem)
            return None
        plan_servers = list(dict.fromkeys(ctx.catalog.server[n] for n in sk.nodes))
        scenarios = {s: (rng.choice(ctx.servers[s].info.scenarios) if ctx.servers[s].info.scenarios else None)
                     for s in plan_servers}
        gold_episodes = {s: f"{base}-gold-{s}" for s in plan_servers}
        known = {s: k for s in plan_servers if (k := await known_of(ctx, s, scenarios[s])) is not None}
        plan = await ground(sk, ctx.servers, ctx.tools, rng, gold_episodes, scenarios, known, ctx.catalog.into)
    else:
        scenarios = {anchor_server: None}
    shown = [n for s in plan_servers for n in ctx.server_tools(s)]
    distractors: list[str] = []
    if kind == "distractors":
        others = sorted(s for s in ctx.servers if s not in plan_servers and s not in ctx.dead)
        if others:
            extra = rng.choice(others)
            distractors = ctx.server_tools(extra)
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
    sample.persona, sample.goal = await ctx.roles.planner.plan(sample)
    first, refinement = await refine_first(ctx, sample, out)
    if first is None:
        return None
    tools = openai_tools(ctx, shown)
    results: list[tuple[Rollout, Any, list[PlanCall]]] = []
    timings: dict[str, float] = {}
    for r in range(ctx.k):
        episodes = {s: f"{base}-r{r}-{s}" for s in plan_servers}
        t0 = time.perf_counter()
        rollout = await converse(sample, ctx.roles.assistant_for(sample), ctx.roles.user, first, ctx.system_prompt,
                                 tools, ctx.servers, episodes, scenarios)
        timings[f"rollout_{r}_s"] = round(time.perf_counter() - t0, 3)
        said = " ".join(m.get("content") or "" for m in rollout.messages if m.get("role") == "user")
        calls = plan_calls(plan, ctx.tools, said) if plan is not None else []
        expected = plan.expected_hashes() if plan is not None and kind != "missing_info" else {}
        if kind == "missing_info":  # the right move is to ask: nothing is required, a write is wrong
            for c in calls:
                c.required = False
        checks = await verify(sample, calls, expected, rollout, episodes, gold_episodes, distractors, ctx.control)
        results.append((rollout, checks, calls))
    passed = [x for x in results if x[1].verified]
    if not passed:
        c = results[0][1]
        why = ("a user message leaks a tool name or id" if c.user_leaks
               else "state differs" if c.state_match is False else "outputs differ" if c.outputs_match is False
               else "calls differ" if not c.calls.matched
               else "unhandled tool error" if c.unhandled_errors else "wrong behaviour" if not c.behaviour_ok
               else "did not finish" if not c.finished else "extra or malformed calls")
        out.reject(f"rollout not verified: {why}")
        return None
    rollout, checks, calls = passed[0]
    verdict = await ctx.roles.judge.judge(sample, rollout.messages)
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
        query=first, messages=rollout.messages, tools=tools, distractors=distractors,
        expected_state_hashes=plan.expected_hashes() if plan is not None and kind != "missing_info" else {},
        final_state_hashes=dict(rollout.state_hashes), checks=checks,
        pass_at_k=PassAtK(k=ctx.k, passed=len(passed), rollouts=[c for _, c, _ in results] if ctx.k > 1 else []),
        judge=verdict, refinement=refinement,
        models=dict(ctx.roles.models), prompt_hashes=dict(ctx.roles.prompt_hashes),
        tokens=dict(sample.tokens),
        timings=timings)
