"""What a rollout is scored against (`GroundTruth`): the gold calls and each server's expected final State hash.

The verl export stores it as JSON in each row; a verl reward function rebuilds it with
`GroundTruth.model_validate_json` and scores a rollout with `synthesizer.rollout.reward`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from synthesizer.data.records import Feed, PlanCall, Trajectory, split_qualified


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


class GroundTruth(BaseModel):
    """What a rollout is scored against: the gold calls and each server's expected final State hash."""

    calls: list[GroundTruthCall]
    expected_state_hashes: dict[str, str | None]
    tools: list[str] = Field(default_factory=list)  # names shown to the assistant (others are malformed calls)

    @classmethod
    def from_plan(cls, plan: list[PlanCall], expected_state_hashes: dict[str, str | None],
                  tools: list[str] | None = None) -> GroundTruth:
        calls = [GroundTruthCall(step=p.step, name=p.name, arguments=p.arguments, free=p.free, required=p.required,
                                 read_only=p.read_only, depends=p.depends) for p in plan]
        return cls(calls=calls, expected_state_hashes=dict(expected_state_hashes), tools=sorted(tools or []))

    @classmethod
    def from_trajectory(cls, t: Trajectory) -> GroundTruth:
        names = [str(tool.get("function", {}).get("name", "")) for tool in t.tools]
        return cls.from_plan(t.plan, t.expected_state_hashes, [n for n in names if n])

    def plan(self) -> list[PlanCall]:
        return [c.plan_call() for c in self.calls]
