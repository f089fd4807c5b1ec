"""A server that exposes State controls beside its domain tools (a FastMCP server with `load_scenario`,
`save_scenario`, `reset_state`): the controls stay listed but no schedule, anchor or plan step ever uses them."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from synthesizer.discovery.tools import ToolInfo
from synthesizer.graph.build import build_tool_graph
from synthesizer.graph.union import param_statable, tool_links
from synthesizer.plan.schedule import Schedule, sample_skeleton
from synthesizer.plan.topology import Sampler, ToolCatalog

ROOT = Path(__file__).resolve().parents[3]
SHAPES = ("single", "chain", "fan_out", "fan_in", "dag")
CONTROLS = [
    ToolInfo(name="load_scenario", description="Load scenario data into the calendar API.",
             input_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
    ToolInfo(name="save_scenario", description="Save the current calendar data as a named scenario.",
             input_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
    ToolInfo(name="reset_state", description="Reset the server to its initial state.", read_only=False),
]
CONTROL_NAMES = {f"calendar__{t.name}" for t in CONTROLS}


def calendar_with_controls() -> ToolCatalog:
    spec = json.loads((ROOT / "environments" / "calendar" / "env.json").read_text(encoding="utf-8"))
    tools = [ToolInfo(name=t["name"], description=t.get("description", ""), input_schema=t["input_schema"],
                      output_schema=t.get("output_schema"),
                      read_only=bool(t.get("annotations", {}).get("readOnlyHint"))) for t in spec["tools"]]
    g = asyncio.run(build_tool_graph({"calendar": tools + CONTROLS}))
    return ToolCatalog(tool_links(g, nested=True), lambda q, p: param_statable(g, q, p))


def test_control_tools_are_listed_but_never_sampled() -> None:
    catalog = calendar_with_controls()
    assert set(catalog.tools) >= CONTROL_NAMES and catalog.control == CONTROL_NAMES
    assert not CONTROL_NAMES & catalog.reachable and not CONTROL_NAMES & set(catalog.starts)
    assert len(catalog.reachable) >= 8  # the domain tools are all still there
    schedule = Schedule(catalog, 0)
    items = [schedule.item(i) for i in range(60)]
    assert not {it.anchor for it in items} & CONTROL_NAMES
    sampler = Sampler(catalog)
    nodes: set[str] = set()
    for i, it in enumerate(items):
        for strict in (True, False):
            sk = sample_skeleton(sampler, random.Random(f"c:{i}:{strict}"), it, it.anchor, strict)
            nodes |= set(sk.nodes) if sk else set()
    for anchor in sorted(catalog.reachable):
        for kind in SHAPES:
            sk = sampler.sample(random.Random(f"{anchor}:{kind}"), kind, anchor)
            nodes |= set(sk.nodes) if sk else set()
    assert len(nodes) >= 8 and not nodes & CONTROL_NAMES
