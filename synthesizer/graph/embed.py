"""Embedding scores on a union graph's feeds edges (optional): what lexical scoring cannot see in names.

Every feeds edge gets `embed_weight * cosine(parameter text, field text)` as its `embedding` part. An edge lexical
scoring missed is admitted (same server, tool-sourced parameters only) when the cosine reaches `embed_admit`, with
`embed_admit_weight * cosine` as its only part (`lexical` 0.0); embeddings never admit a cross-server edge.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from common.embeddings import Embedder
from common.naming import snake
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError
from synthesizer.graph.links import NEVER_LINKED, OutField, output_fields, type_score
from synthesizer.graph.union import GraphOptions, edge_score, feeds_edges, tool_nodes
from synthesizer.plan.schema import properties, resolve


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
        d["score"] = edge_score(d["components"])
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
            g.add_edge(q, pid, kind="feeds", field=best[1].path, score=edge_score(components), components=components)
            admitted += 1
    g.graph["embedding"]["admitted"] = admitted
    return admitted
