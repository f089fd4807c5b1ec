"""Whether a union graph is usable for sampling: sizes, statable and tool-sourced parameters, edges, which tools
can ever be planned (`reachable_tools`) and connectivity (`graph_stats`)."""

from __future__ import annotations

import networkx as nx
from pydantic import BaseModel

from synthesizer.graph.union import feeds_edges, params_of, tool_links, tool_nodes


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
