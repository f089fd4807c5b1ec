"""The union tool graph over several servers, from names, types and descriptions only (no network).

A node per tool (`<server>__<tool>`) and per parameter (`<server>__<tool>:<param>`); "input" edges tool -> own
parameter, and "feeds" edges producer tool -> consumer parameter with a score and its parts (`components`).
`tool_links(g)` projects it back to the tool-to-tool shape of `build_graph` that the samplers use. Every parameter
node carries a `statable` label (`schema.statable`): could a user say the value in words, or must an earlier call
produce it.

An edge's score is `type * (lexical + embedding)` (`edge_score`): type and lexical as in `synthesizer.graph.links`
(which also holds the stricter rule for edges across servers), the optional embedding part from
`synthesizer.graph.embed`. The optional model review (`synthesizer.graph.review`) marks an edge it confirmed with
`review` = 1.0 (the score is unchanged) and removes rejected ones; `synthesizer.graph.build` composes the three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from synthesizer.data.records import qualified
from synthesizer.discovery.tools import ToolInfo
from synthesizer.graph.links import MIN_SCORE, NEVER_LINKED, OutField, best_field, output_fields, type_score
from synthesizer.plan.schema import main_type, properties, required, resolve, statable

FORMAT = "envfactory.toolgraph/1"


class GraphOptions(BaseModel):
    """Knobs of the union graph; the defaults are what `envfactory graph` uses."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(MIN_SCORE, ge=0, description="Lexical score a candidate edge needs.")
    cross_server: bool = Field(True, description="Link tools of different servers (stricter rule, see graph.links).")
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


def edge_score(components: dict[str, float]) -> float:
    return round(components.get("type", 1.0) * (components.get("lexical", 0.0) + components.get("embedding", 0.0)), 4)


def union_graph(servers: Mapping[str, list[ToolInfo]], options: GraphOptions | None = None) -> nx.DiGraph:
    """The union graph from names, types and descriptions only (no network): see the module docstring."""
    opts = options or GraphOptions()
    g: nx.DiGraph[str] = nx.DiGraph(format=FORMAT, servers=sorted(servers), options=opts.model_dump(), embedding=None,
                                    review=None)
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
                g.add_edge(qa, param_id(qb, param), kind="feeds", field=c.field.path, score=edge_score(components),
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
    p: nx.DiGraph[str] = nx.DiGraph()
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
