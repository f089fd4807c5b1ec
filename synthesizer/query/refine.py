"""Deterministic checks of a user message draft: leaked tool names, leaked ids, step lists, missing facts.

The refiner role rewrites a draft until these pass (or the sample is dropped); the same checks run on the final
first user message for the run's statistics. Facts the user is meant to hold back (clarification) are exempt.
"""

from __future__ import annotations

import re
from typing import Any

from synthesizer.data.leaks import leaked_tools
from synthesizer.plan.grounded import GroundedPlan
from synthesizer.plan.schema import properties, required, resolve
from synthesizer.query.compose import human_date, id_values, salient

SEQUENCE = re.compile(r"\b(then|after that|afterwards|next|finally|lastly|once that's done|first|second|third|"
                      r"step \d)\b", re.IGNORECASE)
NUMBERED = re.compile(r"(^|\n)\s*(\d+[.)]|[-*])\s+\w")
MAX_SEQUENCE_WORDS = 2
# "for that calendar", "the second booking in that list": a record the user never saw and does not name
UNNAMED = re.compile(r"\bin that list\b|\b(?:for|of|to|from|on|up|cancel|update|remove|delete) that "
                     r"(?!is\b|was\b|are\b|has\b|have\b|one\b)[a-z]+", re.IGNORECASE)


def leaked_ids(text: str, ids: set[str]) -> list[str]:
    low = text.lower()
    return sorted(v for v in ids if len(v) >= 3 and re.search(rf"(?<![\w]){re.escape(v.lower())}(?![\w])", low))


def mentioned(value: Any, text: str) -> bool:
    """Whether the text states the value (dates in ISO or spelled out, case-insensitive strings, numbers)."""
    low = text.lower()
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d])", text) is not None or (
            isinstance(value, float) and value.is_integer() and str(int(value)) in text)
    if isinstance(value, str):
        v = value.strip().lower()
        if not v or v in low:
            return True
        human = human_date(value)
        return bool(human and (human.lower() in low or human.split(" at ")[0].lower() in low))
    if isinstance(value, list):
        return all(mentioned(v, text) for v in value)
    if isinstance(value, dict):
        return all(mentioned(v, text) for v in value.values())
    return True


def stated_exactly(value: str, text: str) -> bool:
    """The value itself is in the text (a date-time with its time, not just its day)."""
    low = text.lower()
    human = human_date(value)
    return value.strip().lower() in low or bool(human and human.lower() in low)


def stated_arguments(plan: GroundedPlan, j: int, tools: dict[str, Any]) -> dict[str, Any]:
    """The values of step j that the user must state: required, not fed from an earlier call."""
    step = plan.steps[j]
    tool = tools[step.name]
    fed = {f.param for f in plan.feeds[j]}
    props = properties(tool.input_schema)
    req = set(required(tool.input_schema))
    out = {}
    for name, value in step.arguments.items():
        if name in fed or name not in req:
            continue
        schema = resolve(props.get(name, {}), tool.input_schema)
        if "enum" in schema and len(schema["enum"]) <= 1:
            continue
        out[name] = value
    return out


def check_draft(text: str, tool_names: list[str], plan: GroundedPlan | None, steps: list[int],
                tools: dict[str, Any], withheld: dict[int, tuple[str, ...]] | None = None) -> list[str]:
    """Problems with a user message asking for `steps` of the plan (empty: it passes)."""
    problems: list[str] = []
    if not text.strip():
        return ["the message is empty"]
    for name in leaked_tools(text, tool_names):
        problems.append(f"names the tool {name!r}")
    if plan is not None:
        for value in leaked_ids(text, id_values(plan)):
            problems.append(f"mentions the internal id {value!r}, which the user cannot know")
        for j in salient(plan, steps):
            for name, value in stated_arguments(plan, j, tools).items():
                if name in (withheld or {}).get(j, ()):
                    if isinstance(value, str) and len(value) > 2 and stated_exactly(value, text):
                        problems.append(f"gives away the {name.replace('_', ' ')} the user should only say when "
                                        "asked")
                    continue
                if not mentioned(value, text):
                    problems.append(f"does not say the {name.replace('_', ' ')} ({value!r}): the request cannot "
                                    "be carried out as meant")
    unnamed = UNNAMED.search(text)
    if unnamed:
        problems.append(f"refers to a record the user cannot identify ({unnamed.group(0)!r})")
    if len(SEQUENCE.findall(text)) > MAX_SEQUENCE_WORDS or len(NUMBERED.findall(text)) >= 2:
        problems.append("reads like a step-by-step procedure instead of a goal")
    return problems
