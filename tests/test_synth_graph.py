"""Synthesizer units: tool graph edges, seeded chain sampling, argument filling and query writing (no network)."""

from __future__ import annotations

import asyncio
import random
import re
from types import SimpleNamespace
from typing import Any

import pytest

from synthesizer.discovery import ConnectedServer, ServerInfo, ServerSource, ToolInfo, name_from_url
from synthesizer.graph import build_graph, output_fields, tool_noun
from synthesizer.query import check_query, write_query
from synthesizer.rollout import CallFailed, execute
from synthesizer.sampler import sample_chain, start_tools, validate_chain
from synthesizer.schema import is_id_like
from synthesizer.values import fill_arguments

S = {"type": "string"}


def obj(props: dict[str, Any], req: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": req or [], "additionalProperties": False}


CAL = obj({"id": S, "name": S})
EVENT = obj({"id": S, "calendar_id": S, "title": S, "start": {"type": "string", "format": "date-time"}})
TOOLS = [
    ToolInfo(name="list_calendars", description="List the user's calendars.", read_only=True,
             input_schema=obj({"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}),
             output_schema=obj({"calendars": {"type": "array", "items": CAL}, "next_cursor": S})),
    ToolInfo(name="create_event", description="Create an event in a calendar.",
             input_schema=obj({
                 "calendar_id": {"type": "string", "description": "Id of the calendar, as returned by list_calendars"},
                 "title": {"type": "string", "minLength": 1, "examples": ["Standup"]},
                 "start": {"type": "string", "format": "date-time"},
                 "end": {"type": "string", "format": "date-time"},
                 "notes": {"type": "string"},
             }, ["calendar_id", "title", "start", "end"]),
             output_schema=obj({"event": EVENT})),
    ToolInfo(name="get_event", description="Read one event.", read_only=True,
             input_schema=obj({"event_id": {"type": "string", "description": "Id of the event"}}, ["event_id"]),
             output_schema=obj({"event": EVENT})),
    ToolInfo(name="cancel_event", description="Cancel an event.", destructive=True,
             input_schema=obj({"event_id": S, "reason": S}, ["event_id"]),
             output_schema=obj({"event": EVENT, "cancelled": {"type": "boolean"}})),
    ToolInfo(name="search_products", description="Search the shop catalog.", read_only=True,
             input_schema=obj({"query": {"type": "string", "examples": ["headphones"]}}, ["query"]),
             output_schema=obj({"products": {"type": "array", "items": obj({"sku": S, "product_id": S,
                                                                                "title": S})}})),
    ToolInfo(name="place_order", description="Order a product.",
             input_schema=obj({"product_id": S, "quantity": {"type": "integer", "minimum": 1, "maximum": 5}},
                              ["product_id", "quantity"]),
             output_schema=obj({"order_id": S, "total_cents": {"type": "integer"}})),
    ToolInfo(name="get_order", description="Read an order.", read_only=True,
             input_schema=obj({"order_id": S}, ["order_id"]),
             output_schema=obj({"order": obj({"id": S, "status": S, "quantity": {"type": "integer"}})})),
]
NAMES = [t.name for t in TOOLS]


@pytest.fixture(scope="module")
def graph():
    return build_graph(TOOLS)


def test_output_fields_walk_nested_objects_and_arrays() -> None:
    paths = {f.path: f.parent for f in output_fields(TOOLS[0].output_schema)}
    assert paths == {"calendars[].id": "calendars", "calendars[].name": "calendars", "next_cursor": None}
    assert {f.path for f in output_fields(TOOLS[1].output_schema)} >= {"event.id", "event.calendar_id"}
    assert tool_noun("list_calendars") == "calendar" and tool_noun("get_note") == "note"


def test_edges_by_name_type_and_plural(graph) -> None:
    e = graph.edges["list_calendars", "create_event"]
    assert (e["field"], e["param"]) == ("calendars[].id", "calendar_id") and e["score"] >= 0.5
    assert graph.edges["create_event", "get_event"]["field"] == "event.id"
    assert graph.edges["create_event", "cancel_event"]["param"] == "event_id"
    assert graph.edges["place_order", "get_order"]["field"] == "order_id"
    assert graph.edges["search_products", "place_order"]["field"] == "products[].product_id"
    assert not graph.has_edge("list_calendars", "get_event")  # a calendar id never feeds an event id
    assert not graph.has_edge("list_calendars", "get_order")
    assert not any(a == b for a, b in graph.edges)
    # a nested list field loses to a direct one; naming the source tool in the description raises the score
    assert graph.edges["create_event", "get_event"]["score"] > graph.edges["list_calendars", "create_event"]["score"]
    plain = [t.model_copy(deep=True) for t in TOOLS[:2]]
    plain[1].input_schema["properties"]["calendar_id"]["description"] = "Id of the calendar"
    assert build_graph(plain).edges["list_calendars", "create_event"]["score"] < \
        graph.edges["list_calendars", "create_event"]["score"]


def test_described_links_follow_the_description() -> None:
    """`from list_airports (airports[].code)` links a non-id parameter; `x from tool` names a field too."""
    airports = ToolInfo(name="list_airports", read_only=True, input_schema=obj({}),
                        output_schema=obj({"airports": {"type": "array", "items": obj({"code": S, "name": S})}}))
    code = {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["LHR", "JFK"],
            "description": "IATA code, from list_airports (airports[].code)."}
    search = ToolInfo(name="search_flights", read_only=True, input_schema=obj({"origin": code, "destination": code},
                                                                              ["origin", "destination"]),
                      output_schema=obj({"flights": {"type": "array", "items": obj({"id": S, "fare_cents":
                                                                                     {"type": "integer"}})}}))
    amount = {"type": "integer", "description": "Must equal fare_cents from search_flights."}
    pay = ToolInfo(name="pay_flight", input_schema=obj({"flight_id": S, "amount_cents": amount},
                                                       ["flight_id", "amount_cents"]),
                   output_schema=obj({"ok": {"type": "boolean"}}))
    g = build_graph([airports, search, pay])
    assert g.edges["list_airports", "search_flights"]["field"] == "airports[].code"
    links = {lk["param"]: lk["field"] for lk in g.edges["search_flights", "pay_flight"]["links"]}
    assert links == {"flight_id": "flights[].id", "amount_cents": "flights[].fare_cents"}
    assert "search_flights" in start_tools(g)  # origin is fillable from its examples
    seen = set()
    for i in range(40):
        chain = sample_chain(g, random.Random(i))
        assert validate_chain(g, chain) == []
        if chain.nodes[:2] == ["list_airports", "search_flights"]:
            assert {e.param for e in chain.feeds(1)} == {"origin", "destination"}
            seen.add("airports")
        if "pay_flight" in chain.nodes:
            j = chain.nodes.index("pay_flight")
            assert {e.param for e in chain.feeds(j)} == {"flight_id", "amount_cents"}
            seen.add("pay")
    assert seen == {"airports", "pay"}


def test_id_like_and_start_tools(graph) -> None:
    assert is_id_like("calendar_id") and is_id_like("eventIds") and not is_id_like("title")
    assert is_id_like("sku", {"description": "Product code, as returned by search_products"})
    assert set(start_tools(graph)) == {"list_calendars", "search_products"}


def test_sampler_chains_are_valid_and_seed_reproducible(graph) -> None:
    chains = []
    for i in range(60):
        chain = sample_chain(graph, random.Random(f"t:{i}"))
        assert chain is not None
        assert validate_chain(graph, chain) == [], chain
        topo = chain.topology()
        assert topo["kind"] == "chain" and 2 <= len(topo["nodes"]) <= 4
        for src, dst, field, param in topo["edges"]:
            assert src < dst and isinstance(field, str) and isinstance(param, str)
        again = sample_chain(graph, random.Random(f"t:{i}"))
        assert again == chain
        chains.append(chain)
    with_write = sum(any(not next(t for t in TOOLS if t.name == n).read_only for n in c.nodes) for c in chains)
    assert with_write >= 55  # writes are preferred
    assert len({tuple(c.nodes) for c in chains}) > 3


def test_fill_arguments_respects_schema() -> None:
    schema = TOOLS[1].input_schema
    for i in range(30):
        args = fill_arguments(schema, {"calendar_id": "cal_1"}, random.Random(i))
        assert args["calendar_id"] == "cal_1" and args["title"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", args["start"])
        assert args["end"] > args["start"]
        q = fill_arguments(TOOLS[5].input_schema, {"product_id": "p"}, random.Random(i))["quantity"]
        assert 1 <= q <= 5
    assert fill_arguments(TOOLS[0].input_schema, {}, random.Random(1)).keys() <= {"limit"}


class FakeClient:
    """Answers every call with values generated from the output schema; ids are minted per field."""

    def __init__(self, tools: list[ToolInfo], fail: set[str] | None = None):
        self.tools = {t.name: t for t in tools}
        self.fail = fail or set()
        self.n = 0

    def _value(self, key: str, schema: dict[str, Any]) -> Any:
        t = schema.get("type")
        if t == "object":
            return {k: self._value(k, v) for k, v in schema.get("properties", {}).items()}
        if t == "array":
            return [self._value(key, schema["items"]) for _ in range(3)]
        if t == "integer":
            return 2
        if t == "boolean":
            return True
        self.n += 1
        if is_id_like(key) or key == "sku":
            return f"{key}_{self.n:04d}"
        return f"Sample {key} {self.n}"

    async def call_tool(self, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None) -> Any:
        if name in self.fail:
            return SimpleNamespace(is_error=True, content=[SimpleNamespace(type="text", text="nope")],
                                   structured_content=None, meta={})
        out = self._value("", self.tools[name].output_schema)
        return SimpleNamespace(is_error=False, content=[SimpleNamespace(type="text", text=str(out))],
                               structured_content=out, meta={"envfactory/state_hash": "h"})


def fake_server(fail: set[str] | None = None) -> ConnectedServer:
    info = ServerInfo(name="fake", transport="http", server_name="fake", version="1", tools=TOOLS)
    return ConnectedServer(ServerSource(name="fake", transport="http", url="http://x/mcp"), FakeClient(TOOLS, fail),
                           info)


def test_rollout_and_query_never_name_tools_or_ids(graph) -> None:
    server = fake_server()
    tools = {t.name: t for t in TOOLS}
    for i in range(80):
        rng = random.Random(f"q:{i}")
        chain = sample_chain(graph, rng)
        ex = asyncio.run(execute(server, graph, chain, rng, f"ep{i}", None))
        assert [s.tool for s in ex.steps] == chain.nodes
        for j, feeds in enumerate(ex.feeds):
            for f in feeds:
                assert ex.steps[j].arguments[f.param] == f.value
        parts = write_query("fake", ex, tools, rng)
        low = parts.query.lower()
        assert not any(name in low for name in NAMES), parts.query
        assert not re.search(r"_\d{4}", parts.query), parts.query  # no minted ids
        assert "_id" not in low and parts.intent.count(". ") >= len(chain.nodes) - 1
        for name in chain.nodes:
            assert name in parts.intent
        again = write_query("fake", ex, tools, random.Random(f"q:{i}"))
        assert isinstance(again.query, str)


def test_query_refers_to_records_by_name(graph) -> None:
    server = fake_server()
    tools = {t.name: t for t in TOOLS}
    seen = False
    for i in range(40):
        rng = random.Random(f"n:{i}")
        chain = sample_chain(graph, rng)
        if chain.nodes[:2] != ["list_calendars", "create_event"]:
            continue
        ex = asyncio.run(execute(server, graph, chain, rng, "e", None))
        name = ex.feeds[1][0].record["name"]
        assert f'"{name}"' in write_query("fake", ex, tools, rng).query
        seen = True
    assert seen


def test_check_query_rejects_tool_names_and_ids() -> None:
    with pytest.raises(ValueError):
        check_query("please run get_event now", NAMES, set())
    with pytest.raises(ValueError):
        check_query("open event evt_0003", NAMES, {"evt_0003"})
    check_query("open the event called Standup", NAMES, {"evt_0003"})


def test_failed_call_raises_call_failed(graph) -> None:
    server = fake_server(fail={"create_event", "place_order"})
    rng = random.Random(0)
    chain = sample_chain(graph, rng)
    with pytest.raises(CallFailed):
        asyncio.run(execute(server, graph, chain, rng, "e", None))


def test_name_from_url() -> None:
    assert name_from_url("http://127.0.0.1:8000/envs/shop/mcp") == "shop"
    assert name_from_url("http://127.0.0.1:8123/mcp") == "127.0.0.1_8123"
    assert name_from_url("https://example.com/travel/mcp") == "travel"
