"""A grounded plan: a skeleton's calls as the dry run executed them (arguments, outputs, State hashes) and where
each fed argument came from. The gold plan of a sample; the query and rollout phases read it, `grounding` makes it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from synthesizer.plan.topology import Skeleton


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
