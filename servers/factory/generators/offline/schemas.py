"""JSON-schema helpers: resolve, simplify imported schemas into record schemas the generated code can honour.

A record schema keeps what the API says about each field (type, enum, format, description) and drops what the
generated code cannot guarantee when it merges arguments into a record (required lists, patterns, bounds,
combinators deeper than one level). Everything here is a pure function of its input.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from common import jsonschema

MAX_DEPTH = 3
SCALARS = ("string", "integer", "number", "boolean")
ALL_OF_KEYS = ("type", "description", "enum")
"""What an `allOf` part may add to a record schema besides properties (the rest the generated code cannot honour)."""


def resolve(schema: Any, root: dict[str, Any] | None = None) -> dict[str, Any]:
    """The generator's reading (OpenAPI 3.0): local `$ref`s followed into `root` (None: none), keys beside a `$ref`
    ignored, `allOf` flattened into one object schema whose parts add properties, type, description and enum."""
    return jsonschema.resolve(schema, root, merge_all_of=True, all_of_keys=ALL_OF_KEYS)


def types_of(schema: dict[str, Any]) -> list[str]:
    """The JSON types a schema names (`[]` when it names none)."""
    t = schema.get("type")
    found = [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)] if isinstance(t, list) else []
    if schema.get("nullable") is True and "null" not in found and found:
        found.append("null")
    return found


def main_type(schema: dict[str, Any]) -> str | None:
    """The first non-null type, guessing `object`/`array` from `properties`/`items`."""
    for t in types_of(schema):
        if t != "null":
            return t
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if isinstance(schema.get("enum"), list) and schema["enum"] and all(isinstance(v, str) for v in schema["enum"]):
        return "string"
    return None


def object_properties(schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    schema = resolve(schema, root)
    props = schema.get("properties")
    return {k: resolve(v, root) for k, v in props.items()} if isinstance(props, dict) else {}


def simplify(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """A permissive copy of `schema` that still says what each field is (see module docstring)."""
    schema = resolve(schema, root)
    kind = main_type(schema)
    out: dict[str, Any] = {}
    if isinstance(schema.get("description"), str) and depth <= 1 and schema["description"].strip():
        out["description"] = " ".join(schema["description"].split())[:300]
    if kind is None:
        return out
    nullable = "null" in types_of(schema)
    out["type"] = [kind, "null"] if nullable else kind
    if kind == "object":
        props = schema.get("properties")
        if isinstance(props, dict) and props and depth < MAX_DEPTH:
            out["properties"] = {str(k): simplify(v, root, depth + 1) for k, v in props.items()}
    elif kind == "array":
        if depth < MAX_DEPTH and isinstance(schema.get("items"), dict):
            items = simplify(schema["items"], root, depth + 1)
            items.pop("description", None)
            if items:
                out["items"] = items
    elif kind == "string":
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            out["enum"] = list(dict.fromkeys(enum)) + ([None] if nullable else [])
        if isinstance(schema.get("format"), str):
            out["format"] = schema["format"]
    return out


def strip_docs(schema: Any) -> Any:
    """The schema without descriptions, examples and titles (for comparing two schemas)."""
    if isinstance(schema, dict):
        return {k: strip_docs(v) for k, v in schema.items() if k not in ("description", "examples", "title",
                                                                          "example", "default")}
    if isinstance(schema, list):
        return [strip_docs(v) for v in schema]
    return schema


def widen(record: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """A record-field schema that accepts every value of both `record` and `incoming` (an argument's schema)."""
    a, b = strip_docs(record), strip_docs(simplify(incoming))
    if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True):
        return record
    out: dict[str, Any] = {k: v for k, v in record.items() if k == "description"}
    ta, tb = types_of(a), types_of(b)
    if not ta or not tb:
        return out  # one side accepts anything
    kinds = list(dict.fromkeys([*ta, *tb]))
    if "integer" in kinds and "number" in kinds:
        kinds.remove("integer")
    out["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in a and "enum" in b:
        out["enum"] = list(dict.fromkeys([*a["enum"], *b["enum"]]))
    if kinds == ["object"] or kinds == ["object", "null"]:
        pa, pb = a.get("properties") or {}, b.get("properties") or {}
        if pa and pb:
            merged = dict(pa)
            for k, v in pb.items():
                merged[k] = widen(merged[k], v) if k in merged else v
            out["properties"] = merged
    if "format" in a and a.get("format") == b.get("format"):
        out["format"] = a["format"]
    return out


def accepts_blank(schema: dict[str, Any]) -> bool:
    """True when a whitespace-only string passes `schema` (so the code, not the schema, must refuse it)."""
    return (main_type(schema) == "string" and "enum" not in schema and "pattern" not in schema
            and "format" not in schema and "const" not in schema and int(schema.get("maxLength", 5) or 0) >= 3)


def deep(value: Any) -> Any:
    return copy.deepcopy(value)
