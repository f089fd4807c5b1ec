"""Pictures of a tool graph: a PNG (matplotlib) and one self-contained interactive HTML file.

Both draw the tool-to-tool projection (`tool_links(g, nested=True)`) of a union graph, or a tool graph as given
(`build_graph`). Layouts are seeded, so the same graph and seed give the same picture. The HTML file embeds its
data, script and style: it opens offline, from a file or an artifact store, and loads nothing from the network.
Its page is the template `templates/graph.html` (package data), with `__TITLE__` and `__DATA__` filled in.
"""

from __future__ import annotations

import html
import json
import math
from importlib.resources import files
from pathlib import Path
from typing import Any

import networkx as nx

from synthesizer.data.records import split_qualified
from synthesizer.graph.stats import GraphStats, graph_stats
from synthesizer.graph.union import tool_links
from synthesizer.plan.schema import properties, required, resolve, statable

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def is_union(g: nx.DiGraph) -> bool:
    return any(d.get("kind") == "tool" for _, d in g.nodes(data=True))


def projection(g: nx.DiGraph) -> nx.DiGraph:
    """Tools and tool-to-tool links: the projection of a union graph, or the graph itself."""
    return tool_links(g, nested=True) if is_union(g) else g


def server_of(p: nx.DiGraph, node: str) -> str:
    return str(p.nodes[node].get("server") or split_qualified(node)[0] or "server")


def tool_name(p: nx.DiGraph, node: str) -> str:
    tool = p.nodes[node].get("tool")
    return str(tool.name) if tool is not None else split_qualified(node)[1]


def server_colors(p: nx.DiGraph) -> dict[str, str]:
    servers = sorted({server_of(p, n) for n in p.nodes})
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(servers)}


def layout(p: nx.DiGraph, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Seeded spring layout scaled into [0, 1] x [0, 1] (y grows downwards, as on screen)."""
    if p.number_of_nodes() == 0:
        return {}
    und: nx.Graph[str] = nx.Graph()
    und.add_nodes_from(sorted(p.nodes))
    for u, v, d in sorted(p.edges(data=True), key=lambda e: e[:2]):
        w = float(d.get("score", 1.0))
        if und.has_edge(u, v):
            w = max(w, und.edges[u, v]["weight"])
        und.add_edge(u, v, weight=w)
    k = 2.0 / math.sqrt(max(1, und.number_of_nodes()))
    raw = nx.spring_layout(und, seed=seed, k=k, iterations=200, weight="weight")
    xs = [float(x) for x, _ in raw.values()]
    ys = [float(y) for _, y in raw.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    return {n: (round((float(x) - min(xs)) / span_x, 4), round(1 - (float(y) - min(ys)) / span_y, 4))
            for n, (x, y) in raw.items()}


def _width(score: float) -> float:
    return 0.4 + 2.0 * min(max(score, 0.0), 1.5) / 1.5


def render_png(g: nx.DiGraph, path: Path | str, seed: int = 0) -> Path:
    """Tools coloured by server, edge width by score, tool names as labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg chosen here: no display, no global backend
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    p = projection(g)
    pos = {n: (x, 1 - y) for n, (x, y) in layout(p, seed).items()}
    colors = server_colors(p)
    side = max(8.0, 2.2 * math.sqrt(max(1, p.number_of_nodes())))
    fig = Figure(figsize=(side * 1.3, side), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_axis_off()
    nodes = sorted(p.nodes)
    edges = sorted(p.edges(data=True), key=lambda e: e[:2])
    if nodes:
        nx.draw_networkx_edges(p, pos, ax=ax, edgelist=[(u, v) for u, v, _ in edges], arrows=True, arrowsize=8,
                               width=[_width(float(d.get("score", 1.0))) for _, _, d in edges], alpha=0.45,
                               edge_color="#555555", connectionstyle="arc3,rad=0.08", node_size=420)
        nx.draw_networkx_nodes(p, pos, ax=ax, nodelist=nodes, node_size=420, linewidths=0.8, edgecolors="#333333",
                               node_color=[colors[server_of(p, n)] for n in nodes])
        labels = {n: tool_name(p, n) for n in nodes}
        nx.draw_networkx_labels(p, {n: (x, y - 0.035) for n, (x, y) in pos.items()}, labels=labels, ax=ax,
                                font_size=7)
    handles = [Line2D([0], [0], marker="o", linestyle="", markersize=8, markerfacecolor=c, markeredgecolor="#333333",
                      label=s) for s, c in colors.items()]
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    ax.set_title(f"tool graph: {p.number_of_nodes()} tools, {p.number_of_edges()} links", fontsize=10)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(target), format="png", bbox_inches="tight")
    return target


def _params(tool: Any) -> list[dict[str, Any]]:
    if tool is None:
        return []
    schema = tool.input_schema
    req = set(required(schema))
    out = []
    for name, raw in properties(schema).items():
        ok, why = statable(name, resolve(raw, schema), schema)
        out.append({"name": name, "required": name in req, "statable": ok, "reason": why})
    return out


def view_data(g: nx.DiGraph, seed: int = 0) -> dict[str, Any]:
    """Nodes (with positions) and edges of the picture, as plain JSON."""
    p = projection(g)
    pos = layout(p, seed)
    colors = server_colors(p)
    nodes = []
    for n in sorted(p.nodes):
        tool = p.nodes[n].get("tool")
        nodes.append({"id": n, "server": server_of(p, n), "name": tool_name(p, n),
                      "description": tool.description if tool else "", "read_only": bool(tool and tool.read_only),
                      "x": pos[n][0], "y": pos[n][1], "params": _params(tool)})
    edges = []
    for u, v, d in sorted(p.edges(data=True), key=lambda e: e[:2]):
        edges.append({"source": u, "target": v, "score": float(d.get("score", 0.0)),
                      "cross": server_of(p, u) != server_of(p, v), "links": list(d.get("links", []))})
    stats: GraphStats | None = graph_stats(g) if is_union(g) else None
    return {"servers": [{"name": s, "color": c} for s, c in colors.items()], "nodes": nodes, "edges": edges,
            "stats": stats.model_dump() if stats else None}


def page_template() -> str:
    """The HTML page with its `__TITLE__` and `__DATA__` placeholders (shipped beside this module)."""
    return (files("synthesizer.graph") / "templates" / "graph.html").read_text(encoding="utf-8")


def render_html(g: nx.DiGraph, path: Path | str, seed: int = 0, title: str = "envfactory tool graph") -> Path:
    """One self-contained HTML file: hover for descriptions and links, click a tool to highlight its neighbours,
    tick servers on and off."""
    payload = json.dumps(view_data(g, seed), ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    page = page_template().replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
