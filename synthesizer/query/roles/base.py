"""The roles of a sample and what each is given.

Every role has an offline implementation (templates plus the grounded plan, deterministic) and a model one (one
OpenAI-compatible client). `Sample` is everything known about one sample; the assistant never sees it: it gets only
the conversation and the tools, exactly as it would in deployment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from synthesizer.data.records import Mode, Persona, SampleKind, Verdict
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.grounded import GroundedPlan

STOP = "[[END]]"  # how a simulated user ends the conversation explicitly (never part of the exported messages)


@dataclass
class Sample:
    index: int
    seed: int
    mode: Mode
    kind: SampleKind
    rng: random.Random
    tools: dict[str, ToolInfo]  # namespaced name -> tool, every tool of the run
    shown: list[str]  # names the assistant is offered
    plan: GroundedPlan | None = None  # None for irrelevance samples
    segments: list[list[int]] = field(default_factory=list)  # steps asked for in each user turn
    withheld: dict[int, tuple[str, ...]] = field(default_factory=dict)  # step -> params left out of the request
    task: str = ""  # irrelevance: what the user asks that no tool can do
    persona: Persona | None = None
    goal: str = ""
    told: Any = None  # synthesizer.task.build.Told: the grounded task and how each step is asked
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0, "total": 0})

    def count(self, usage: Any) -> None:
        """Add a model reply's token counts to this sample's."""
        self.tokens["prompt"] += usage.prompt_tokens
        self.tokens["completion"] += usage.completion_tokens
        self.tokens["total"] += usage.prompt_tokens + usage.completion_tokens

    def withheld_values(self) -> dict[str, Any]:
        if self.plan is None:
            return {}
        return {p: self.plan.steps[j].arguments[p] for j, ps in self.withheld.items() for p in ps}


class UserReply(BaseModel):
    text: str
    stop: bool = False


class RawCall(BaseModel):
    """A tool call as the assistant produced it: arguments are the raw string (they may not parse)."""

    id: str
    name: str
    arguments: str


class AssistantTurn(BaseModel):
    content: str | None = None
    tool_calls: list[RawCall] = []
    tokens: int = 0


class Planner(Protocol):
    async def plan(self, sample: Sample) -> tuple[Persona, str]: ...


class QueryWriter(Protocol):
    async def write(self, sample: Sample, turn: int) -> str: ...


class Refiner(Protocol):
    async def rewrite(self, sample: Sample, turn: int, draft: str, problems: list[str]) -> str: ...


class UserSimulator(Protocol):
    async def reply(self, sample: Sample, messages: list[dict[str, Any]]) -> UserReply: ...


class Assistant(Protocol):
    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AssistantTurn: ...
    # a model assistant also counts its tokens into the sample it was made for


class Judge(Protocol):
    async def judge(self, sample: Sample, messages: list[dict[str, Any]]) -> Verdict: ...


@dataclass
class Roles:
    planner: Planner
    writer: QueryWriter
    refiner: Refiner
    user: UserSimulator
    assistant: Any  # (Sample) -> Assistant: an offline assistant follows the plan, a model one ignores it
    judge: Judge
    models: dict[str, str] = field(default_factory=dict)
    prompt_hashes: dict[str, str] = field(default_factory=dict)

    def assistant_for(self, sample: Sample) -> Assistant:
        return self.assistant(sample)
