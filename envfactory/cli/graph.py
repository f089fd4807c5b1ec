"""`envfactory graph`: the tool graph of MCP servers (default: the registry catalog) as JSON, PNG and HTML.

The command function is registered by the `envfactory` app; like every verb, it prints an expected failure as one
`error: ...` line on stderr and exits 1 (envfactory/cli/errors.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import networkx as nx
import typer
from rich.console import Console
from rich.table import Table

from common.embeddings import EmbeddingClient, EmbeddingSettings
from common.llm import LLMClient, LLMError, LLMSettings
from envfactory.cli.errors import fail, one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from synthesizer.discovery.sources import connect_all, farm_token, resolve_sources, sources_from_farm
from synthesizer.graph.build import build_tool_graph
from synthesizer.graph.stats import GraphStats, graph_stats
from synthesizer.graph.store import save_graph
from synthesizer.graph.view import render_html, render_png

FILES = ("graph.json", "graph.png", "graph.html")


async def graph_from_sources(mcp_config: Path | None, urls: list[str], farm: str | None, token: str | None,
                             embeddings: bool, review: bool, seed: int) -> nx.DiGraph:
    """Discover the servers like `synthesize` does, then build the union graph (refined when asked)."""
    # settings first: a misconfigured endpoint fails before any server is started
    embedder = EmbeddingClient(EmbeddingSettings.from_env()) if embeddings else None
    reviewer = LLMClient(LLMSettings.from_env(seed=seed)) if review else None
    farm_sources = await sources_from_farm(farm, farm_token(token)) if farm else None
    sources = resolve_sources(mcp_config, urls, farm_sources)
    async with connect_all(sources, fast=False) as servers:
        tools = {s.name: list(s.info.tools) for s in servers}
    try:
        return await build_tool_graph(tools, embedder=embedder, reviewer=reviewer)
    finally:
        if embedder is not None:
            await embedder.aclose()
        if reviewer is not None:
            await reviewer.aclose()


def write_outputs(g: nx.DiGraph, out: Path, seed: int) -> list[Path]:
    """graph.json, graph.png and graph.html in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    return [save_graph(g, out / FILES[0]), render_png(g, out / FILES[1], seed), render_html(g, out / FILES[2], seed)]


def stats_table(stats: GraphStats) -> Table:
    table = Table(title="tool graph")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    rows = [
        ("servers", stats.servers),
        ("tools", stats.tools),
        ("parameters", stats.params),
        ("  statable", stats.statable_params),
        ("  from a tool", stats.tool_sourced_params),
        ("  from a tool, required", stats.required_tool_sourced_params),
        ("feeds edges", stats.feeds_edges),
        ("  across servers", stats.cross_server_edges),
        ("  into list/object members", stats.nested_feeds),
        ("tool-to-tool links", stats.tool_links),
        ("reachable tools", f"{stats.reachable}/{stats.tools}"),
        ("tools with no incoming link", len(stats.no_incoming)),
        ("tools with no outgoing link", len(stats.no_outgoing)),
        ("components", stats.components),
        ("mean edge score", f"{stats.mean_score:.3f}"),
    ]
    if stats.embedding_admitted:
        rows.append(("admitted by embeddings", stats.embedding_admitted))
    if stats.reviewed_edges:
        rows.append(("confirmed by review", stats.reviewed_edges))
    for name, value in rows:
        table.add_row(name, str(value))
    return table


@one_line_errors
def graph(
    out: Annotated[Path, typer.Option("--out", help="directory for graph.json, graph.png, graph.html")
                   ] = Path("runs/graph"),
    mcp_config: Annotated[Path | None, typer.Option("--mcp-config", help="mcp.json with the servers to use")] = None,
    url: Annotated[list[str] | None, typer.Option("--url", help="streamable HTTP MCP URL (repeatable)")] = None,
    farm: Annotated[str | None, typer.Option("--farm", help="env farm base URL (every env it serves)")] = None,
    farm_token: Annotated[str | None, typer.Option("--farm-token", help="bearer token for --farm "
                                                   "(default: $ENVFACTORY_TOKEN)")] = None,
    embeddings: Annotated[bool, typer.Option("--embeddings", help="also score edges by embeddings "
                                             "(ENVFACTORY_EMBED_* settings)")] = False,
    review: Annotated[bool, typer.Option("--review", help="have the model (ENVFACTORY_LLM_* settings) confirm "
                                         "candidate edges")] = False,
    seed: Annotated[int, typer.Option("--seed", help="layout seed (and the reviewing model's seed)")] = 0,
    registry: RegistryOption = None,
) -> None:
    """Build the tool graph of MCP servers (default: the registry catalog); write it as JSON, PNG and HTML."""
    try:
        with workspace(registry):
            g = asyncio.run(graph_from_sources(mcp_config, list(url or []), farm, farm_token, embeddings, review,
                                               seed))
    except LLMError as exc:
        fail(f"edge review: {exc}")
    paths = write_outputs(g, out, seed)
    console = Console()
    stats = graph_stats(g)
    console.print(stats_table(stats))
    if stats.unreachable:
        shown = ", ".join(stats.unreachable[:8]) + (" ..." if len(stats.unreachable) > 8 else "")
        console.print(f"[yellow]warning:[/] {len(stats.unreachable)} tools can never be planned: {shown}",
                      highlight=False)
    review_doc = g.graph.get("review")
    if review_doc:
        console.print(f"review: {review_doc['kept']} kept, {review_doc['dropped']} dropped, "
                      f"{review_doc['ignored_batches']} unusable replies", highlight=False)
    for path in paths:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
