"""What a rollout is scored against (`GroundTruth`): the sample kind, the gold calls, each server's expected final
State hash and the facts the final answer must tell.

The verl export stores it as JSON in each row; a verl reward function rebuilds it with
`GroundTruth.model_validate_json` and scores a rollout with `synthesizer.rollout.reward` (`score_messages` for an
OpenAI message list, `score_calls` for calls and a final answer, `score_episode` with a farm).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, computed_field

from synthesizer.data.records import Fact, Feed, PlanCall, SampleKind, Trajectory, split_qualified

QUOTES = "\"'“”‘’«»"


class GroundTruthCall(BaseModel):
    """One plan call as the reward needs it (the plan without its outputs)."""

    step: int
    name: str  # namespaced <server>__<tool>
    arguments: dict[str, Any]
    free: list[str] = Field(default_factory=list)  # arguments whose value is not checked
    required: bool = True
    read_only: bool = False
    depends: list[Feed] = Field(default_factory=list)

    def plan_call(self) -> PlanCall:
        server, tool = split_qualified(self.name)
        return PlanCall(step=self.step, server=server, tool=tool, name=self.name, arguments=self.arguments,
                        depends=self.depends, free=self.free, required=self.required, read_only=self.read_only)


def _words(text: str) -> str:
    return " ".join(text.casefold().split())


def _appears(needle: str, text: str) -> bool:
    """`needle` occurs in `text` as whole words (case and spacing ignored): "12" is in "seats 12", not in "120"."""
    needle = _words(needle)
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", _words(text)) is not None


class ToldFact(BaseModel):
    """A fact the final answer must tell (a task's `communicate_info`): how a person says it and the raw value."""

    slot: str  # what it is: "order status"
    said: str  # its surface text: "confirmed", 'March 2'
    value: Any = None  # the value as the tool returned it

    def told_in(self, text: str) -> bool:
        """Is the fact in `text`? Its said form (with or without the quotes around it) or, for a string or a number,
        the raw value, as whole words."""
        forms = [self.said, self.said.strip().strip(QUOTES)]
        if isinstance(self.value, str | int | float) and not isinstance(self.value, bool):
            forms.append(str(self.value))
        return any(_appears(f, text) for f in forms if f.strip())

    @classmethod
    def of(cls, fact: Fact) -> ToldFact:
        return cls(slot=fact.slot, said=fact.said, value=fact.value)


class GroundTruth(BaseModel):
    """What a rollout is scored against. `kind` picks the contract (see `synthesizer.rollout.reward`); the
    `missing_info`/`irrelevance` flags are `kind` spelled out for readers of the JSON."""

    kind: SampleKind = "normal"
    calls: list[GroundTruthCall]
    expected_state_hashes: dict[str, str | None]
    tools: list[str] = Field(default_factory=list)  # names shown to the assistant (others are malformed calls)
    read_only_tools: list[str] = Field(default_factory=list)  # shown tools known to only read (others may write)
    distractors: list[str] = Field(default_factory=list)  # shown tools of servers the task has no use for
    communicate: list[ToldFact] = Field(default_factory=list)  # what the final answer must tell
    lookup_only: bool = False  # the task writes nothing: the answer is the point

    @computed_field  # type: ignore[prop-decorator]
    @property
    def missing_info(self) -> bool:
        """The right move is to ask for what is missing, never to act on a guess."""
        return self.kind == "missing_info"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def irrelevance(self) -> bool:
        """No shown tool fits: the right move is to decline, never to write."""
        return self.kind == "irrelevance"

    @classmethod
    def from_plan(cls, plan: list[PlanCall], expected_state_hashes: dict[str, str | None],
                  tools: list[str] | None = None, *, kind: SampleKind = "normal",
                  read_only_tools: list[str] | None = None, distractors: list[str] | None = None,
                  communicate: list[Fact] | None = None, lookup_only: bool = False) -> GroundTruth:
        """`read_only_tools` adds to the plan's reads: a call of any other tool counts as a write."""
        calls = [GroundTruthCall(step=p.step, name=p.name, arguments=p.arguments, free=p.free, required=p.required,
                                 read_only=p.read_only, depends=p.depends) for p in plan]
        reads = {p.name for p in plan if p.read_only} | set(read_only_tools or ())
        return cls(kind=kind, calls=calls, expected_state_hashes=dict(expected_state_hashes),
                   tools=sorted(tools or []), read_only_tools=sorted(reads), distractors=sorted(distractors or []),
                   communicate=[ToldFact.of(f) for f in communicate or []], lookup_only=lookup_only)

    @classmethod
    def from_trajectory(cls, t: Trajectory, read_only_tools: list[str] | None = None) -> GroundTruth:
        """A record's ground truth. Records written before tasks existed (`task` None) have nothing to tell.
        The record names only the plan's tools as reads; pass `read_only_tools` to name more."""
        names = [str(tool.get("function", {}).get("name", "")) for tool in t.tools]
        task = t.task
        return cls.from_plan(t.plan, t.expected_state_hashes, [n for n in names if n], kind=t.kind,
                             read_only_tools=read_only_tools, distractors=t.distractors,
                             communicate=task.communicate_info if task is not None else None,
                             lookup_only=task.lookup_only if task is not None else False)

    def plan(self) -> list[PlanCall]:
        return [c.plan_call() for c in self.calls]
