"""Plan shapes, the coverage schedule and the deterministic checks of user messages (no server needed)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from synthesizer.discovery.tools import ToolInfo
from synthesizer.graph.build import build_tool_graph
from synthesizer.graph.union import param_statable, tool_links
from synthesizer.plan.grounding import nest
from synthesizer.plan.schedule import Schedule
from synthesizer.plan.topology import Sampler, Skeleton, ToolCatalog, classify
from synthesizer.query.refine import check_draft, mentioned

ROOT = Path(__file__).resolve().parents[3]
SHAPES = ("single", "chain", "fan_out", "fan_in", "dag")


def catalog_tools(name: str) -> list[ToolInfo]:
    spec = json.loads((ROOT / "environments" / name / "env.json").read_text())
    return [ToolInfo(name=t["name"], description=t.get("description", ""), input_schema=t["input_schema"],
                     output_schema=t.get("output_schema"),
                     read_only=bool(t.get("annotations", {}).get("readOnlyHint"))) for t in spec["tools"]]


@pytest.fixture(scope="module")
def catalog() -> ToolCatalog:
    per = {n: catalog_tools(n) for n in ("calendar", "shop", "travel")}
    g = asyncio.run(build_tool_graph(per))
    return ToolCatalog(tool_links(g, nested=True), lambda q, p: param_statable(g, q, p))


@pytest.mark.parametrize(("edges", "n", "kind"), [
    ([], 1, "single"),
    ([(0, 1, "a", "x"), (1, 2, "b", "y")], 3, "chain"),
    ([(0, 1, "a", "x"), (0, 2, "a", "x")], 3, "fan_out"),
    ([], 2, "fan_out"),  # independent calls
    ([(0, 2, "a", "x"), (1, 2, "b", "y")], 3, "fan_in"),
    ([(0, 2, "a", "x"), (1, 2, "b", "y"), (2, 3, "c", "z")], 4, "dag"),
    ([(0, 1, "a", "x"), (0, 2, "a", "x"), (1, 3, "b", "y"), (2, 3, "c", "z")], 4, "dag"),
])
def test_classify(edges: list, n: int, kind: str) -> None:
    sk = Skeleton(nodes=[f"s__t{i}" for i in range(n)], edges=edges)
    assert classify(sk) == kind


def test_levels_group_independent_calls() -> None:
    sk = Skeleton(nodes=["s__a", "s__b", "s__c", "s__d"], edges=[(0, 1, "f", "p"), (0, 2, "f", "p"),
                                                                 (1, 3, "f", "p"), (2, 3, "g", "q")])
    assert sk.levels() == [[0], [1, 2], [3]] and sk.depth() == 3


def test_every_shape_is_sampled_with_its_invariants(catalog: ToolCatalog) -> None:
    sampler = Sampler(catalog, max_servers=3, max_depth=4)
    seen: set[str] = set()
    for anchor in sorted(catalog.reachable):
        for kind in SHAPES:
            sk = sampler.sample(random.Random(f"{anchor}:{kind}"), kind, anchor)
            if sk is None:
                continue
            seen.add(kind)
            assert classify(sk) == kind and anchor in sk.nodes and sk.depth() <= 4
            assert len({catalog.server[q] for q in sk.nodes}) <= 3
            for j, q in enumerate(sk.nodes):  # every id a tool needs comes from an earlier call
                fed = {p for s, d, _, p in sk.edges if d == j}
                assert set(catalog.needs[q]) <= fed, (sk, q)
                assert all(s < j for s, d, _, _ in sk.edges if d == j)
            assert sampler.sample(random.Random(f"{anchor}:{kind}"), kind, anchor) == sk  # seeded
    assert seen == set(SHAPES)


def test_schedule_is_deterministic_and_spreads_anchors(catalog: ToolCatalog) -> None:
    a, b = Schedule(catalog, 5), Schedule(catalog, 5)
    items = [a.item(i) for i in range(3 * len(catalog.reachable))]
    assert items == [b.item(i) for i in range(len(items))]
    uses = {q: sum(1 for it in items if it.anchor == q) for q in catalog.reachable}
    assert min(uses.values()) >= 1 and max(uses.values()) <= 6  # under-used tools come first
    assert {it.kind for it in items} == {"normal", "distractors", "irrelevance", "missing_info"}
    assert {it.mode for it in items} == {"single_turn", "multi_turn", "clarification"}
    assert all(it.topology in a.feasible[it.anchor] for it in items)
    other = Schedule(catalog, 6)
    assert [other.item(i) for i in range(10)] != items[:10]


def test_value_mentions() -> None:
    assert mentioned("2026-03-04T10:00:00Z", "on March 4, 2026 at 10:00 UTC please")
    assert mentioned("Team Sync", "book the team sync") and not mentioned("Team Sync", "book it")
    assert mentioned(3, "for 3 people") and not mentioned(3, "for 13 people")
    assert mentioned(["a@x.io", "b@x.io"], "invite a@x.io and b@x.io") and not mentioned(["a@x.io"], "invite")


def test_check_draft_names_each_problem() -> None:
    tools = ["shop__get_order", "shop__cancel_order"]
    problems = check_draft("First call get_order, then cancel_order for ord_0001. Next, finally, done.", tools,
                           None, [], {})
    assert any("get_order" in p for p in problems) and any("cancel_order" in p for p in problems)
    assert any("step-by-step" in p for p in problems)
    assert check_draft("Please cancel my last order, the one with the blue kettle.", tools, None, [], {}) == []
    assert check_draft("   ", tools, None, [], {}) == ["the message is empty"]


def test_a_list_parameter_fed_member_wise_is_reachable_and_built(catalog: ToolCatalog) -> None:
    """`request_refund(order_id, items=[{product_id, quantity}])`: the product id comes from the order's items."""
    assert "shop__request_refund" in catalog.reachable and "items" in catalog.needs["shop__request_refund"]
    members = {v for (_, dst, param, _), v in catalog.into.items()
               if dst == "shop__request_refund" and param == "items"}
    assert members == {"[].product_id"}
    tool = catalog.tools["shop__request_refund"]
    built = nest({"order_id": "ord_1", "items": "prod_9"}, {"order_id": None, "items": "[].product_id"}, tool,
                 random.Random(0))
    assert built["order_id"] == "ord_1" and len(built["items"]) == 1 and built["items"][0]["product_id"] == "prod_9"
    assert isinstance(built["items"][0]["quantity"], int)  # the other required member is generated
