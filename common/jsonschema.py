"""Local `$ref` resolution for JSON Schema: the one reading of a sub-schema that every package shares.

Readers differ in what a schema means around a `$ref`, and those differences are keyword arguments, not copies:

- `ref_siblings`: keys beside a `$ref` apply too, overriding the target's (JSON Schema 2020-12, what the synthesizer
  reads in MCP tool schemas), instead of being ignored (OpenAPI 3.0, what the offline generator and the fuzzer read).
- `collapse_unions`: `anyOf`/`oneOf` read as their first non-null branch (`anyOf: [X, null]` is X), for readers that
  want one shape; the fuzzer keeps unions to pick among branches.
- `merge_all_of` and `all_of_keys`: `allOf` flattened into one schema, its parts contributing every key or only some.

Every reader gets the same answer to the rest: only local `#/...` pointers are followed (others stay as they are), a
pointer to nothing resolves to the node without its `$ref`, and a chain that comes back to a `$ref` it already
followed stops there, so a recursive schema cannot loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Reading:
    ref_siblings: bool
    collapse_unions: bool
    merge_all_of: bool
    all_of_keys: tuple[str, ...] | None


def lookup(root: Any, ref: str) -> Any:
    """The node a local pointer (`#/$defs/Item`) names inside `root`, or None when it names nothing."""
    if not ref.startswith("#/"):
        return None
    node = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def resolve(schema: Any, root: Mapping[str, Any] | None, *, ref_siblings: bool = False,
            collapse_unions: bool = False, merge_all_of: bool = False,
            all_of_keys: Sequence[str] | None = None) -> dict[str, Any]:
    """`schema` with its local `$ref`s followed into `root` (None: follow none), read as the keywords say.

    With `merge_all_of`, an `allOf` becomes one schema: the properties of the node and of every part are united (a
    later part's property replaces an earlier one of the same name), so are `required` lists, and any other key comes
    from the node itself, else from the first part that has it; `all_of_keys` limits which keys besides `properties`
    the parts may contribute, in that order (None: every key, in the part's order). A merged schema with properties
    is an object unless it names a type. A non-object `schema` reads as `{}` (accepts anything).
    """
    keys = tuple(all_of_keys) if all_of_keys is not None else None
    return _resolve(schema, root, _Reading(ref_siblings, collapse_unions, merge_all_of, keys), frozenset())


def _resolve(schema: Any, root: Mapping[str, Any] | None, how: _Reading, followed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    schema, followed = _follow(schema, root, how.ref_siblings, followed)
    if how.collapse_unions:
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list):
                real = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
                if real:
                    return {**_resolve(real[0], root, how, followed), **_without(schema, key)}
    if how.merge_all_of and isinstance(schema.get("allOf"), list):
        parts = [_resolve(part, root, how, followed) for part in schema["allOf"]]
        return _merge_all_of(_without(schema, "allOf"), parts, how.all_of_keys)
    return schema


def _follow(node: dict[str, Any], root: Mapping[str, Any] | None, siblings: bool,
            followed: frozenset[str]) -> tuple[dict[str, Any], frozenset[str]]:
    """Follow a chain of `$ref`s; the refs followed on the way come back so nested parts cannot loop either."""
    while root is not None:
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in followed:
            break
        followed = followed | {ref}
        target = lookup(root, ref)
        rest = _without(node, "$ref")
        if not isinstance(target, dict):
            return rest, followed
        node = {**target, **rest} if siblings else target
    return node, followed


def _merge_all_of(base: dict[str, Any], parts: list[dict[str, Any]],
                  keys: tuple[str, ...] | None) -> dict[str, Any]:
    merged = dict(base)
    props: dict[str, Any] = dict(merged.get("properties") or {})
    own = merged.get("required", [])
    unite_required = (keys is None or "required" in keys) and isinstance(own, list)
    required: list[Any] = list(own) if unite_required else []
    for part in parts:
        props.update(part.get("properties") or {})
        for key in part if keys is None else [k for k in keys if k in part]:
            value = part[key]
            if key == "properties":
                continue
            if key == "required" and unite_required and isinstance(value, list):
                required += [r for r in value if r not in required]
            elif key not in merged:
                merged[key] = value
    if props:
        merged["properties"] = props
        merged.setdefault("type", "object")
    if unite_required and required:
        merged["required"] = required
    return merged


def _without(node: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != key}
