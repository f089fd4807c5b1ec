"""Small JSON Schema helpers shared by the graph, the value generator and the query writer."""

from __future__ import annotations

import re
from typing import Any

from common import jsonschema, naming

ID_DESC = re.compile(r"\b(as )?returned by\b|\bid of\b|\bidentifier\b", re.IGNORECASE)
TOKEN = re.compile(r"[a-z0-9]+")
STOP = frozenset("a an the of to by in on for and or as is are be it its this that with from at any one all".split())


def resolve(schema: Any, root: dict[str, Any] | None = None) -> dict[str, Any]:
    """The synthesizer's reading of a tool schema (JSON Schema 2020-12, `root`: the tool's input schema, else `schema`):
    keys beside a `$ref` apply, `anyOf: [X, null]` is X, `allOf` is one merged schema."""
    return jsonschema.resolve(schema, root or (schema if isinstance(schema, dict) else None), ref_siblings=True,
                              collapse_unions=True, merge_all_of=True)


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


# --- statable: could a user say this value, or must it come from a tool? -----------------------------------------

OPAQUE_NAME = re.compile(r"(^|_)(token|cursor|etag|hash|nonce|signature|checksum|uuid|guid)s?$")
STATABLE_FORMATS = frozenset(
    "email idn-email date date-time time duration uri url iri hostname phone ipv4 ipv6".split())
OPAQUE_FORMATS = frozenset("uuid byte binary".split())
RETURNED_BY = re.compile(r"\b(as )?(returned|listed) by\b", re.IGNORECASE)
HEX_CLASS = re.compile(r"\[[^\]]*(a-f|A-F)[^\]]*\]")
LONG_REPEAT = re.compile(r"\{(\d+)(,\d*)?\}")
LITERAL_PREFIX = re.compile(r"^\^?[A-Za-z]{1,10}[_-]")


def is_id_name(name: str) -> bool:
    """`id`, `calendar_id`, `eventIds`, `userID`: named as an identifier (whatever the description says)."""
    low = naming.snake(name)
    return low in ("id", "ids") or low.endswith(("_id", "_ids"))


def opaque_pattern(pattern: str) -> bool:
    """`^cal_[0-9]{4}$`, hex digests and long tokens are machine ids; `^[A-Z]{3}$` (IATA) or a ZIP code is not."""
    if LITERAL_PREFIX.search(pattern) or HEX_CLASS.search(pattern):
        return True
    return any(int(m.group(1)) >= 12 for m in LONG_REPEAT.finditer(pattern))


def statable(name: str, schema: dict[str, Any] | None, root: dict[str, Any] | None = None,
             depth: int = 0) -> tuple[bool, str]:
    """Could a user plausibly state this parameter in words (True), or must its value come from a tool (False)?

    The sampler feeds every required tool-sourced parameter from an earlier call and lets the query state the rest;
    the reason says which rule decided, for `envfactory graph` and for debugging odd plans.
    """
    s = resolve(schema or {}, root or schema)
    low = naming.snake(name)
    typ = main_type(s)
    desc = str(s.get("description", ""))
    if is_id_name(name):
        return False, "named as an id"
    if OPAQUE_NAME.search(low):
        return False, "an opaque token"
    if s.get("enum"):
        return True, "one of a fixed set of values"
    if typ == "boolean":
        return True, "a yes/no flag"
    if typ in ("object", "array"):
        return _composite_statable(name, s, root or schema or {}, depth)
    fmt = str(s.get("format", "")).lower()
    if fmt in OPAQUE_FORMATS:
        return False, f"opaque format {fmt}"
    if fmt in STATABLE_FORMATS:
        return True, f"a value in {fmt} format"
    if RETURNED_BY.search(desc):
        return False, "described as returned by a tool"
    if ID_DESC.search(desc):
        return False, "described as an identifier"
    if isinstance(s.get("pattern"), str) and opaque_pattern(s["pattern"]):
        return False, "matches an opaque id pattern"
    if typ in ("integer", "number"):
        return True, "a quantity or amount"
    return True, "text, a name or a short code"


def _composite_statable(name: str, s: dict[str, Any], root: dict[str, Any], depth: int) -> tuple[bool, str]:
    """A list or object is statable when every value it needs is: `passengers` (names) yes, `items` (product ids) no."""
    if depth > 4:
        return True, "a deeply nested structure"
    if main_type(s) == "array":
        item = resolve(s.get("items", {}), root)
        if main_type(item) != "object":
            ok, why = statable(singular(name), {"description": s.get("description", ""), **item}, root, depth + 1)
            return ok, f"a list: {why}"
        s = item
    props = properties(s)
    if not props:
        return True, "a free-form structure"
    need = required(s) or list(props)
    for p in need:
        ok, _ = statable(p, resolve(props[p], root), root, depth + 1)
        if not ok:
            return False, f"holds {p}, which must come from a tool"
    return True, "a structure of values a user can say"
