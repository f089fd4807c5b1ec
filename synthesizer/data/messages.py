"""OpenAI chat transcripts (system, user, assistant tool_calls, tool results): validation, and what a message is."""

from __future__ import annotations

import json
from typing import Any


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


def is_question(text: str | None) -> bool:
    """Does the message ask something (ends with a question mark)? How a request for missing facts is recognised."""
    return text is not None and text.rstrip().endswith("?")
