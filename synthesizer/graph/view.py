"""Pictures of a tool graph: a PNG (matplotlib) and one self-contained interactive HTML file.

Both draw the tool-to-tool projection (`tool_links(g, nested=True)`) of a union graph, or a tool graph as given
(`build_graph`). Layouts are seeded, so the same graph and seed give the same picture. The HTML file embeds its
data, script and style: it opens offline, from a file or an artifact store, and loads nothing from the network.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import networkx as nx

from synthesizer.data.records import split_qualified
from synthesizer.graph.links import GraphStats, graph_stats, tool_links
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
    und = nx.Graph()
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


def render_html(g: nx.DiGraph, path: Path | str, seed: int = 0, title: str = "envfactory tool graph") -> Path:
    """One self-contained HTML file: hover for descriptions and links, click a tool to highlight its neighbours,
    tick servers on and off."""
    payload = json.dumps(view_data(g, seed), ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    page = HTML.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
  body { font: 13px system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
  header { padding: 8px 14px; border-bottom: 1px solid #ddd; background: #fff; }
  header h1 { font-size: 15px; margin: 0 0 4px 0; }
  #servers label { margin-right: 14px; cursor: pointer; white-space: nowrap; }
  #servers .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin: 0 4px; }
  #stats { color: #555; margin-top: 4px; }
  svg { width: 100%; height: calc(100vh - 90px); display: block; background: #fff; }
  .edge { stroke: #666; stroke-opacity: 0.45; fill: none; }
  .edge.cross { stroke-dasharray: 5 3; }
  .node circle { stroke: #333; stroke-width: 1; cursor: pointer; }
  .node.readonly circle { stroke-dasharray: 2 2; }
  .node text { font-size: 10px; pointer-events: none; fill: #222; }
  .dim { opacity: 0.12; }
  .hl.edge { stroke: #d62728; stroke-opacity: 0.9; }
  .hidden { display: none; }
  #tip { position: fixed; max-width: 420px; background: #fffff0; border: 1px solid #bbb; padding: 6px 8px;
         font-size: 12px; pointer-events: none; display: none; box-shadow: 0 2px 6px rgba(0,0,0,.15); }
  #tip .muted { color: #666; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <div id="servers"></div>
  <div id="stats"></div>
</header>
<svg id="graph" viewBox="0 0 1000 640">
  <defs>
    <marker id="arrow" viewBox="0 0 10 10" refX="19" refY="5" markerWidth="6" markerHeight="6" orient="auto">
      <path d="M0,0 L10,5 L0,10 z" fill="#666"></path>
    </marker>
  </defs>
  <g id="edges"></g>
  <g id="nodes"></g>
</svg>
<div id="tip"></div>
<script type="application/json" id="graph-data">__DATA__</script>
<script>
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("graph-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("graph");
  var tip = document.getElementById("tip");
  var color = {};
  DATA.servers.forEach(function (s) { color[s.name] = s.color; });
  var hiddenServers = {};
  var selected = null;
  var byId = {};
  DATA.nodes.forEach(function (n) { byId[n.id] = n; n.px = 40 + n.x * 920; n.py = 30 + n.y * 580; });

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function el(name, attrs) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function showTip(evt, htmlText) {
    tip.innerHTML = htmlText;
    tip.style.display = "block";
    tip.style.left = Math.min(evt.clientX + 14, window.innerWidth - 440) + "px";
    tip.style.top = (evt.clientY + 14) + "px";
  }
  function hideTip() { tip.style.display = "none"; }

  var edgeEls = [];
  DATA.edges.forEach(function (e) {
    var a = byId[e.source], b = byId[e.target];
    var mx = (a.px + b.px) / 2 + (b.py - a.py) * 0.08, my = (a.py + b.py) / 2 - (b.px - a.px) * 0.08;
    var path = el("path", {"d": "M" + a.px + "," + a.py + " Q" + mx + "," + my + " " + b.px + "," + b.py,
                           "class": "edge" + (e.cross ? " cross" : ""), "marker-end": "url(#arrow)",
                           "stroke-width": (0.5 + 2 * Math.min(e.score, 1.5) / 1.5).toFixed(2)});
    path.addEventListener("mousemove", function (evt) {
      var rows = e.links.map(function (l) {
        return esc(l.field) + " &rarr; " + esc(l.param) + (l.into ? " (" + esc(l.into) + ")" : "") +
               " <span class='muted'>" + Number(l.score).toFixed(2) + "</span>";
      });
      showTip(evt, "<b>" + esc(a.name) + "</b> &rarr; <b>" + esc(b.name) + "</b>" +
              (e.cross ? " <span class='muted'>(across servers)</span>" : "") + "<br>" + rows.join("<br>"));
    });
    path.addEventListener("mouseleave", hideTip);
    document.getElementById("edges").appendChild(path);
    edgeEls.push({data: e, el: path});
  });

  var nodeEls = [];
  DATA.nodes.forEach(function (n) {
    var g = el("g", {"class": "node" + (n.read_only ? " readonly" : ""),
                     "transform": "translate(" + n.px + "," + n.py + ")"});
    g.appendChild(el("circle", {"r": 8, "fill": color[n.server] || "#999"}));
    var label = el("text", {"x": 10, "y": 4});
    label.textContent = n.name;
    g.appendChild(label);
    g.addEventListener("mousemove", function (evt) {
      var params = n.params.map(function (p) {
        return esc(p.name) + (p.required ? "*" : "") + " <span class='muted'>" +
               (p.statable ? "stated" : "from a tool") + ": " + esc(p.reason) + "</span>";
      });
      showTip(evt, "<b>" + esc(n.name) + "</b> <span class='muted'>" + esc(n.server) +
              (n.read_only ? ", read-only" : "") + "</span><br>" + esc(n.description) +
              (params.length ? "<br><br>" + params.join("<br>") : ""));
    });
    g.addEventListener("mouseleave", hideTip);
    g.addEventListener("click", function (evt) {
      evt.stopPropagation();
      selected = (selected === n.id) ? null : n.id;
      refresh();
    });
    document.getElementById("nodes").appendChild(g);
    nodeEls.push({data: n, el: g});
  });
  svg.addEventListener("click", function () { selected = null; refresh(); });

  function refresh() {
    var near = {};
    if (selected) {
      near[selected] = true;
      DATA.edges.forEach(function (e) {
        if (e.source === selected) { near[e.target] = true; }
        if (e.target === selected) { near[e.source] = true; }
      });
    }
    nodeEls.forEach(function (x) {
      x.el.classList.toggle("hidden", !!hiddenServers[x.data.server]);
      x.el.classList.toggle("dim", !!selected && !near[x.data.id]);
    });
    edgeEls.forEach(function (x) {
      var a = byId[x.data.source], b = byId[x.data.target];
      var touches = selected && (x.data.source === selected || x.data.target === selected);
      x.el.classList.toggle("hidden", !!(hiddenServers[a.server] || hiddenServers[b.server]));
      x.el.classList.toggle("dim", !!selected && !touches);
      x.el.classList.toggle("hl", !!touches);
    });
  }

  var box = document.getElementById("servers");
  DATA.servers.forEach(function (s) {
    var label = document.createElement("label");
    var input = document.createElement("input");
    input.type = "checkbox";
    input.checked = true;
    input.addEventListener("change", function () { hiddenServers[s.name] = !input.checked; refresh(); });
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    label.appendChild(input);
    label.appendChild(swatch);
    label.appendChild(document.createTextNode(s.name));
    box.appendChild(label);
  });
  var st = DATA.stats;
  document.getElementById("stats").textContent = st ?
    (st.tools + " tools, " + st.params + " parameters (" + st.tool_sourced_params + " from tools), " +
     st.feeds_edges + " feeds (" + st.cross_server_edges + " across servers), " + st.reachable + "/" + st.tools +
     " tools reachable. Hover for details, click a tool to highlight its neighbours.") :
    (DATA.nodes.length + " tools, " + DATA.edges.length + " links.");
  refresh();
})();
</script>
</body>
</html>
"""
