"""OpenAI chat messages and function tools for a trajectory (system, user, assistant tool_calls, tool results)."""

from __future__ import annotations

import json
from typing import Any

from synthesizer.discovery import ServerInfo, ToolInfo
from synthesizer.rollout import Execution


def openai_tool(tool: ToolInfo) -> dict[str, Any]:
    params = tool.input_schema or {"type": "object", "properties": {}}
    return {"type": "function", "function": {"name": tool.name, "description": tool.description, "parameters": params}}


def system_prompt(server: ServerInfo) -> str:
    about = server.description.strip().rstrip(".")
    about = f" ({about[:1].lower() + about[1:]})" if about else ""
    return (f"You are a helpful assistant connected to the {server.server_name} service{about}. "
            "Use the available tools to carry out the user's request, then tell the user what you did.")


def final_answer(actions: list[str]) -> str:
    if not actions:
        return "Done."
    if len(actions) == 1:
        return f"Done: I {actions[0]}."
    if len(actions) == 2:
        return f"All done. I {actions[0]} and then {actions[1]}."
    return "All done. I " + ", ".join(actions[:-1]) + ", and then " + actions[-1] + "."


def build_messages(server: ServerInfo, query: str, ex: Execution, actions: list[str]) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(server)},
                                  {"role": "user", "content": query}]
    for n, step in enumerate(ex.steps, start=1):
        call_id = f"call_{n}"
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": step.tool, "arguments": json.dumps(step.arguments, ensure_ascii=False)},
        }]})
        msgs.append({"role": "tool", "tool_call_id": call_id, "content": step.text})
    msgs.append({"role": "assistant", "content": final_answer(actions)})
    return msgs


def validate_messages(msgs: list[dict[str, Any]], tool_names: set[str]) -> list[str]:
    """Problems with an OpenAI chat transcript (empty when valid); used by tests and the exporter."""
    problems: list[str] = []
    pending: set[str] = set()
    if not msgs or msgs[0].get("role") != "system":
        problems.append("first message is not a system message")
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            problems.append(f"message {i}: bad role {role!r}")
        if role == "assistant" and m.get("tool_calls"):
            for tc in m["tool_calls"]:
                fn = tc.get("function", {})
                if tc.get("type") != "function" or fn.get("name") not in tool_names:
                    problems.append(f"message {i}: bad tool call {tc}")
                try:
                    if not isinstance(json.loads(fn.get("arguments", "")), dict):
                        problems.append(f"message {i}: arguments are not a JSON object")
                except ValueError:
                    problems.append(f"message {i}: arguments are not JSON")
                pending.add(tc.get("id"))
        elif role == "assistant" and not isinstance(m.get("content"), str):
            problems.append(f"message {i}: assistant message without content or tool_calls")
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                problems.append(f"message {i}: tool result for unknown call {m.get('tool_call_id')!r}")
            pending.discard(m.get("tool_call_id"))
            if not isinstance(m.get("content"), str):
                problems.append(f"message {i}: tool content is not a string")
    if pending:
        problems.append(f"unanswered tool calls: {sorted(pending)}")
    if msgs and (msgs[-1].get("role") != "assistant" or not msgs[-1].get("content")):
        problems.append("last message is not a final assistant answer")
    return problems
