"""Tool graphs: which output field of one tool can feed which input parameter of another.

`build_graph(tools)` is the single-server graph (nodes are tools, an edge A->B carries the links from A's outputs to
B's inputs). `build_tool_graph(servers)` is the union graph over several servers, with a node per tool
(`<server>__<tool>`) and per parameter (`<server>__<tool>:<param>`), "input" edges tool -> own parameter and "feeds"
edges producer tool -> consumer parameter with a score and its parts (`components`). `tool_links(g)` projects it back
to the tool-to-tool shape the samplers use. Every parameter node carries a `statable` label (`schema.statable`):
could a user say the value in words, or must an earlier call produce it.

Scoring (`components`; `score = type * (lexical + embedding)`):
* type: 1.0 same JSON type, 0.95 integer into number, 0.9 when a side is untyped (incompatible types never link);
* lexical: names, entities and descriptions (`links`): 1.5 when the parameter's description names the source tool
  and field, about 1.0 for an id of the same entity, 0.6-0.7 for a same-named plain field, minus a penalty for
  nested or list fields; candidates under `MIN_SCORE` are dropped;
* embedding (optional): `embed_weight * cosine(parameter text, field text)`; an edge lexical scoring missed is
  admitted (same server, tool-sourced parameters only) when the cosine reaches `embed_admit`, with
  `embed_admit_weight * cosine` as its only part;
* review (optional): 1.0 on an edge a model confirmed (`review_edges`); rejected edges are removed.

Cross-server edges use the same scoring but a stricter admission rule, so unrelated servers do not get linked by
coincidental names: an id parameter only from the record of exactly its entity (`customer_id` <- `customer.id` or a
top-level `customer_id`, never a back-reference such as `order.customer_id`, never a partial entity match), and a
plain parameter only from a field of exactly its name, outside any list, that carries a value shared across systems
(`email`, `phone`, `url`, or a parameter with format email/uri). Descriptions naming a source tool only count within
a server, and embeddings never admit a cross-server edge.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from common.embeddings import Embedder
from common.files import write_json_atomic
from common.llm import ChatModel, LLMInfraError, LLMReplyError
from common.naming import snake
from synthesizer.data.records import qualified
from synthesizer.discovery.sources import ToolInfo
from synthesizer.errors import SynthError
from synthesizer.plan.schema import (
    entity_of_param,
    is_id_like,
    main_type,
    properties,
    required,
    resolve,
    singular,
    singular_phrase,
    statable,
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


# --- the union graph over several servers ----------------------------------------------------------------------------

FORMAT = "envfactory.toolgraph/1"


class GraphOptions(BaseModel):
    """Knobs of the union graph; the defaults are what `envfactory graph` uses."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(MIN_SCORE, ge=0, description="Lexical score a candidate edge needs.")
    cross_server: bool = Field(True, description="Link tools of different servers (stricter rule, see module doc).")
    embed_weight: float = Field(0.3, ge=0, description="Weight of the cosine added to a lexical edge's score.")
    embed_admit: float = Field(0.8, ge=0, le=1, description="Cosine an embedding-only edge needs.")
    embed_admit_weight: float = Field(0.7, ge=0, description="Weight of the cosine that is an admitted edge's score.")
    review_batch: int = Field(20, ge=1, description="Candidate edges per review request.")


@dataclass(frozen=True)
class _Candidate:
    field: OutField
    lexical: float
    type: float
    into: str | None = None  # "[].product_id": the field feeds this member of a list/object parameter


def type_score(out_type: str | None, in_schema: dict[str, Any]) -> float:
    """1.0 same type, 0.95 integer into number, 0.9 untyped side, 0.0 incompatible."""
    in_type = main_type(in_schema)
    if out_type is None or in_type is None:
        return 0.9
    if out_type == in_type:
        return 1.0
    return 0.95 if (out_type, in_type) == ("integer", "number") else 0.0


def param_id(tool_id: str, param: str) -> str:
    return f"{tool_id}:{param}"


def _members(ps: dict[str, Any], root: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]], list[str]]:
    """The members of a list-of-objects (`[].`) or object (`.`) parameter: prefix, properties, required names."""
    s = ps
    prefix = "."
    if main_type(ps) == "array":
        s = resolve(ps.get("items", {}), root)
        prefix = "[]."
    if main_type(s) != "object":
        return prefix, {}, []
    props = properties(s)
    return prefix, props, required(s) or list(props)


def _candidate(source: ToolInfo, fields: list[OutField], target: ToolInfo, param: str, ps: dict[str, Any],
               tool_names: Sequence[str], cross: bool, min_score: float) -> _Candidate | None:
    """The best feed of one parameter from one source: direct for a scalar; for a list of scalars one element
    (`into="[]"`); for a list of objects or an object its best tool-sourced member (`into="[].product_id"`)."""
    root = target.input_schema
    typ = main_type(ps)
    if typ not in ("array", "object"):
        best = best_field(source, fields, target, param, ps, tool_names, cross, min_score)
        return _Candidate(best[0], best[1], type_score(best[0].type, ps)) if best else None
    item = resolve(ps.get("items", {}), root) if typ == "array" else {}
    if typ == "array" and main_type(item) != "object":
        item = {**item, "description": item.get("description") or ps.get("description", "")}
        best = best_field(source, fields, target, param, item, tool_names, cross, min_score)
        return _Candidate(best[0], best[1], type_score(best[0].type, item), into="[]") if best else None
    prefix, props, need = _members(ps, root)
    found: _Candidate | None = None
    for member in need:
        ms = resolve(props[member], root)
        if statable(member, ms, root)[0]:
            continue
        best = best_field(source, fields, target, member, ms, tool_names, cross, min_score)
        if best is not None and (found is None or best[1] > found.lexical):
            found = _Candidate(best[0], best[1], type_score(best[0].type, ms), into=prefix + member)
    return found


def _score(components: dict[str, float]) -> float:
    return round(components.get("type", 1.0) * (components.get("lexical", 0.0) + components.get("embedding", 0.0)), 4)


def union_graph(servers: Mapping[str, list[ToolInfo]], options: GraphOptions | None = None) -> nx.DiGraph:
    """The union graph from names, types and descriptions only (no network): see the module docstring."""
    opts = options or GraphOptions()
    g = nx.DiGraph(format=FORMAT, servers=sorted(servers), options=opts.model_dump(), embedding=None, review=None)
    tools = [(s, t) for s in sorted(servers) for t in sorted(servers[s], key=lambda t: t.name)]
    for server, tool in tools:
        _add_tool(g, server, tool)
    names = {s: tuple(sorted(t.name for t in servers[s])) for s in servers}
    fields = {qualified(s, t.name): output_fields(t.output_schema) for s, t in tools}
    inputs = {qualified(s, t.name): [(param, resolve(raw, t.input_schema))
                                     for param, raw in properties(t.input_schema).items()
                                     if param.lower() not in NEVER_LINKED] for s, t in tools}
    for sa, a in tools:
        qa = qualified(sa, a.name)
        for sb, b in tools:
            qb = qualified(sb, b.name)
            cross = sa != sb
            if qa == qb or (cross and not opts.cross_server):
                continue
            for param, ps in inputs[qb]:
                c = _candidate(a, fields[qa], b, param, ps, names[sb], cross, opts.min_score)
                if c is None or c.type <= 0:
                    continue
                components = {"type": c.type, "lexical": c.lexical}
                extra = {"into": c.into} if c.into else {}
                g.add_edge(qa, param_id(qb, param), kind="feeds", field=c.field.path, score=_score(components),
                           components=components, **extra)
    return g


def _add_tool(g: nx.DiGraph, server: str, tool: ToolInfo) -> None:
    q = qualified(server, tool.name)
    g.add_node(q, kind="tool", server=server, name=tool.name, tool=tool, read_only=tool.read_only)
    schema = tool.input_schema
    req = set(required(schema))
    for param, raw in properties(schema).items():
        ps = resolve(raw, schema)
        ok, why = statable(param, ps, schema)
        pid = param_id(q, param)
        g.add_node(pid, kind="param", server=server, tool=q, param=param, type=main_type(ps) or "any",
                   required=param in req, statable=ok, statable_reason=why)
        g.add_edge(q, pid, kind="input")


async def build_tool_graph(servers: Mapping[str, list[ToolInfo]], options: GraphOptions | None = None, *,
                           embedder: Embedder | None = None, reviewer: ChatModel | None = None) -> nx.DiGraph:
    """The union graph of several servers' tools; embeddings and a model review refine it when given."""
    opts = options or GraphOptions()
    g = union_graph(servers, opts)
    if embedder is not None:
        await add_embeddings(g, embedder, opts)
    if reviewer is not None:
        summary = await review_edges(g, reviewer, opts.review_batch)
        g.graph["review"] = summary.model_dump()
    return g


def feeds_edges(g: nx.DiGraph) -> list[tuple[str, str, dict[str, Any]]]:
    """Every producer -> parameter edge, sorted."""
    return sorted(((u, v, d) for u, v, d in g.edges(data=True) if d.get("kind") == "feeds"), key=lambda e: e[:2])


def tool_nodes(g: nx.DiGraph) -> list[str]:
    return sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "tool")


def params_of(g: nx.DiGraph, q: str) -> list[str]:
    """The parameter nodes of tool `q`, in schema order."""
    return [v for v in g.successors(q) if g.edges[q, v].get("kind") == "input"]


def tool_links(g: nx.DiGraph, *, nested: bool = False) -> nx.DiGraph:
    """Tool-to-tool projection (the shape of `build_graph`, with qualified names): nodes carry `tool` and `server`,
    an edge A->B carries `links` ({field, param, score}, best first) and the best one's `field`, `param`, `score`.

    Feeds into a member of a composite parameter (`into`, e.g. `[].product_id` of `items`) are left out unless
    `nested`, because a sampler that passes the field value as the whole parameter would send a string for a list;
    with `nested` their links carry `into`.
    """
    p = nx.DiGraph()
    for q in tool_nodes(g):
        p.add_node(q, tool=g.nodes[q]["tool"], server=g.nodes[q]["server"])
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for u, v, d in feeds_edges(g):
        if d.get("into") and not nested:
            continue
        target = g.nodes[v]
        link: dict[str, Any] = {"field": d["field"], "param": target["param"], "score": d["score"]}
        if d.get("into"):
            link["into"] = d["into"]
        grouped.setdefault((u, target["tool"]), []).append(link)
    for (u, t), found in sorted(grouped.items()):
        found.sort(key=lambda lk: (-lk["score"], lk["param"], lk["field"]))
        best = found[0]
        p.add_edge(u, t, field=best["field"], param=best["param"], score=best["score"], links=found)
    return p


def param_statable(g: nx.DiGraph, qualified_tool: str, param: str) -> bool:
    """The parameter's statable label: from its node in a union graph, else computed from the tool's schema."""
    pid = param_id(qualified_tool, param)
    if g.has_node(pid) and g.nodes[pid].get("kind") == "param":
        return bool(g.nodes[pid]["statable"])
    tool: ToolInfo = g.nodes[qualified_tool]["tool"]
    props = properties(tool.input_schema)
    if param not in props:
        raise KeyError(f"{qualified_tool} has no parameter {param!r}")
    return statable(param, resolve(props[param], tool.input_schema), tool.input_schema)[0]


# --- embeddings ------------------------------------------------------------------------------------------------------


def _words(text: str) -> str:
    return " ".join(snake(text.replace("[]", " ").replace(".", " ")).split("_"))


def param_text(g: nx.DiGraph, pid: str) -> str:
    """What a parameter means, for embedding: its words, its tool's and its description."""
    node = g.nodes[pid]
    tool: ToolInfo = g.nodes[node["tool"]]["tool"]
    ps = resolve(properties(tool.input_schema).get(node["param"], {}), tool.input_schema)
    return f"{_words(node['param'])} ({_words(tool.name)}): {ps.get('description', '')}".strip()


def field_text(tool: ToolInfo, f: OutField) -> str:
    return f"{_words(f.path)} ({_words(tool.name)}): {f.description}".strip()


def _unit_rows(vectors: list[list[float]]) -> Any:
    import numpy as np

    m = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


async def add_embeddings(g: nx.DiGraph, embedder: Embedder, options: GraphOptions | None = None) -> int:
    """Add `embed_weight * cosine` to every feeds edge and admit embedding-only edges; the number admitted.

    Admission is limited to tool-sourced parameters of the same server (a statable parameter needs no feeder, and
    across servers only the strict lexical rule links), to type-compatible fields, and to scalar parameters.
    """
    opts = options or GraphOptions()
    tools = tool_nodes(g)
    fields = {q: output_fields(g.nodes[q]["tool"].output_schema) for q in tools}
    pids = sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "param")
    ftexts = sorted({field_text(g.nodes[q]["tool"], f) for q in tools for f in fields[q]})
    ptexts = [param_text(g, pid) for pid in pids]
    g.graph["embedding"] = {"model": str(getattr(embedder, "model", "") or type(embedder).__name__),
                            "texts": len(ptexts) + len(ftexts), "admitted": 0}
    if not ptexts or not ftexts:
        return 0
    vectors = await embedder.embed(ptexts + ftexts)
    if len(vectors) != len(ptexts) + len(ftexts):
        raise SynthError(f"the embedder returned {len(vectors)} vectors for {len(ptexts) + len(ftexts)} texts")
    unit = _unit_rows(vectors)
    prow = {pid: unit[i] for i, pid in enumerate(pids)}
    frow = {t: unit[len(ptexts) + i] for i, t in enumerate(ftexts)}

    def cos(q: str, f: OutField, pid: str) -> float:
        return max(0.0, float(prow[pid] @ frow[field_text(g.nodes[q]["tool"], f)]))

    for u, v, d in feeds_edges(g):
        f = next(x for x in fields[u] if x.path == d["field"])
        d["components"]["embedding"] = round(opts.embed_weight * cos(u, f, v), 4)
        d["score"] = _score(d["components"])
    admitted = 0
    for pid in pids:
        node = g.nodes[pid]
        if node["statable"] or node["param"].lower() in NEVER_LINKED or node["type"] in ("array", "object"):
            continue
        target: ToolInfo = g.nodes[node["tool"]]["tool"]
        ps = resolve(properties(target.input_schema)[node["param"]], target.input_schema)
        for q in tools:
            if q == node["tool"] or g.nodes[q]["server"] != node["server"] or g.has_edge(q, pid):
                continue
            scored = [(cos(q, f, pid), f) for f in fields[q] if type_score(f.type, ps) > 0]
            best = max(scored, key=lambda x: (x[0], x[1].path), default=None)
            if best is None or best[0] < opts.embed_admit:
                continue
            components = {"type": type_score(best[1].type, ps), "lexical": 0.0,
                          "embedding": round(opts.embed_admit_weight * best[0], 4)}
            g.add_edge(q, pid, kind="feeds", field=best[1].path, score=_score(components), components=components)
            admitted += 1
    g.graph["embedding"]["admitted"] = admitted
    return admitted


# --- model review ----------------------------------------------------------------------------------------------------

REVIEW_SYSTEM = (
    "You check candidate links of a tool graph. A link says: the value of output field FIELD of tool PRODUCER can be "
    "passed as parameter PARAM of tool CONSUMER. Keep a link only when that value really is what the parameter "
    "expects (the same kind of record, the same identifier space, the same unit); reject coincidences of naming. "
    'Answer with JSON only: {"edges": [{"id": <int>, "keep": true|false, "reason": "<short reason>"}]}, one entry '
    "per link you were given.")


class ReviewSummary(BaseModel):
    """What a review did; batches whose reply was unusable are skipped (their edges stay, unreviewed)."""

    model: str = ""
    batches: int = 0
    ignored_batches: int = 0
    reviewed: int = 0
    kept: int = 0
    dropped: int = 0
    unreviewed: int = 0
    dropped_edges: list[str] = Field(default_factory=list)  # "producer -> parameter: reason"
    problems: list[str] = Field(default_factory=list)  # one line per ignored batch


def _review_item(g: nx.DiGraph, i: int, u: str, v: str, d: dict[str, Any]) -> dict[str, Any]:
    prod: ToolInfo = g.nodes[u]["tool"]
    node = g.nodes[v]
    cons: ToolInfo = g.nodes[node["tool"]]["tool"]
    ps = resolve(properties(cons.input_schema).get(node["param"], {}), cons.input_schema)
    item = {"id": i, "producer": u, "producer_description": prod.description[:300], "field": d["field"],
            "consumer": node["tool"], "consumer_description": cons.description[:300], "param": node["param"],
            "param_type": node["type"], "param_description": str(ps.get("description", ""))[:300]}
    if d.get("into"):
        item["into_member"] = d["into"]
    return item


def _verdicts(data: Any, ids: set[int]) -> dict[int, tuple[bool, str]] | str:
    """The reply's verdicts by id, or a one-line problem when the reply is not the expected shape."""
    if not isinstance(data, dict) or not isinstance(data.get("edges"), list):
        return "the reply has no 'edges' list"
    out: dict[int, tuple[bool, str]] = {}
    for item in data["edges"]:
        if not isinstance(item, dict):
            return "an entry of 'edges' is not an object"
        i, keep = item.get("id"), item.get("keep")
        if isinstance(i, bool) or not isinstance(i, int) or i not in ids:
            return f"unknown edge id {i!r}"
        if not isinstance(keep, bool):
            return f"edge {i}: 'keep' is not true or false"
        if i in out:
            return f"edge {i} answered twice"
        out[i] = (keep, " ".join(str(item.get("reason", "")).split())[:200])
    return out


async def review_edges(g: nx.DiGraph, model: ChatModel, batch: int = 20) -> ReviewSummary:
    """Ask `model` to confirm candidate feeds edges, `batch` at a time; remove rejected ones (in place).

    Kept edges get `components["review"] = 1.0` and a `review_reason`; the score is unchanged. A reply that is not
    JSON, not the expected shape or names an unknown id is ignored for its batch (counted). An endpoint that cannot
    be used at all raises SynthError.
    """
    edges = feeds_edges(g)
    summary = ReviewSummary(model=model.model)
    for start in range(0, len(edges), max(1, batch)):
        chunk = {start + k: e for k, e in enumerate(edges[start:start + batch])}
        items = [_review_item(g, i, u, v, d) for i, (u, v, d) in chunk.items()]
        messages = [{"role": "system", "content": REVIEW_SYSTEM},
                    {"role": "user", "content": "Links to check:\n" + json.dumps(items, indent=1)}]
        summary.batches += 1
        try:
            reply = await model.chat(messages, json_mode=True)
        except LLMReplyError as exc:
            verdicts: dict[int, tuple[bool, str]] | str = str(exc)
        except LLMInfraError as exc:
            raise SynthError(f"edge review: {exc}") from None
        else:
            verdicts = _verdicts(reply.data, set(chunk))
        if isinstance(verdicts, str):
            summary.ignored_batches += 1
            summary.unreviewed += len(chunk)
            summary.problems.append(f"batch {summary.batches}: {verdicts}")
            continue
        summary.unreviewed += len(chunk) - len(verdicts)
        for i, (keep, reason) in sorted(verdicts.items()):
            u, v, d = chunk[i]
            summary.reviewed += 1
            if keep:
                summary.kept += 1
                d["components"]["review"] = 1.0
                d["review_reason"] = reason
            else:
                summary.dropped += 1
                summary.dropped_edges.append(f"{u} -> {v}: {reason}".rstrip(": "))
                g.remove_edge(u, v)
    return summary


# --- JSON save/load --------------------------------------------------------------------------------------------------


def graph_to_json(g: nx.DiGraph) -> dict[str, Any]:
    """node_link_data with every ToolInfo dumped (JSON only, never pickle)."""
    data = nx.node_link_data(g, edges="edges")
    for node in data["nodes"]:
        if isinstance(node.get("tool"), ToolInfo):
            node["tool"] = node["tool"].model_dump(mode="json")
    return data


def graph_from_json(data: dict[str, Any]) -> nx.DiGraph:
    """The inverse of `graph_to_json`: a node's `tool` object becomes a ToolInfo again."""
    for node in data.get("nodes", []):
        if isinstance(node.get("tool"), dict):
            node["tool"] = ToolInfo.model_validate(node["tool"])
    g = nx.node_link_graph(data, directed=True, multigraph=False, edges="edges")
    return g


def save_graph(g: nx.DiGraph, path: Path | str) -> Path:
    """Write the graph as JSON (atomically: a reader never sees half a file)."""
    return write_json_atomic(Path(path), graph_to_json(g), indent=1)


def load_graph(path: Path | str) -> nx.DiGraph:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SynthError(f"{p}: file not found") from None
    except json.JSONDecodeError as exc:
        raise SynthError(f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise SynthError(f"{p}: not a saved tool graph (no 'nodes' list)")
    return graph_from_json(data)


# --- statistics ------------------------------------------------------------------------------------------------------


class GraphStats(BaseModel):
    """Counts that say whether a graph is usable for sampling (see `graph_stats`)."""

    servers: int
    tools: int
    params: int
    statable_params: int
    tool_sourced_params: int
    required_tool_sourced_params: int
    feeds_edges: int
    nested_feeds: int
    cross_server_edges: int
    tool_links: int
    no_incoming: list[str]
    no_outgoing: list[str]
    reachable: int
    unreachable: list[str]
    components: int
    mean_score: float
    embedding_admitted: int = 0
    reviewed_edges: int = 0


def reachable_tools(g: nx.DiGraph) -> list[str]:
    """Tools that can appear in a plan: every required tool-sourced parameter has a feeder that can itself appear
    (a fixed point from the tools that need no feeder). Nested feeds (`into`) count."""
    needs = {q: [v for v in params_of(g, q) if g.nodes[v]["required"] and not g.nodes[v]["statable"]]
             for q in tool_nodes(g)}
    ok: set[str] = set()
    changed = True
    while changed:
        changed = False
        for q in sorted(needs):
            if q in ok:
                continue
            if all(any(u in ok and u != q and g.edges[u, pid].get("kind") == "feeds" for u in g.predecessors(pid))
                   for pid in needs[q]):
                ok.add(q)
                changed = True
    return sorted(ok)


def graph_stats(g: nx.DiGraph) -> GraphStats:
    """Sizes, statable/tool-sourced parameters, edges, reachability and connectivity of a union graph.

    Incoming/outgoing and components are measured on `tool_links(g, nested=True)`.
    """
    tools = tool_nodes(g)
    params = [d for _, d in sorted(g.nodes(data=True)) if d.get("kind") == "param"]
    feeds = feeds_edges(g)
    proj = tool_links(g, nested=True)
    reach = set(reachable_tools(g))
    scores = [d["score"] for _, _, d in feeds]
    return GraphStats(
        servers=len({g.nodes[q]["server"] for q in tools}),
        tools=len(tools),
        params=len(params),
        statable_params=sum(1 for p in params if p["statable"]),
        tool_sourced_params=sum(1 for p in params if not p["statable"]),
        required_tool_sourced_params=sum(1 for p in params if not p["statable"] and p["required"]),
        feeds_edges=len(feeds),
        nested_feeds=sum(1 for _, _, d in feeds if d.get("into")),
        cross_server_edges=sum(1 for u, v, _ in feeds if g.nodes[u]["server"] != g.nodes[v]["server"]),
        tool_links=proj.number_of_edges(),
        no_incoming=[q for q in tools if proj.in_degree(q) == 0],
        no_outgoing=[q for q in tools if proj.out_degree(q) == 0],
        reachable=len(reach),
        unreachable=[q for q in tools if q not in reach],
        components=nx.number_weakly_connected_components(proj) if tools else 0,
        mean_score=round(sum(scores) / len(scores), 4) if scores else 0.0,
        embedding_admitted=sum(1 for _, _, d in feeds if d["components"].get("lexical") == 0.0),
        reviewed_edges=sum(1 for _, _, d in feeds if "review" in d["components"]),
    )
