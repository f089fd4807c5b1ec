"""A tool graph as JSON (`graph.json`): networkx node_link_data with every ToolInfo dumped, never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from common.files import write_json_atomic
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError


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
    assert isinstance(g, nx.DiGraph)  # directed=True, multigraph=False
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
