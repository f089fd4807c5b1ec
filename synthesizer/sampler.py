"""Seeded sampling of tool chains (2-4 tools) along the tool graph."""

from __future__ import annotations

import random

import networkx as nx
from pydantic import BaseModel

from synthesizer.discovery import ToolInfo
from synthesizer.graph import STRONG
from synthesizer.schema import is_id_like, properties, required, resolve

MIN_LEN, MAX_LEN = 2, 4
WRITE_WEIGHT = 3.0


class ChainEdge(BaseModel):
    src: int
    dst: int
    field: str
    param: str


class Chain(BaseModel):
    nodes: list[str]
    edges: list[ChainEdge]

    def topology(self) -> dict:
        return {"kind": "chain", "nodes": list(self.nodes),
                "edges": [[e.src, e.dst, e.field, e.param] for e in self.edges]}

    def feeds(self, step: int) -> list[ChainEdge]:
        return [e for e in self.edges if e.dst == step]


def tool_of(graph: nx.DiGraph, name: str) -> ToolInfo:
    return graph.nodes[name]["tool"]


def id_params(tool: ToolInfo, only_required: bool) -> list[str]:
    props = properties(tool.input_schema)
    names = required(tool.input_schema) if only_required else list(props)
    return [p for p in names if is_id_like(p, resolve(props[p], tool.input_schema))]


def start_tools(graph: nx.DiGraph) -> list[str]:
    """Tools whose required parameters can all be filled without ids from other tools (list/search/create)."""
    return sorted(n for n in graph.nodes if not id_params(tool_of(graph, n), only_required=True))


def _best_feed(graph: nx.DiGraph, chain: list[str], target: str, param: str) -> ChainEdge | None:
    best: tuple[float, int, ChainEdge] | None = None
    for i, src in enumerate(chain):
        if not graph.has_edge(src, target):
            continue
        for lk in graph.edges[src, target]["links"]:
            if lk["param"] == param:
                key = (lk["score"], i)
                if best is None or key > best[:2]:
                    best = (lk["score"], i, ChainEdge(src=i, dst=len(chain), field=lk["field"], param=param))
    return best[2] if best else None


def next_options(graph: nx.DiGraph, chain: list[str]) -> list[tuple[str, list[ChainEdge]]]:
    """Tools that can follow `chain`: every required id-like parameter fed by an earlier output (at least one feed)."""
    options: list[tuple[str, list[ChainEdge]]] = []
    for name in sorted(graph.nodes):
        if name in chain:
            continue
        tool = tool_of(graph, name)
        feeds: list[ChainEdge] = []
        ok = True
        for p in id_params(tool, only_required=True):
            edge = _best_feed(graph, chain, name, p)
            if edge is None:
                ok = False
                break
            feeds.append(edge)
        if not ok:
            continue
        for p in required(tool.input_schema):  # values the description says come from an earlier output
            if p not in {e.param for e in feeds}:
                edge = _best_feed(graph, chain, name, p)
                if edge is not None and _link_score(graph, chain, name, edge) >= STRONG:
                    feeds.append(edge)
        if not feeds:
            optional = [e for p in id_params(tool, only_required=False) if (e := _best_feed(graph, chain, name, p))]
            if not optional:
                continue
            feeds.append(optional[0])
        options.append((name, feeds))
    return options


def _link_score(graph: nx.DiGraph, chain: list[str], target: str, edge: ChainEdge) -> float:
    links = graph.edges[chain[edge.src], target]["links"]
    return max((lk["score"] for lk in links if lk["param"] == edge.param and lk["field"] == edge.field), default=0.0)


def _weight(graph: nx.DiGraph, name: str) -> float:
    return WRITE_WEIGHT if tool_of(graph, name).is_write else 1.0


def sample_chain_once(graph: nx.DiGraph, rng: random.Random) -> Chain | None:
    starts = start_tools(graph)
    if not starts:
        return None
    length = rng.randint(MIN_LEN, MAX_LEN)
    nodes = [rng.choice(starts)]
    edges: list[ChainEdge] = []
    while len(nodes) < length:
        options = next_options(graph, nodes)
        if not options:
            break
        name, feeds = rng.choices(options, weights=[_weight(graph, n) for n, _ in options])[0]
        nodes.append(name)
        edges += feeds
    return Chain(nodes=nodes, edges=edges) if len(nodes) >= MIN_LEN else None


def sample_chain(graph: nx.DiGraph, rng: random.Random, tries: int = 24) -> Chain | None:
    """A valid chain, preferring one with at least one write tool; None when the graph has no chain at all."""
    fallback: Chain | None = None
    for _ in range(tries):
        chain = sample_chain_once(graph, rng)
        if chain is None:
            continue
        if any(tool_of(graph, n).is_write for n in chain.nodes):
            return chain
        fallback = fallback or chain
    return fallback


def validate_chain(graph: nx.DiGraph, chain: Chain) -> list[str]:
    """Problems with a chain (empty when valid): used by tests and as a guard before execution."""
    problems: list[str] = []
    if not MIN_LEN <= len(chain.nodes) <= MAX_LEN:
        problems.append(f"length {len(chain.nodes)}")
    if chain.nodes and chain.nodes[0] not in start_tools(graph):
        problems.append(f"{chain.nodes[0]} is not a start tool")
    for j, name in enumerate(chain.nodes[1:], start=1):
        fed = {e.param for e in chain.feeds(j)}
        if not fed:
            problems.append(f"step {j} ({name}) is not reached by an edge")
        for p in id_params(tool_of(graph, name), only_required=True):
            if p not in fed:
                problems.append(f"step {j} ({name}): {p} is not fed")
        for e in chain.feeds(j):
            if not (0 <= e.src < j and graph.has_edge(chain.nodes[e.src], name)):
                problems.append(f"step {j}: bad edge from {e.src}")
    return problems
