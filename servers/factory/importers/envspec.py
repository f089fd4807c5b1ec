"""A hand-written EnvSpec (env.json or YAML) -> ApiModel, so a tool list written by hand can be regenerated.

Only the tools matter here; scenarios, state schema and provenance belong to the generated environment, so a
partial document (name, description and tools) is accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from registry.spec import ToolSpec

from ..apimodel import ApiModel, Operation
from .common import ImportFailure, clean_text
from .mcp import params_from_schema


def is_envspec(doc: Any) -> bool:
    tools = doc.get("tools") if isinstance(doc, dict) else None
    return isinstance(tools, list) and bool(tools) and all(isinstance(t, dict) and "input_schema" in t for t in tools)


def import_envspec(doc: dict[str, Any], *, source: str, sha256: str | None, name: str) -> ApiModel:
    operations = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["tools"]):
        try:
            tool = ToolSpec.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ImportFailure(f"{source}: tools[{i}] ({raw.get('name', '?')}): {where}: {err['msg']}") from None
        if tool.name in seen:
            raise ImportFailure(f"{source}: duplicate tool name {tool.name!r}")
        seen.add(tool.name)
        operations.append(Operation(
            tool=tool.name,
            summary=clean_text(tool.description.split("\n")[0], 200),
            description=tool.description,
            params=params_from_schema(tool.input_schema),
            input_schema=tool.input_schema,
            output_schema=tool.output_schema,
            annotations=tool.annotations,
        ))
    return ApiModel(
        name=name,
        title=str(doc.get("title") or doc.get("name") or name),
        version=str(doc.get("version") or "0.1.0"),
        description=str(doc.get("description") or ""),
        domain=str(doc.get("domain") or ""),
        source=source,
        source_sha256=sha256,
        importer="envspec",
        operations=operations,
    )
