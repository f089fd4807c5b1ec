"""Checks of a rollout against its task that the State hash cannot make: the user's references resolve to the
records the writes acted on (and to no other), every argument value came from somewhere the assistant could see,
and the answer tells what the task says it must. Each returns the problems it found (empty: it passes)."""

from __future__ import annotations

import json
import re
from typing import Any

from synthesizer.data.ground_truth import ToldFact
from synthesizer.data.records import Task, split_qualified
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.grounded import GroundedPlan
from synthesizer.task.say import human_date
from synthesizer.task.state import collection, fits


def ambiguous_references(task: Task, states: dict[str, Any]) -> list[str]:
    """References that fit more than one record of their collection in the initial State (or none at all)."""
    out = []
    for ref in task.references:
        state = states.get(ref.server)
        if state is None or not ref.collection:
            continue
        n = sum(1 for r in collection(state, ref.collection) if fits(r, ref.match))
        if n != 1:
            out.append(f"{ref.said!r} fits {n} records of {ref.collection}")
    return out


def wrong_records(task: Task, plan: GroundedPlan, states: dict[str, Any], messages: list[dict[str, Any]],
                  tools: dict[str, ToolInfo]) -> list[str]:
    """Writes on another record than the one the user's reference resolves to in the initial State."""
    out = []
    calls = list(_calls(messages))
    for ref in task.references:
        state = states.get(ref.server)
        resolved = ref.record_id
        if state is not None and ref.collection:
            fitting = [r for r in collection(state, ref.collection) if fits(r, ref.match)]
            if len(fitting) == 1:
                resolved = fitting[0].get("id", ref.record_id)
                if resolved != ref.record_id:
                    out.append(f"{ref.said!r} resolves to {resolved!r}, the plan acts on {ref.record_id!r}")
        for j in ref.steps:
            step = plan.steps[j]
            if step.read_only or ref.param is None:
                continue
            for name, args in calls:
                if name == step.name and isinstance(args, dict) and ref.param in args \
                        and args[ref.param] != resolved:
                    out.append(f"{split_qualified(name)[1]} acted on {args[ref.param]!r}, the user meant {resolved!r}")
    return out


def _calls(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    for m in messages:
        for c in m.get("tool_calls") or []:
            fn = c.get("function", {})
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = None
            out.append((fn.get("name", ""), args))
    return out


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def seen(value: Any, text: str) -> bool:
    """Could the assistant have this value from `text`? Strings (case-insensitive; dates also spelled out),
    numbers as a token (cents also as an amount); booleans and nulls always."""
    if value is None or isinstance(value, bool):
        return True
    low = text.lower()
    if isinstance(value, (int, float)):
        forms = {str(value)} | ({f"{value / 100:.2f}"} if isinstance(value, int) else set())
        if isinstance(value, float) and value.is_integer():
            forms.add(str(int(value)))
        return any(re.search(rf"(?<![\d.]){re.escape(f)}(?![\d])", text) for f in forms)
    if isinstance(value, str):
        v = value.strip().lower()
        if not v or v in low:
            return True
        for weekday in (True, False):
            human = human_date(value, weekday)
            if human and (human.lower() in low or human.split(" at ")[0].lower() in low):
                return True
        return False
    return True


def unexplained_values(messages: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Argument values of the assistant's calls that no earlier message (system, user, tool result) carries,
    and how many values were checked."""
    corpus: list[str] = []
    bad: list[str] = []
    total = 0
    for m in messages:
        role = m.get("role")
        if role in ("system", "user", "tool"):
            corpus.append(str(m.get("content") or ""))
        for name, args in _calls([m]) if role == "assistant" else []:
            text = "\n".join(corpus)
            for v in _leaves(args):
                total += 1
                if not seen(v, text):
                    bad.append(f"{split_qualified(name)[1]}: {v!r}")
    return bad, total


def untold_facts(task: Task, messages: list[dict[str, Any]]) -> list[str]:
    """communicate_info facts no assistant answer tells (the matcher the reward uses, so both agree)."""
    text = "\n".join(m.get("content") or "" for m in messages if m.get("role") == "assistant"
                     and not m.get("tool_calls"))
    return [f"{f.slot}: {f.said}" for f in task.communicate_info if not ToldFact.of(f).told_in(text)]
