"""One rollout: the assistant acts through function calling, its calls run over MCP in its own episodes, and the
simulated user answers until it stops explicitly.

Everything the assistant does wrong is recorded, never fatal: a tool that does not exist, arguments that are not
JSON, a tool error, a loop that never ends (bounded steps per user turn and turns per conversation).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from synthesizer.data.records import split_qualified
from synthesizer.discovery.calls import call_tool
from synthesizer.discovery.sources import ConnectedServer
from synthesizer.query.roles.base import Assistant, RawCall, Sample, UserSimulator
from synthesizer.rollout.callmatch import MadeCall

MAX_STEPS = 8  # assistant messages per user turn
MAX_TURNS = 6  # user messages per conversation


class Rollout(BaseModel):
    messages: list[dict[str, Any]]
    made: list[MadeCall] = Field(default_factory=list)
    state_hashes: dict[str, str | None] = Field(default_factory=dict)  # last hash seen per server
    outputs: list[tuple[str, Any]] = Field(default_factory=list)  # (name, output) of successful calls
    tool_errors: list[str] = Field(default_factory=list)
    finished: bool = True
    stopped_by_user: bool = False
    problem: str = ""


async def execute_call(raw: RawCall, shown: set[str], servers: dict[str, ConnectedServer], episodes: dict[str, str],
                       scenarios: dict[str, str | None], rollout: Rollout) -> dict[str, Any]:
    """Run one assistant tool call; returns the `tool` message. Bad calls get an error message the model can read."""
    try:
        arguments = json.loads(raw.arguments) if raw.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        arguments = None
        reason = f"Error: the arguments are not valid JSON ({exc.msg} at column {exc.colno})."
    else:
        reason = "" if isinstance(arguments, dict) else "Error: the arguments must be a JSON object."
        arguments = arguments if isinstance(arguments, dict) else None
    server_name, tool = split_qualified(raw.name)
    if raw.name not in shown or server_name not in servers:
        reason = f"Error: there is no tool named {raw.name!r}."
    if reason:
        rollout.made.append(MadeCall(name=raw.name, arguments=arguments, raw=raw.arguments, error=True))
        rollout.tool_errors.append(f"{raw.name}: {reason}")
        return {"role": "tool", "tool_call_id": raw.id, "content": reason}
    assert arguments is not None
    result = await call_tool(servers[server_name], tool, arguments, episodes[server_name], scenarios.get(server_name))
    rollout.made.append(MadeCall(name=raw.name, arguments=arguments, raw=raw.arguments, error=result.is_error))
    if result.state_hash is not None:
        rollout.state_hashes[server_name] = result.state_hash
    if result.is_error:
        rollout.tool_errors.append(f"{raw.name}: {result.text[:200]}")
    else:
        rollout.outputs.append((raw.name, result.output))
    return {"role": "tool", "tool_call_id": raw.id, "content": result.text}


async def converse(sample: Sample, assistant: Assistant, user: UserSimulator, first_message: str, system: str,
                   tools: list[dict[str, Any]], servers: dict[str, ConnectedServer], episodes: dict[str, str],
                   scenarios: dict[str, str | None], max_steps: int = MAX_STEPS,
                   max_turns: int = MAX_TURNS) -> Rollout:
    rollout = Rollout(messages=[{"role": "system", "content": system}, {"role": "user", "content": first_message}])
    messages = rollout.messages  # pydantic copied the list: append to the one the record keeps
    shown = {t["function"]["name"] for t in tools}
    for _turn in range(max_turns):
        answered = False
        for _step in range(max_steps):
            turn = await assistant.act(messages, tools)
            if not turn.tool_calls:
                messages.append({"role": "assistant", "content": turn.content or ""})
                answered = True
                break
            messages.append({"role": "assistant", "content": turn.content, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in turn.tool_calls]})
            # a parallel batch runs in the order given: its calls are independent, and the episode's ids and
            # State then do not depend on which request reached the server first
            for c in turn.tool_calls:
                messages.append(await execute_call(c, shown, servers, episodes, scenarios, rollout))
        if not answered:
            rollout.finished = False
            rollout.problem = f"the assistant did not answer within {max_steps} steps"
            return rollout
        if sample.mode == "single_turn" and sample.kind in ("normal", "distractors", "irrelevance"):
            return rollout
        reply = await user.reply(sample, messages)
        if reply.stop:
            rollout.stopped_by_user = True
            return rollout
        messages.append({"role": "user", "content": reply.text})
    rollout.finished = False
    rollout.problem = f"the user did not stop within {max_turns} turns"
    return rollout
