"""The Trajectory record (one JSON object per line) and its canonical serialization."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field


class EnvRef(BaseModel):
    name: str
    server_name: str
    version: str
    transport: str
    tools_hash: str
    env_hash: str | None = None


class PlanStep(BaseModel):
    tool: str
    arguments: dict[str, Any]
    output: Any


class Checks(BaseModel):
    replay_state_match: bool | None
    replay_outputs_match: bool


class Trajectory(BaseModel):
    id: str
    seed: int
    index: int
    env: EnvRef
    scenario: str | None
    topology: dict[str, Any]
    plan: list[PlanStep]
    intent: str
    query: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    final_state_hash: str | None
    expected_state_hash: str | None
    checks: Checks
    models: dict[str, str] = Field(default_factory=lambda: {"user": "template", "assistant": "offline"})
    tokens: dict[str, int] = Field(default_factory=lambda: {"prompt": 0, "completion": 0, "total": 0})

    def to_line(self) -> str:
        """Canonical JSON line: the same trajectory always gives the same bytes."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")) + "\n"


def trajectory_id(seed: int, index: int, server: str) -> str:
    return f"s{seed}-{index:06d}-{server}"
