"""A short natural-language description -> ApiModel, with a model (there is nothing to import offline).

The model proposes the tool surface as JSON (names, descriptions, input and output schemas, annotations); it is
validated exactly like an imported spec (ToolSpec rules, JSON Schema validity), and a rejected proposal goes back to
the model once with the reasons. The environment itself is then written and verified by the model generator.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from registry.spec import ENV_NAME_PATTERN, ToolAnnotationsSpec, ToolSpec
from servers.factory.apimodel import ApiModel, Operation
from servers.factory.importers import ImportFailure

PREFIX = "describe:"
ATTEMPTS = 2

SYSTEM = """You design the tool surface of a stateful, deterministic tool environment for training LLM agents.
Answer with one JSON object: {"name": snake_case environment name, "title": str, "domain": str,
"description": str, "tools": [{"name": snake_case, "description": what it does and where its arguments come from,
"input_schema": JSON Schema object with "properties", "required", "additionalProperties": false, a "description"
and "examples" for every property, "output_schema": JSON Schema object, "annotations": {"readOnlyHint": bool,
"destructiveHint": bool, "idempotentHint": bool, "openWorldHint": false}}]}.
Give 8 to 16 tools mixing reads and writes over 2 to 4 related resources; ids produced by one tool feed others
(output field `<resource>.id` or `<resource>_id`, input parameter `<resource>_id`); list tools take optional filters,
`limit` and `cursor` and return the items plus `next_cursor`. No tool may manage sessions, state or episodes."""


def _problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["the answer must be one JSON object"]
    problems: list[str] = []
    if not isinstance(data.get("name"), str) or not re.fullmatch(ENV_NAME_PATTERN, data["name"]):
        problems.append(f"name must match {ENV_NAME_PATTERN}")
    tools = data.get("tools")
    if not isinstance(tools, list) or not tools:
        return [*problems, "tools must be a non-empty list"]
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        try:
            spec = ToolSpec.model_validate(tool)
        except ValidationError as exc:
            first = exc.errors()[0]
            problems.append(f"tools[{i}]: {'.'.join(map(str, first['loc']))}: {first['msg']}")
            continue
        if spec.name in seen:
            problems.append(f"tools[{i}]: duplicate name {spec.name!r}")
        seen.add(spec.name)
        for which in ("input_schema", "output_schema"):
            try:
                Draft202012Validator.check_schema(getattr(spec, which))
            except SchemaError as exc:
                problems.append(f"{spec.name}.{which}: {exc.message}")
    return problems


async def import_description(text: str, llm: Any) -> ApiModel:
    """Ask the model for the tool surface of the described environment; raise ImportFailure if it never fits."""
    text = text.removeprefix(PREFIX).strip()
    if len(text) < 10:
        raise ImportFailure("a description needs at least a sentence (describe:TEXT)")
    messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM},
                                      {"role": "user", "content": f"Environment to design:\n{text}"}]
    problems: list[str] = []
    data: Any = None
    for _ in range(ATTEMPTS):
        reply = await llm.chat(messages, json_mode=True)
        data = reply.data
        problems = _problems(data)
        if not problems:
            break
        messages += [{"role": "assistant", "content": reply.text},
                     {"role": "user", "content": "Fix these problems and answer with the whole JSON object again:\n- "
                                                 + "\n- ".join(problems[:20])}]
    if problems:
        raise ImportFailure(f"the model's tool design was not usable: {'; '.join(problems[:3])}")
    operations = []
    for tool in data["tools"]:
        spec = ToolSpec.model_validate(tool)
        operations.append(Operation(tool=spec.name, description=spec.description, input_schema=spec.input_schema,
                                    output_schema=spec.output_schema,
                                    annotations=ToolAnnotationsSpec.model_validate(tool.get("annotations") or {})))
    return ApiModel(name=data["name"], title=str(data.get("title") or data["name"]),
                    description=str(data.get("description") or text), domain=str(data.get("domain") or ""),
                    source=f"{PREFIX}{text[:80]}", source_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    importer="description", operations=operations,
                    dropped=[f"designed by the model from: {json.dumps(text[:200])}"])
