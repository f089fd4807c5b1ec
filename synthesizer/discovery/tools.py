"""`ToolInfo`: a tool as discovery lists it, the one description of a tool every phase works from (the graph, the
plans, the queries); kept apart from the connection code so that reading it pulls in no client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ToolInfo(BaseModel):
    """A tool as listed over MCP (the subset the synthesizer uses)."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    read_only: bool = False
    destructive: bool = False

    @property
    def is_write(self) -> bool:
        return not self.read_only
