"""Small JSON Schema helpers shared by the graph, the value generator and the query writer."""

from __future__ import annotations

import re
from typing import Any

from registry import naming

ID_DESC = re.compile(r"\b(as )?returned by\b|\bid of\b|\bidentifier\b", re.IGNORECASE)
TOKEN = re.compile(r"[a-z0-9]+")
STOP = frozenset("a an the of to by in on for and or as is are be it its this that with from at any one all".split())


def resolve(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """Follow a local `$ref` and collapse nullable unions (`anyOf: [X, null]`) to X."""
    if not isinstance(schema, dict):
        return {}
    root = root or schema
    if "$ref" in schema and depth < 20:
        ref = str(schema["$ref"])
        if ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return resolve(merged, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            real = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
            if real:
                merged = {**resolve(real[0], root, depth + 1), **{k: v for k, v in schema.items() if k != key}}
                return merged
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for b in schema["allOf"]:
            merged.update(resolve(b, root, depth + 1))
        merged.update({k: v for k, v in schema.items() if k != "allOf"})
        return merged
    return schema


def main_type(schema: dict[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t:
        return str(t)
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if "enum" in schema and schema["enum"]:
        v = schema["enum"][0]
        return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(v))
    return None


def properties(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties")
    return {k: v for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}


def required(schema: dict[str, Any] | None) -> list[str]:
    if not isinstance(schema, dict):
        return []
    req = schema.get("required")
    props = properties(schema)
    return [r for r in req if r in props] if isinstance(req, list) else []


def is_id_like(name: str, schema: dict[str, Any] | None = None) -> bool:
    """A parameter whose value must come from an earlier output (an id, or described as 'as returned by X')."""
    low = name.lower()
    if low == "id" or low.endswith(("_id", "_ids", "-id")) or re.search(r"[a-z]Ids?$", name):
        return True
    desc = str((schema or {}).get("description", ""))
    return bool(ID_DESC.search(desc)) and low not in ("cursor", "next_cursor", "page_token")


def tokens(text: str) -> set[str]:
    return {t for t in TOKEN.findall(text.replace("_", " ").lower()) if t not in STOP}


def singular(word: str) -> str:
    """`events` -> `event`, `people` -> `person` (the registry's rules, lower-cased)."""
    return naming.singular(word.lower())


def singular_phrase(name: str) -> str:
    """`calendar_events` -> `calendar_event` (last word singular)."""
    parts = [p for p in re.split(r"[_\-\s]+", name.lower()) if p]
    if not parts:
        return ""
    parts[-1] = singular(parts[-1])
    return "_".join(parts)


def entity_of_param(name: str) -> str | None:
    """`calendar_id` -> `calendar`, `event_ids` -> `event`, `id` -> None."""
    low = name.lower().replace("-", "_")
    m = re.match(r"^(.*?)_?ids?$", low) if low.endswith(("id", "ids")) else None
    if m and m.group(1):
        return singular_phrase(m.group(1))
    if re.search(r"[a-z]Ids?$", name):
        return singular_phrase(re.sub(r"Ids?$", "", name).lower())
    return None
