"""Control tools (load/save/reset the server's State or scenarios, debug hooks) are told apart from domain tools that
happen to share a word with them; no tool of the catalog or the generated environments is taken for one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from synthesizer.discovery.control import control_reason, is_control_tool

ROOT = Path(__file__).resolve().parents[3]
OBJ = {"type": "object", "properties": {}}


def schema(**props: str) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}}


@pytest.mark.parametrize(("name", "description", "input_schema"), [
    ("load_scenario", "Load a named scenario into the calendar API.", schema(name="string")),
    ("save_scenario", "Save the current data as a scenario.", schema(name="string")),
    ("loadScenario", "", OBJ),
    ("list_scenarios", "Scenarios this server can load.", OBJ),
    ("reset", "", OBJ),
    ("reset_state", "Start over.", OBJ),
    ("resetState", "", OBJ),
    ("reset_episode", "", OBJ),
    ("seed", "Fill the store with demo records.", OBJ),
    ("seed_database", "", OBJ),
    ("set_state", "Replace the State.", schema(state="object")),
    ("dump_state", "", OBJ),
    ("get_state", "Return the server's whole in-memory state as JSON.", OBJ),
    ("restore", "", OBJ),
    ("snapshot", "", OBJ),
    ("take_snapshot", "Take a snapshot of the current state so it can be restored later.", OBJ),
    ("debug_info", "Internal counters.", OBJ),
    ("replace_data", "Replace the whole in-memory state with the given JSON document.", schema(data="object")),
    ("wipe_all", "", OBJ),
    ("admin_tool", "For testing only: flips internal flags.", OBJ),
])
def test_control_tools_are_recognised(name: str, description: str, input_schema: dict[str, Any]) -> None:
    assert is_control_tool(name, description, input_schema), name
    assert control_reason(name, description, input_schema)


@pytest.mark.parametrize(("name", "description", "input_schema"), [
    ("echo", "Echoes back the input string", schema(message="string")),  # a test server's trivial tool is a tool
    ("get-env", "Returns all environment variables, helpful for debugging MCP server configuration", OBJ),
    ("toggle-simulated-logging", "Toggles simulated, random-leveled logging on or off.", OBJ),
    ("get-sum", "Returns the sum of two numbers", schema(a="number", b="number")),
    ("reset_password", "Send a password reset email to the account.", schema(email="string")),
    ("get_state", "Get the state of one entity (a light, a switch).", schema(entity_id="string")),
    ("set_state", "Turn a device on or off.", schema(entity_id="string", state="string")),
    ("get_states", "Get the states of all entities in the home.", OBJ),
    ("create_snapshot", "Create a snapshot of an EBS volume.", schema(volume_id="string")),
    ("list_fixtures", "List football fixtures for a league and season.", schema(league="string")),
    ("restore_file", "Restore a deleted file from the trash.", schema(path="string")),
    ("clear_cart", "Remove every item from the shopping cart.", OBJ),
    ("list_allowed_directories", "Returns the list of directories that this server is allowed to access.", OBJ),
    ("write_file", "Create a new file or completely overwrite an existing file with new content.", OBJ),
    ("save_draft", "Save an email draft.", schema(subject="string", body="string")),
])
def test_domain_tools_are_not_control_tools(name: str, description: str, input_schema: dict[str, Any]) -> None:
    assert not is_control_tool(name, description, input_schema), control_reason(name, description, input_schema)


def test_no_catalog_or_generated_tool_is_a_control_tool() -> None:
    specs = sorted((ROOT / "environments").glob("*/env.json")) + sorted((ROOT / "envs").glob("*/env.json"))
    assert len(specs) >= 3
    flagged = []
    for path in specs:
        for t in json.loads(path.read_text(encoding="utf-8"))["tools"]:
            if is_control_tool(t["name"], t.get("description", ""), t.get("input_schema")):
                flagged.append(f"{path.parent.name}.{t['name']}")
    assert flagged == []
