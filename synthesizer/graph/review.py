"""Model review of a union graph's candidate feeds edges (optional): a model confirms or rejects each link.

Confirmed edges get `components["review"] = 1.0` and a `review_reason` (the score is unchanged); rejected edges are
removed. A batch whose reply is unusable is skipped and counted, its edges stay unreviewed.
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx
from pydantic import BaseModel, Field

from common.llm import ChatModel, LLMInfraError, LLMReplyError
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError
from synthesizer.graph.union import feeds_edges
from synthesizer.plan.schema import properties, resolve

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
