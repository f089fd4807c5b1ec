"""`build_tool_graph`: the union graph of several servers' tools (`synthesizer.graph.union`), refined by embedding
scores (`synthesizer.graph.embed`) and a model review (`synthesizer.graph.review`) when given."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from common.embeddings import Embedder
from common.llm import ChatModel
from synthesizer.discovery.tools import ToolInfo
from synthesizer.graph.embed import add_embeddings
from synthesizer.graph.review import review_edges
from synthesizer.graph.union import GraphOptions, union_graph


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
