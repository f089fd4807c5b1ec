"""A third-party-style MCP server (the SDK's MCPServer, formerly FastMCP, over stdio) with a small agenda and the
State controls such servers often expose beside it: `load_scenario`, `save_scenario`, `reset_state`.

Run as a script: `python scenario_server.py`. Nothing happens at import time."""

from __future__ import annotations

import copy
from typing import Any

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

READ = ToolAnnotations(readOnlyHint=True)
START: list[dict[str, Any]] = [
    {"event_id": "ev_1", "title": "Dentist", "start": "2026-03-04T09:00:00Z"},
    {"event_id": "ev_2", "title": "Team standup", "start": "2026-03-05T10:00:00Z"},
]


def build() -> MCPServer:
    server = MCPServer("agenda")
    events = copy.deepcopy(START)
    saved: dict[str, list[dict[str, Any]]] = {}

    @server.tool(annotations=READ, description="List the events on the agenda.")
    def list_events() -> dict[str, Any]:
        return {"events": events}

    @server.tool(annotations=READ, description="Get one event by its id.")
    def get_event(event_id: str) -> dict[str, Any]:
        for e in events:
            if e["event_id"] == event_id:
                return e
        raise ValueError(f"no event {event_id}")

    @server.tool(description="Create an event with a title and a start time.")
    def create_event(title: str, start: str) -> dict[str, Any]:
        e = {"event_id": f"ev_{len(events) + 1}", "title": title, "start": start}
        events.append(e)
        return e

    @server.tool(description="Cancel an event.")
    def cancel_event(event_id: str) -> dict[str, Any]:
        events[:] = [e for e in events if e["event_id"] != event_id]
        return {"cancelled": event_id}

    @server.tool(description="Load scenario data into the calendar API.")
    def load_scenario(name: str) -> str:
        events[:] = copy.deepcopy(saved.get(name, START))
        return f"loaded {name}"

    @server.tool(description="Save the current calendar data as a named scenario.")
    def save_scenario(name: str) -> str:
        saved[name] = copy.deepcopy(events)
        return f"saved {name}"

    @server.tool(description="Reset the server to its initial state.")
    def reset_state() -> str:
        events[:] = copy.deepcopy(START)
        return "reset"

    return server


if __name__ == "__main__":
    build().run("stdio")
