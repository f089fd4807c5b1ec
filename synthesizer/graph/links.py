"""Which output field of one tool can feed which input parameter of another: the scored link.

`links(source, target)` is the best field of `source` for each input parameter of `target` it can feed;
`build_graph(tools)` is the single-server graph over them (nodes are tools, an edge A->B carries the links from A's
outputs to B's inputs). The union graph over several servers (`synthesizer.graph.union`) scores its edges with the
same two parts:

* type (`type_score`): 1.0 same JSON type, 0.95 integer into number, 0.9 when a side is untyped (incompatible types
  never link);
* lexical (`best_field`): names, entities and descriptions: 1.5 when the parameter's description names the source
  tool and field, about 1.0 for an id of the same entity, 0.6-0.7 for a same-named plain field, minus a penalty for
  nested or list fields; candidates under `MIN_SCORE` are dropped.

Cross-server edges use the same scoring but a stricter admission rule (`cross_allowed`), so unrelated servers do not
get linked by coincidental names: an id parameter only from the record of exactly its entity (`customer_id` <-
`customer.id` or a top-level `customer_id`, never a back-reference such as `order.customer_id`, never a partial
entity match), and a plain parameter only from a field of exactly its name, outside any list, that carries a value
shared across systems (`email`, `phone`, `url`, or a parameter with format email/uri). Descriptions naming a source
tool only count within a server, and embeddings never admit a cross-server edge (`synthesizer.graph.embed`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import networkx as nx
from pydantic import BaseModel

from common.naming import snake
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.schema import (
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


GENERIC_PARENTS = frozenset(
    "items item results result data records record entries entry values value list objects nodes hits rows "
    "resources elements content".split())


def field_entity(field: OutField, source_tool: str) -> str | None:
    """`calendars[].id` -> calendar; `items[].id` of `list_tasklists` -> tasklist (a generic list names no entity)."""
    low = field.name.lower()
    if low == "id":
        if field.parent and field.parent.lower() not in GENERIC_PARENTS:
            return singular_phrase(field.parent)
        return tool_noun(source_tool)
    return entity_of_param(field.name)


def param_entity(param: str, param_schema: dict[str, Any], tool: str) -> str | None:
    """The entity an id parameter points at: `calendar_id` -> calendar, a bare `id` -> the noun of its own tool
    (`get_calendar(id)`), a bare noun described as an identifier (`tasklist`, "Task list identifier") -> itself."""
    ent = entity_of_param(param)
    if ent:
        return ent
    low = snake(param)
    if low in ("id", "ids"):
        return tool_noun(tool)
    if is_id_like(param, param_schema):
        return singular_phrase(low)
    return None


def types_compatible(out_type: str | None, in_schema: dict[str, Any]) -> bool:
    in_type = main_type(in_schema)
    if out_type is None or in_type is None:
        return True
    if out_type == in_type:
        return True
    return out_type == "integer" and in_type == "number"


def type_score(out_type: str | None, in_schema: dict[str, Any]) -> float:
    """1.0 same type, 0.95 integer into number, 0.9 untyped side, 0.0 incompatible."""
    in_type = main_type(in_schema)
    if out_type is None or in_type is None:
        return 0.9
    if out_type == in_type:
        return 1.0
    return 0.95 if (out_type, in_type) == ("integer", "number") else 0.0


def name_score(field: OutField, param: str, param_schema: dict[str, Any], source_tool: str,
               target_tool: str | None = None) -> float:
    """How well the field's name says it is the parameter (0 when it does not). A bare `id` parameter takes its
    entity from `target_tool` (its own tool), or from the source tool when no target is given (the old rule)."""
    id_param = is_id_like(param, param_schema)
    pe = param_entity(param, param_schema, target_tool or source_tool) if id_param else None
    return _name_score(field, param.lower(), id_param, pe, source_tool)


def _name_score(field: OutField, pl: str, id_param: bool, pe: str | None, source_tool: str) -> float:
    """`name_score` with the parameter's side worked out once (it is called for every field of every source)."""
    fl = field.name.lower()
    if fl == pl and fl != "id":
        if not id_param:
            return 0.7
        # `refund.booking_id` is a back-reference held by another record; `booking.id` is the booking itself
        return 1.0 if field.parent is None or _singular_phrase(field.parent) == pe else 0.85
    if id_param:
        fe = _field_entity(field.name, field.parent, source_tool)
        if pe and fe:
            if pe == fe:
                return 1.0
            if pe.split("_")[-1] == fe.split("_")[-1] or fe.endswith("_" + pe) or pe.endswith("_" + fe):
                return 0.6
        return 0.0
    if fl != "id" and _singular(fl) == _singular(pl):
        return 0.6
    return 0.0


@lru_cache(maxsize=65536)
def _singular(word: str) -> str:
    return singular(word)


@lru_cache(maxsize=65536)
def _singular_phrase(name: str) -> str:
    return singular_phrase(name)


@lru_cache(maxsize=65536)
def _field_entity(name: str, parent: str | None, source_tool: str) -> str | None:
    return field_entity(OutField(path=name, name=name, parent=parent, type=None), source_tool)


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


def names_a_tool(param_schema: dict[str, Any], tool_names: Sequence[str]) -> bool:
    return _description_names(str(param_schema.get("description", "")), tuple(tool_names))


@functools.lru_cache(maxsize=1024)
def _names_pattern(tool_names: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation for all names (longest first; backtracking keeps `any(search(name))` semantics)."""
    alternatives = "|".join(re.escape(n) for n in sorted(tool_names, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])")


@functools.lru_cache(maxsize=65536)
def _description_names(description: str, tool_names: tuple[str, ...]) -> bool:
    """Cached: the graph asks it for every (source, target, parameter) triple, with few distinct answers."""
    return bool(tool_names and description) and _names_pattern(tool_names).search(description) is not None


def best_field(source: ToolInfo, fields: list[OutField], target: ToolInfo, param: str, ps: dict[str, Any],
               tool_names: Sequence[str], cross: bool = False,
               min_score: float = MIN_SCORE) -> tuple[OutField, float] | None:
    """The field of `source` that best feeds `param` of `target`, with its lexical score; None below `min_score`.

    `tool_names` are the consumer's server's tools (a description naming another of them lowers a name-only link);
    `cross` applies the cross-server admission rule (module docstring) and ignores described sources.
    """
    named = names_a_tool(ps, tool_names)
    factor = UNNAMED_SOURCE if named and not names_a_tool(ps, (source.name,)) else 1.0
    if not cross:
        described = described_field(ps, source, fields)
        if described is not None and types_compatible(described.type, ps):
            return described, DESCRIBED
    id_param = is_id_like(param, ps)
    pe = param_entity(param, ps, target.name) if id_param else None
    pl = param.lower()
    best: tuple[OutField, float] | None = None
    for f in fields:
        base = _name_score(f, pl, id_param, pe, source.name)
        if base <= 0 or not types_compatible(f.type, ps):
            continue
        if cross and not cross_allowed(f, param, ps, source.name, target.name, base):
            continue
        score = round((base - path_penalty(f.path) + description_score(f, ps, source)) * factor, 4)
        if score < min_score:
            continue
        if best is None or score > best[1]:
            best = (f, score)
    return best


SHARED_VALUES = frozenset({"email", "email_address", "phone", "phone_number", "url", "website"})
SHARED_FORMATS = frozenset({"email", "idn-email", "uri", "url"})


def cross_allowed(field: OutField, param: str, ps: dict[str, Any], source_tool: str, target_tool: str,
                  base: float) -> bool:
    """May a field of another server feed this parameter? Only exact entities and shared values (module docstring)."""
    if is_id_like(param, ps):
        pe = param_entity(param, ps, target_tool)
        return base >= 1.0 and pe is not None and field_entity(field, source_tool) == pe
    if field.name.lower() != param.lower() or "[]" in field.path:
        return False  # one element of a list (an event's attendees) is too weak a reason to link two servers
    return snake(param) in SHARED_VALUES or str(ps.get("format", "")).lower() in SHARED_FORMATS


def links(source: ToolInfo, target: ToolInfo, tool_names: list[str] | None = None) -> list[Link]:
    """Best field of `source` for each input parameter of `target` it can feed, best first."""
    found: list[Link] = []
    fields = output_fields(source.output_schema)
    for param, raw in properties(target.input_schema).items():
        if param.lower() in NEVER_LINKED:
            continue
        ps = resolve(raw, target.input_schema)
        best = best_field(source, fields, target, param, ps, tool_names or [])
        if best:
            found.append(Link(field=best[0].path, param=param, score=best[1]))
    return sorted(found, key=lambda lk: (-lk.score, lk.param))


def build_graph(tools: list[ToolInfo]) -> nx.DiGraph:
    """Nodes carry the ToolInfo (`tool`); edges carry the best link (`field`, `param`, `score`) and all `links`."""
    g: nx.DiGraph[str] = nx.DiGraph()
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
