"""The Trajectory record (one JSON object per line, format `envfactory.trajectories/2`) and its serialization.

One record is one verified sample: the gold plan that was executed in a scratch episode (grounded), the hidden user
intent and persona, the conversation in OpenAI chat format (assistant `tool_calls`, `tool` results, user turns), the
tools shown (namespaced `<server>__<tool>`), the expected and final State hashes per server, every check separately,
pass@k, the judge's verdict beside the checks, models, prompt hashes, tokens and timings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from synthesizer.errors import SynthError

FORMAT = "envfactory.trajectories/2"
TopologyKind = Literal["single", "chain", "fan_out", "fan_in", "dag", "none"]
Mode = Literal["single_turn", "multi_turn", "clarification"]
SampleKind = Literal["normal", "irrelevance", "missing_info", "distractors"]
TOPOLOGIES: tuple[str, ...] = ("single", "chain", "fan_out", "fan_in", "dag")
MODES: tuple[str, ...] = ("single_turn", "multi_turn", "clarification")
KINDS: tuple[str, ...] = ("normal", "irrelevance", "missing_info", "distractors")
SEP = "__"  # namespaced tool name: <server>__<tool> (OpenAI function names allow [A-Za-z0-9_-])


def qualified(server: str, tool: str) -> str:
    return f"{server}{SEP}{tool}"


def split_qualified(name: str) -> tuple[str, str]:
    server, sep, tool = name.partition(SEP)
    return (server, tool) if sep else ("", name)


class EnvRef(BaseModel):
    name: str
    server_name: str
    version: str
    transport: str
    tools_hash: str
    env_hash: str | None = None


class Feed(BaseModel):
    """Argument `param` of this step was taken from output `field` of step `src` (a path like `orders[].id`)."""

    src: int
    field: str
    param: str


class PlanCall(BaseModel):
    """One call of the gold plan, as executed in the scratch episode."""

    step: int
    server: str
    tool: str  # the server's own tool name
    name: str  # the name shown to the assistant: <server>__<tool>
    arguments: dict[str, Any]
    output: Any = None
    depends: list[Feed] = Field(default_factory=list)
    free: list[str] = Field(default_factory=list, description="arguments whose exact value is not checked")
    required: bool = True  # the assistant must make this call (reads that only look something up are optional)
    turn: int = 0  # the user turn that asks for it (multi-turn mode)
    read_only: bool = False


class Topology(BaseModel):
    kind: TopologyKind
    nodes: list[str]  # namespaced tool name of each step
    edges: list[tuple[int, int, str, str]] = Field(default_factory=list)  # (src step, dst step, field, param)
    depth: int = 0  # longest dependency path, in calls
    servers: list[str] = Field(default_factory=list)


class Persona(BaseModel):
    name: str
    role: str
    situation: str


class Intent(BaseModel):
    """What the simulated user wants and knows; never shown to the assistant."""

    goal: str
    knowledge: dict[str, Any] = Field(default_factory=dict)  # facts the user may state when asked
    withheld: dict[str, Any] = Field(default_factory=dict)  # values left out of the first message (clarification)
    segments: list[str] = Field(default_factory=list)  # multi-turn: what each user turn asks for


class Fact(BaseModel):
    """One thing a task knows, with how a person says it (`said` is the exact text a message carries)."""

    slot: str  # what it is in words: "street address", "departure date", "order status"
    value: Any  # the exact value, as the tool takes it (known, held back) or returns it (unknown, communicate)
    said: str  # its surface text: 'March 2', '"Window seat"', 'confirmed'
    step: int | None = None  # the plan step whose argument (known, held back) or output (found, told) it is
    param: str | None = None  # that step's argument, or the output field it comes from (`orders[].status`)


class Reference(BaseModel):
    """A record the user names the way its owner would ("my order from March 2"), resolved against the initial
    State before anything is written: `match` fixes it, `candidates` counts the records of its kind it fits."""

    entity: str  # "order"
    said: str  # the phrase in the request
    server: str
    collection: str  # where in the State the record lives (a key path such as `orders`)
    record_id: Any  # the id the reference resolves to in the initial State
    match: dict[str, Any]  # the fields the phrase fixes (name, title, a date)
    candidates: int  # records of the collection that fit `match` in the initial State (1: unambiguous)
    steps: list[int] = Field(default_factory=list)  # plan steps acting on it (their id argument must be record_id)
    param: str | None = None  # the id-like argument of those steps
    via: dict[str, Any] = Field(default_factory=dict)  # when `match` holds a link (`flight_id`): how the linked
    # record is named ({"entity": "flight", "origin": "WAW", "destination": "LHR", "departure_at": "2026-03-04"})


class Task(BaseModel):
    """What one sample is about, in the shape of a tau2-bench user task; never shown to the assistant.

    `known_info` is what the user states, `unknown_info` what the assistant must find with the tools,
    `communicate_info` what it must tell the user (from tool outputs), `held_back` what the user gives only when
    asked. Every write acts on a `references` record or on one the same request creates."""

    user: str  # who asks: "Maya Thompson, a customer of the shop"
    goal: str  # the goal in the user's words (no tool names, no ids)
    reason: str = ""  # why, or the constraint that shapes it
    known_info: list[Fact] = Field(default_factory=list)
    unknown_info: list[Fact] = Field(default_factory=list)
    communicate_info: list[Fact] = Field(default_factory=list)
    held_back: list[Fact] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    lookup_only: bool = False  # no step writes: the answer is the point


class CallCheck(BaseModel):
    """How the assistant's calls compare with the gold plan's required calls."""

    matched: bool
    missing: list[str] = Field(default_factory=list)  # required calls not made (name and arguments)
    mismatched: list[str] = Field(default_factory=list)  # right tool, wrong arguments: what differed
    extra: list[str] = Field(default_factory=list)  # calls the plan has no use for (reads are tolerated)
    malformed: int = 0  # calls whose arguments did not parse or named no tool


class Checks(BaseModel):
    """Each component separately; `verified` is their conjunction (the judge is not part of it)."""

    state_match: bool | None  # None: a server sends no State hash (third-party); then outputs are compared
    state_diff: list[str] = Field(default_factory=list)  # readable differences when the States differ
    outputs_match: bool | None = None  # replay of the plan's read outputs (servers without State hashes)
    calls: CallCheck
    tool_errors: int = 0
    unhandled_errors: list[str] = Field(default_factory=list)
    behaviour_ok: bool = True  # sample-kind specific: said no tool fits, asked for the missing value, no distractor
    behaviour: str = ""
    finished: bool = True  # the assistant ended with an answer within the step bound; the user stopped explicitly
    user_leaks: list[str] = Field(default_factory=list)  # tool names or internal ids in any user message
    wrong_records: list[str] = Field(default_factory=list)  # writes on another record than the reference resolves to
    ambiguous: list[str] = Field(default_factory=list)  # references that fit several records of the initial State
    unexplained: list[str] = Field(default_factory=list)  # argument values no message, result or prompt gave
    untold: list[str] = Field(default_factory=list)  # communicate_info facts the final answer leaves out
    judge_veto: str = ""  # the judge's reason when it failed the sample (model or offline rubric)
    verified: bool


class PassAtK(BaseModel):
    k: int
    passed: int
    rollouts: list[Checks] = Field(default_factory=list)  # every rollout's checks (k > 1), failures included

    @property
    def rate(self) -> float:
        return self.passed / self.k if self.k else 0.0


class Verdict(BaseModel):
    model: str
    verdict: Literal["pass", "fail"] | None
    reason: str = ""


class Trajectory(BaseModel):
    format: str = FORMAT
    id: str
    seed: int
    index: int
    mode: Mode
    kind: SampleKind
    envs: list[EnvRef]
    scenarios: dict[str, str | None]  # server -> scenario name
    initial_states: dict[str, Any] = Field(default_factory=dict)  # server -> State JSON, when the source exposes it
    topology: Topology
    plan: list[PlanCall]
    persona: Persona
    intent: Intent
    task: Task | None = None  # the grounded task (None on records written before tasks existed)
    query: str  # the first user message
    messages: list[dict[str, Any]]  # OpenAI chat format, system message first
    tools: list[dict[str, Any]]  # OpenAI function tools shown to the assistant
    distractors: list[str] = Field(default_factory=list)  # shown tools of servers the plan leaves aside
    read_only_tools: list[str] = Field(default_factory=list)  # shown tools annotated read-only (for the reward)
    expected_state_hashes: dict[str, str | None]
    final_state_hashes: dict[str, str | None]
    checks: Checks
    pass_at_k: PassAtK
    judge: Verdict
    refinement: dict[str, Any] = Field(default_factory=dict)  # rounds and the problems each draft had
    models: dict[str, str] = Field(default_factory=dict)  # role -> model
    prompt_hashes: dict[str, str] = Field(default_factory=dict)  # role -> sha256 of its prompt template
    tokens: dict[str, int] = Field(default_factory=lambda: {"prompt": 0, "completion": 0, "total": 0})
    timings: dict[str, float] = Field(default_factory=dict)

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "user")

    def to_line(self) -> str:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")) + "\n"


def trajectory_id(seed: int, index: int, servers: list[str]) -> str:
    return f"s{seed}-{index:06d}-{'+'.join(servers) or 'none'}"


def read_json_object(path: Path, not_object: str, not_json: str = "not valid JSON") -> dict[str, Any] | None:
    """The JSON object in `path`, None when there is no such file; a SynthError `<path>: <not_json>` or
    `<path>: <not_object>` when the file is not JSON or holds something else."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise SynthError(f"{path}: {not_json}") from None
    if not isinstance(doc, dict):
        raise SynthError(f"{path}: {not_object}")
    return doc


def read_manifest(path: Path) -> dict[str, Any] | None:
    """A run's manifest.json as a dict; None when there is none."""
    return read_json_object(path, "not a manifest (expected a JSON object)")
