"""Tool specs of the generated environment: Python-safe input schemas, truthful output schemas, annotations."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from registry.spec import ToolAnnotationsSpec, ToolSpec
from servers.factory.generators.offline import names, schemas
from servers.factory.generators.offline.records import format_id
from servers.factory.generators.offline.resources import Collection, Plan

ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An entry of the environment's action log.",
    "properties": {
        "id": {"type": "string", "description": "Id of the log entry (act_NNNN)."},
        "tool": {"type": "string", "description": "The tool that was called."},
        "target": {"type": ["string", "null"], "description": "Id of the record it acted on, if any."},
        "arguments": {"type": "object", "description": "The arguments it was called with (nulls left out)."},
        "at": {"type": "string", "description": "State time of the call (ISO-8601, UTC)."},
    },
    "required": ["id", "tool", "target", "arguments", "at"],
}
NOTES = {
    "read": " Returns a fixed sample response: this environment does not model the data behind it.",
    "write": " The call is validated and recorded in the environment's action log; it changes nothing else.",
}


@dataclass
class Tool:
    """A plan plus the final spec and the Python name of each argument."""

    plan: Plan
    spec: ToolSpec
    args: dict[str, str] = field(default_factory=dict)
    sample: Any = None

    def py(self, name: str | None) -> str | None:
        return None if name is None else self.args.get(name, name)


def _input_schema(plan: Plan) -> tuple[dict[str, Any], dict[str, str]]:
    schema = copy.deepcopy(plan.op.input_schema)
    schema["type"] = "object"
    props: dict[str, Any] = schema.get("properties") or {}
    taken: set[str] = set()
    renamed: dict[str, str] = {}
    new_props: dict[str, Any] = {}
    for name, sub in props.items():
        ident = names.identifier(name, taken) if not (name.isidentifier() and name not in taken and
                                                      names.identifier(name) == name) else name
        taken.add(ident)
        renamed[name] = ident
        new_props[ident] = sub
    for arg, col in plan.id_args.items():
        sub = new_props.get(renamed.get(arg, arg))
        if isinstance(sub, dict) and col.id_style != "enum" and ("format" in sub or "pattern" in sub):
            # the spec gives the same id different formats in different paths; keep the one the ids follow
            sample = str(format_id(col, 1))
            fmt_ok = sub.get("format") != "uuid" or col.id_style == "uuid"
            pat = sub.get("pattern")
            try:
                pat_ok = not isinstance(pat, str) or re.search(pat, sample) is not None
            except re.error:
                pat_ok = False
            if not (fmt_ok and pat_ok):
                new_props[renamed.get(arg, arg)] = {k: v for k, v in sub.items() if k not in ("format", "pattern")}
    schema["properties"] = new_props
    schema["required"] = [renamed[r] for r in schema.get("required") or [] if r in renamed]
    if not schema["required"]:
        schema.pop("required")
    schema["additionalProperties"] = False
    return schema, renamed


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def output_schema(plan: Plan, sample_schema: dict[str, Any] | None) -> dict[str, Any]:
    col: Collection | None = plan.collection
    if plan.kind in ("read", "write") or col is None:
        if plan.kind == "write":
            return _obj({"action": ACTION_SCHEMA}, ["action"])
        return _obj({"result": sample_schema or {"type": "object"}}, ["result"])
    record = col.schema
    if plan.kind == "list":
        cursor_type = ["integer", "null"] if plan.cursor_kind in ("offset", "page") else ["string", "null"]
        return _obj({col.key: {"type": "array", "items": record},
                     "next_cursor": {"type": cursor_type,
                                     "description": "Pass as the cursor argument to get the next page; null at the "
                                                    "end."}}, [col.key, "next_cursor"])
    if plan.kind == "delete":
        return _obj({"deleted": {"type": "boolean"}, col.singular: record}, ["deleted", col.singular])
    if plan.kind == "action":
        return _obj({col.singular: record, "action": ACTION_SCHEMA}, [col.singular, "action"])
    return _obj({col.singular: record}, [col.singular])


def tool_annotations(plan: Plan) -> ToolAnnotationsSpec:
    title = plan.op.annotations.title
    kind = plan.kind
    ro = kind in ("list", "get", "read")
    destructive = kind in ("delete", "replace") or (kind in ("action", "write") and plan.op.method == "delete")
    if kind == "action" and plan.verb.split("_")[0] in ("cancel", "reject", "deactivate", "archive", "stop"):
        destructive = True
    idempotent = ro or kind in ("delete", "replace", "update")
    return ToolAnnotationsSpec(title=title, read_only_hint=ro, destructive_hint=destructive, idempotent_hint=idempotent)


def build_tools(plans: list[Plan], samples: dict[str, tuple[dict[str, Any] | None, Any]]) -> list[Tool]:
    tools = []
    for plan in plans:
        spec = plan.op.tool_spec()
        input_schema, renamed = _input_schema(plan)
        sample_schema, sample = samples.get(plan.tool, (None, None))
        description = spec.description + NOTES.get(plan.kind, "")
        tools.append(Tool(plan=plan, args=renamed, sample=sample, spec=ToolSpec(
            name=spec.name, description=description, input_schema=input_schema,
            output_schema=output_schema(plan, sample_schema), annotations=tool_annotations(plan))))
    return tools


def sample_schema(plan: Plan, root: dict[str, Any]) -> dict[str, Any] | None:
    """A simplified response schema for a generic read (None: an empty object)."""
    if plan.op.response_schema is None:
        return None
    simple = schemas.simplify(plan.op.response_schema, root)
    return simple or None
