"""Tool graph of one server: nodes are tools, an edge A->B when an output field of A can feed an input of B."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import networkx as nx
from pydantic import BaseModel

from synthesizer.discovery import ToolInfo
from synthesizer.schema import (
    entity_of_param,
    is_id_like,
    main_type,
    properties,
    resolve,
    singular,
    singular_phrase,
    tokens,
)

VERBS = frozenset(
    "list search find get read show view fetch lookup create add new make book reserve place schedule send post "
    "update edit modify set rename move change delete remove cancel archive describe query check".split()
)
NAME_KEYS = ("title", "name", "full_name", "display_name", "label", "subject", "summary", "headline")


class OutField(BaseModel):
    """A scalar leaf of an output schema: `calendars[].id`, `event.id`, `order_id`."""

    path: str
    name: str
    parent: str | None
    type: str | None
    description: str = ""


class Link(BaseModel):
    field: str
    param: str
    score: float


def tool_noun(tool_name: str) -> str:
    """`list_calendars` -> `calendar`, `get_note` -> `note`, `search_flight_offers` -> `flight_offer`."""
    parts = [p for p in tool_name.lower().replace("-", "_").split("_") if p]
    if len(parts) > 1 and parts[0] in VERBS:
        parts = parts[1:]
    return singular_phrase("_".join(parts))


def output_fields(schema: dict[str, Any] | None) -> list[OutField]:
    if not isinstance(schema, dict):
        return []
    return list(_walk(schema, schema, [], None, 0))


def _walk(schema: Any, root: dict[str, Any], path: list[str], parent: str | None, depth: int) -> Iterator[OutField]:
    s = resolve(schema, root)
    typ = main_type(s)
    if depth > 8:
        return
    if typ == "object":
        for key, sub in properties(s).items():
            yield from _walk(sub, root, [*path, key], path[-1].rstrip("[]") if path else parent, depth + 1)
    elif typ == "array":
        items = s.get("items", {})
        marked = [*path[:-1], path[-1] + "[]"] if path else ["[]"]
        yield from _walk(items, root, marked, parent, depth + 1)
    elif path:
        name = path[-1].rstrip("[]")
        desc = str(s.get("description", ""))
        yield OutField(path=".".join(path), name=name, parent=parent, type=typ, description=desc)


def _entity_of_field(field: OutField, source_tool: str) -> str | None:
    low = field.name.lower()
    if low == "id":
        return singular_phrase(field.parent) if field.parent else tool_noun(source_tool)
    return entity_of_param(field.name)


def types_compatible(out_type: str | None, in_schema: dict[str, Any]) -> bool:
    in_type = main_type(in_schema)
    if out_type is None or in_type is None:
        return True
    if out_type == in_type:
        return True
    return out_type == "integer" and in_type == "number"


def name_score(field: OutField, param: str, param_schema: dict[str, Any], source_tool: str) -> float:
    """How well the field's name says it is the parameter (0 when it does not)."""
    pl, fl = param.lower(), field.name.lower()
    id_param = is_id_like(param, param_schema)
    pe = entity_of_param(param) or (tool_noun(source_tool) if pl == "id" else None)
    if fl == pl and fl != "id":
        if not id_param:
            return 0.7
        # `refund.booking_id` is a back-reference held by another record; `booking.id` is the booking itself
        return 1.0 if field.parent is None or singular_phrase(field.parent) == pe else 0.85
    if id_param:
        fe = _entity_of_field(field, source_tool)
        if pe and fe:
            if pe == fe:
                return 1.0
            if pe.split("_")[-1] == fe.split("_")[-1] or fe.endswith("_" + pe) or pe.endswith("_" + fe):
                return 0.6
        return 0.0
    if singular(fl) == singular(pl) and fl != "id":
        return 0.6
    return 0.0


def description_score(field: OutField, param_schema: dict[str, Any], source: ToolInfo) -> float:
    """Tie-breaker: token overlap of the parameter description with the source tool and field; a named source wins."""
    desc = str(param_schema.get("description", ""))
    bonus = 0.1 if source.name in desc else 0.0
    a = tokens(desc)
    b = tokens(source.name + " " + source.description + " " + field.path + " " + field.description)
    overlap = len(a & b) / len(a | b) if a and b else 0.0
    return round(0.2 * overlap + bonus, 4)


DESCRIBED = 1.5  # the parameter's description names the source tool and the field: the strongest evidence
STRONG = 1.2  # links at least this strong feed a parameter even when it is not id-like
NEVER_LINKED = ("cursor", "next_cursor", "page_token", "limit", "offset", "page")


def _norm(path: str) -> str:
    return path.replace("[]", "")


def described_field(param_schema: dict[str, Any], source: ToolInfo, fields: list[OutField]) -> OutField | None:
    """The field a description points at: `as returned by list_calendars (calendars[].id)` or
    `balance_due_cents from get_booking`."""
    desc = str(param_schema.get("description", ""))
    if not re.search(rf"(?<![\w]){re.escape(source.name)}(?![\w])", desc):
        return None
    for path in re.findall(r"\(([A-Za-z0-9_.\[\]]+)\)", desc):
        want = _norm(path)
        for f in fields:
            if _norm(f.path) == want:
                return f
        for f in fields:
            if _norm(f.path).endswith("." + want):
                return f
    for f in fields:
        if "_" in f.name and re.search(rf"(?<![\w.]){re.escape(f.name)}(?![\w])", desc):
            return f
    return None


def path_penalty(path: str) -> float:
    """Prefer `booking.id` over `booking.payments[].booking_id`: lists may be empty, deep fields are incidental."""
    return 0.15 * path.count("[]") + 0.02 * path.count(".")


UNNAMED_SOURCE = 0.6  # the description names other tools as the source: a name-only link is doubtful
MIN_SCORE = 0.5


def names_a_tool(param_schema: dict[str, Any], tool_names: list[str]) -> bool:
    desc = str(param_schema.get("description", ""))
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", desc) for n in tool_names)


def links(source: ToolInfo, target: ToolInfo, tool_names: list[str] | None = None) -> list[Link]:
    """Best field of `source` for each input parameter of `target` it can feed, best first."""
    found: list[Link] = []
    fields = output_fields(source.output_schema)
    for param, raw in properties(target.input_schema).items():
        if param.lower() in NEVER_LINKED:
            continue
        ps = resolve(raw, target.input_schema)
        named = names_a_tool(ps, tool_names or [])
        factor = UNNAMED_SOURCE if named and not names_a_tool(ps, [source.name]) else 1.0
        described = described_field(ps, source, fields)
        if described is not None and types_compatible(described.type, ps):
            found.append(Link(field=described.path, param=param, score=DESCRIBED))
            continue
        best: Link | None = None
        for f in fields:
            base = name_score(f, param, ps, source.name)
            if base <= 0 or not types_compatible(f.type, ps):
                continue
            score = round((base - path_penalty(f.path) + description_score(f, ps, source)) * factor, 4)
            if score < MIN_SCORE:
                continue
            if best is None or score > best.score:
                best = Link(field=f.path, param=param, score=score)
        if best:
            found.append(best)
    return sorted(found, key=lambda lk: (-lk.score, lk.param))


def build_graph(tools: list[ToolInfo]) -> nx.DiGraph:
    """Nodes carry the ToolInfo (`tool`); edges carry the best link (`field`, `param`, `score`) and all `links`."""
    g = nx.DiGraph()
    names = [t.name for t in tools]
    for t in tools:
        g.add_node(t.name, tool=t)
    for a in tools:
        for b in tools:
            if a.name == b.name:
                continue
            found = links(a, b, names)
            if found:
                best = found[0]
                g.add_edge(a.name, b.name, field=best.field, param=best.param, score=best.score,
                           links=[lk.model_dump() for lk in found])
    return g
