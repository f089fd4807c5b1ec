"""Synthesizer units: tool graphs (single-server and union), statable labels, embeddings and review against the
scripted endpoint, seeded chain sampling, argument filling and query writing."""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

from common.embeddings import EmbeddingClient, EmbeddingError, EmbeddingSettings
from common.llm import LLMClient, LLMSettings
from synthesizer.discovery.sources import name_from_url
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError
from synthesizer.graph.build import build_tool_graph
from synthesizer.graph.links import build_graph, output_fields, tool_noun
from synthesizer.graph.review import review_edges
from synthesizer.graph.stats import graph_stats
from synthesizer.graph.store import load_graph, save_graph
from synthesizer.graph.union import GraphOptions, feeds_edges, param_statable, tool_links, union_graph
from synthesizer.plan.schema import is_id_like, statable
from synthesizer.plan.values import fill_arguments
from synthesizer.query.refine import leaked_ids, leaked_tools
from tests.fixtures.scripted_llm import ScriptedLLMServer, embed

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


def test_id_like() -> None:
    assert is_id_like("calendar_id") and is_id_like("eventIds") and not is_id_like("title")
    assert is_id_like("sku", {"description": "Product code, as returned by search_products"})


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


def test_leak_checks_find_tool_names_and_ids() -> None:
    assert leaked_tools("please run get_event now", NAMES) == ["get_event"]
    assert leaked_tools("please run srv__get_event now", ["srv__get_event"]) == ["srv__get_event"]
    assert leaked_ids("open event evt_0003", {"evt_0003"}) == ["evt_0003"]
    assert leaked_tools("open the event called Standup", NAMES) == [] == leaked_ids("the Standup", {"evt_0003"})


def test_name_from_url() -> None:
    assert name_from_url("http://127.0.0.1:8000/envs/shop/mcp") == "shop"
    assert name_from_url("http://127.0.0.1:8123/mcp") == "127_0_0_1_8123"
    assert name_from_url("https://example.com/travel/mcp") == "travel"


# --- the union graph -------------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[3]


def catalog_tools(name: str) -> list[ToolInfo]:
    """The tools of a catalog environment as a server lists them (from its env.json)."""
    spec = json.loads((ROOT / "environments" / name / "env.json").read_text())
    return [ToolInfo(name=t["name"], description=t["description"], input_schema=t["input_schema"],
                     output_schema=t["output_schema"],
                     read_only=bool(t.get("annotations", {}).get("readOnlyHint", False)),
                     destructive=bool(t.get("annotations", {}).get("destructiveHint", True)))
            for t in spec["tools"]]


@pytest.fixture(scope="module")
def catalog() -> dict[str, list[ToolInfo]]:
    return {name: catalog_tools(name) for name in ("calendar", "shop", "travel")}


@pytest.fixture(scope="module")
def union(catalog) -> nx.DiGraph:
    return union_graph(catalog)


@pytest.mark.parametrize(("name", "schema", "expected", "reason"), [
    ("calendar_id", S, False, "named as an id"),
    ("eventIds", {"type": "array", "items": S}, False, "named as an id"),
    ("userID", S, False, "named as an id"),
    ("id", {"type": "integer"}, False, "named as an id"),
    ("page_token", S, False, "opaque token"),
    ("tasklist", {"type": "string", "description": "Task list identifier."}, False, "identifier"),
    ("sku", {"type": "string", "description": "Product code, as returned by search_products"}, False, "returned by"),
    ("ref", {"type": "string", "pattern": "^ord_[0-9]{4}$"}, False, "opaque id pattern"),
    ("digest", {"type": "string", "pattern": "^[0-9a-f]{40}$"}, False, "opaque id pattern"),
    ("key", {"type": "string", "format": "uuid"}, False, "uuid"),
    ("items", {"type": "array", "items": obj({"product_id": S, "quantity": {"type": "integer"}},
                                             ["product_id", "quantity"])}, False, "product_id"),
    ("title", S, True, "text"),
    ("email", {"type": "string", "format": "email", "description": "as returned by get_user"}, True, "email"),
    ("start", {"type": "string", "format": "date-time"}, True, "date-time"),
    ("status", {"type": "string", "enum": ["open", "closed"]}, True, "fixed set"),
    ("quantity", {"type": "integer", "minimum": 1}, True, "quantity"),
    ("amount_cents", {"type": "integer", "description": "Must equal balance_due_cents from get_booking."}, True,
     "amount"),
    ("origin", {"type": "string", "pattern": "^[A-Z]{3}$", "description": "IATA code, from list_airports."}, True,
     "short code"),
    ("card_last4", {"type": "string", "pattern": "^[0-9]{4}$"}, True, "short code"),
    ("in_stock_only", {"type": "boolean"}, True, "yes/no"),
    ("tags", {"type": "array", "items": S}, True, "list"),
    ("passengers", {"type": "array", "items": obj({"name": S, "email": {"type": "string", "format": "email"}},
                                                  ["name"])}, True, "structure"),
    ("city", {"anyOf": [S, {"type": "null"}]}, True, "text"),
])
def test_statable_labels(name: str, schema: dict[str, Any], expected: bool, reason: str) -> None:
    ok, why = statable(name, schema)
    assert ok is expected and reason in why, (name, ok, why)


TASKLIST = {"type": "string", "description": "Task list identifier."}
TASK_ITEM = obj({"id": S, "title": S, "status": S, "updated": S})
TASK_TOOLS = [
    ToolInfo(name="list_tasklists", description="Returns all the authenticated user's task lists.", read_only=True,
             input_schema=obj({"maxResults": {"type": "integer"}, "pageToken": S}),
             output_schema=obj({"items": {"type": "array", "items": obj({"id": S, "title": S, "updated": S})},
                                "nextPageToken": S})),
    ToolInfo(name="list_tasks", description="Returns all tasks in the specified task list.", read_only=True,
             input_schema=obj({"tasklist": TASKLIST, "showCompleted": {"type": "boolean"}}, ["tasklist"]),
             output_schema=obj({"items": {"type": "array", "items": TASK_ITEM}, "nextPageToken": S})),
    ToolInfo(name="get_task", description="Returns the specified task.", read_only=True,
             input_schema=obj({"tasklist": TASKLIST, "task": {"type": "string", "description": "Task identifier."}},
                              ["tasklist", "task"]),
             output_schema=TASK_ITEM),
    ToolInfo(name="insert_task", description="Creates a new task on the specified task list.",
             input_schema=obj({"tasklist": TASKLIST, "title": S, "notes": S}, ["tasklist", "title"]),
             output_schema=TASK_ITEM),
]


def test_entity_noun_param_described_as_identifier_links_to_listed_ids() -> None:
    """Google Tasks style: `tasklist` ("Task list identifier") is fed by `items[].id` of list_tasklists."""
    g = build_graph(TASK_TOOLS)
    e = g.edges["list_tasklists", "list_tasks"]
    assert (e["field"], e["param"]) == ("items[].id", "tasklist") and e["score"] >= 0.8
    assert {lk["param"]: lk["field"] for lk in g.edges["list_tasks", "get_task"]["links"]}["task"] == "items[].id"
    assert g.has_edge("list_tasklists", "insert_task")
    # a task list's id never feeds a task, a task's id never feeds a task list
    assert all(lk["param"] != "task" for lk in g.edges["list_tasklists", "get_task"]["links"])
    assert all(lk["param"] != "tasklist" for lk in g.edges["list_tasks", "get_task"]["links"])
    u = union_graph({"tasks": TASK_TOOLS})
    assert not param_statable(u, "tasks__get_task", "tasklist") and not param_statable(u, "tasks__get_task", "task")
    assert param_statable(u, "tasks__insert_task", "title")
    assert not param_statable(tool_links(u), "tasks__get_task", "tasklist")  # computed from the ToolInfo
    with pytest.raises(KeyError):
        param_statable(tool_links(u), "tasks__get_task", "nope")
    assert u.nodes["tasks__get_task:tasklist"]["statable_reason"] == "described as an identifier"
    assert u.has_edge("tasks__list_tasklists", "tasks__list_tasks:tasklist")
    assert graph_stats(u).unreachable == []


def test_union_graph_nodes_and_projection_match_the_single_server_graph() -> None:
    u = union_graph({"cal": TOOLS})
    node = u.nodes["cal__create_event"]
    assert (node["kind"], node["server"], node["name"], node["read_only"]) == ("tool", "cal", "create_event", False)
    assert node["tool"] == TOOLS[1]
    p = u.nodes["cal__create_event:calendar_id"]
    assert (p["kind"], p["tool"], p["param"], p["type"], p["required"], p["statable"]) == \
        ("param", "cal__create_event", "calendar_id", "string", True, False)
    assert u.edges["cal__create_event", "cal__create_event:calendar_id"]["kind"] == "input"
    feed = u.edges["cal__list_calendars", "cal__create_event:calendar_id"]
    assert feed["kind"] == "feeds" and feed["field"] == "calendars[].id"
    assert feed["components"] == {"type": 1.0, "lexical": feed["score"]}
    proj = tool_links(u)
    single = build_graph(TOOLS)
    assert sorted(proj.edges) == sorted((f"cal__{a}", f"cal__{b}") for a, b in single.edges)
    for a, b, d in single.edges(data=True):
        got = proj.edges[f"cal__{a}", f"cal__{b}"]
        assert {(lk["field"], lk["param"]) for lk in got["links"]} == {(lk["field"], lk["param"]) for lk in d["links"]}
        assert (got["field"], got["param"]) == (d["field"], d["param"]) and got["links"][0]["score"] == got["score"]
    assert proj.nodes["cal__get_event"]["server"] == "cal" and proj.nodes["cal__get_event"]["tool"] == TOOLS[2]
    assert list(union_graph({"cal": TOOLS}).edges(data=True)) == list(u.edges(data=True))  # deterministic


def _crm() -> list[ToolInfo]:
    contact = obj({"id": S, "name": S, "email": {"type": "string", "format": "email"}, "company": S})
    return [
        ToolInfo(name="find_contact", description="Find a CRM contact by email.", read_only=True,
                 input_schema=obj({"email": {"type": "string", "format": "email"}}, ["email"]),
                 output_schema=obj({"contact": contact})),
        ToolInfo(name="list_contacts", description="List CRM contacts.", read_only=True, input_schema=obj({}),
                 output_schema=obj({"contacts": {"type": "array", "items": contact}})),
    ]


def _billing() -> list[ToolInfo]:
    invoice = obj({"id": S, "contact_id": S, "title": S, "amount_cents": {"type": "integer"}})
    return [
        ToolInfo(name="create_invoice", description="Bill a contact.",
                 input_schema=obj({"contact_id": {"type": "string", "description": "Id of the contact to bill."},
                                   "title": S, "amount_cents": {"type": "integer"}},
                                  ["contact_id", "title", "amount_cents"]),
                 output_schema=obj({"invoice": invoice})),
        ToolInfo(name="send_receipt", description="Email a receipt.",
                 input_schema=obj({"email": {"type": "string", "format": "email"}, "invoice_id": S,
                                   "primary_contact_id": S}, ["email", "invoice_id"]),
                 output_schema=obj({"sent": {"type": "boolean"}})),
    ]


def _weather() -> list[ToolInfo]:
    return [
        ToolInfo(name="list_stations", description="Weather stations.", read_only=True, input_schema=obj({}),
                 output_schema=obj({"stations": {"type": "array", "items": obj({"id": S, "name": S, "title": S})}})),
        ToolInfo(name="get_forecast", description="Forecast for a station.", read_only=True,
                 input_schema=obj({"station_id": S, "name": S, "title": S}, ["station_id"]),
                 output_schema=obj({"forecast": obj({"id": S, "station_id": S, "summary": S, "name": S})})),
    ]


def test_cross_server_edges_only_for_matching_entities_and_shared_values() -> None:
    g = union_graph({"crm": _crm(), "billing": _billing(), "weather": _weather()})
    servers = nx.get_node_attributes(g, "server")
    cross = {(u, v, d["field"]) for u, v, d in feeds_edges(g) if servers[u] != servers[v]}
    assert ("crm__find_contact", "billing__create_invoice:contact_id", "contact.id") in cross
    assert ("crm__list_contacts", "billing__create_invoice:contact_id", "contacts[].id") in cross
    assert ("crm__find_contact", "billing__send_receipt:email", "contact.email") in cross
    # not across servers: a partial entity, a back-reference, plain names, list members, unrelated servers
    assert not any(v == "billing__send_receipt:primary_contact_id" for _, v, _ in cross)
    assert not any(u.startswith("billing__") and v == "crm__find_contact:email" for u, v, _ in cross)
    assert not any("weather" in (servers[u], servers[v]) for u, v, _ in cross)
    assert not any(v.endswith((":title", ":name")) for _, v, _ in cross)
    assert not any("[]" in f and v.endswith(":email") for _, v, f in cross)
    # within a server the same partial entity links
    same = union_graph({"billing": [*_crm(), *_billing()]})
    assert same.has_edge("billing__find_contact", "billing__send_receipt:primary_contact_id")
    assert not union_graph({"crm": _crm(), "billing": _billing()}, GraphOptions(cross_server=False)).has_edge(
        "crm__find_contact", "billing__create_invoice:contact_id")
    assert graph_stats(g).cross_server_edges == len(cross) == 3


def test_catalog_union_graph(union) -> None:
    stats = graph_stats(union)
    assert (stats.servers, stats.tools) == (3, 38)
    assert stats.reachable == stats.tools and stats.unreachable == []
    assert union.has_edge("calendar__list_calendars", "calendar__create_event:calendar_id")
    assert union.edges["calendar__list_calendars", "calendar__create_event:calendar_id"]["field"] == "calendars[].id"
    assert union.edges["shop__find_customer", "shop__get_customer:customer_id"]["score"] == 1.5
    assert union.edges["travel__list_airports", "travel__search_flights:origin"]["field"] == "airports[].code"
    refund = union.edges["shop__get_order", "shop__request_refund:items"]
    assert (refund["field"], refund["into"]) == ("order.items[].product_id", "[].product_id")
    assert not param_statable(union, "shop__request_refund", "items")
    assert param_statable(union, "travel__create_booking", "passengers")
    links = tool_links(union)
    assert links.edges["calendar__list_calendars", "calendar__create_event"]["links"][0] == \
        {"field": "calendars[].id", "param": "calendar_id", "score": 1.5}
    assert not links.has_edge("shop__get_order", "shop__request_refund") or all(
        lk["param"] != "items" for lk in links.edges["shop__get_order", "shop__request_refund"]["links"])
    assert any(lk.get("into") for lk in tool_links(union, nested=True).edges["shop__get_order",
                                                                              "shop__request_refund"]["links"])
    # across the catalog only people's email addresses link servers
    servers = nx.get_node_attributes(union, "server")
    cross = [(u, v) for u, v, _ in feeds_edges(union) if servers[u] != servers[v]]
    assert cross and all(v.endswith(":email") for _, v in cross)
    assert ("shop__find_customer", "calendar__add_attendee:email") in cross


def test_stats_are_consistent(union) -> None:
    stats = graph_stats(union)
    params = [d for _, d in union.nodes(data=True) if d["kind"] == "param"]
    feeds = feeds_edges(union)
    assert stats.params == len(params) == stats.statable_params + stats.tool_sourced_params
    assert stats.required_tool_sourced_params == sum(1 for p in params if p["required"] and not p["statable"])
    assert stats.feeds_edges == len(feeds) and stats.nested_feeds == sum(1 for *_, d in feeds if d.get("into"))
    proj = tool_links(union, nested=True)
    assert stats.tool_links == proj.number_of_edges()
    assert sum(len(d["links"]) for *_, d in proj.edges(data=True)) == stats.feeds_edges
    assert sum(len(d["links"]) for *_, d in tool_links(union).edges(data=True)) == \
        stats.feeds_edges - stats.nested_feeds
    assert stats.no_incoming == ["calendar__list_calendars", "shop__list_categories", "travel__list_airports"]
    assert stats.components == 1 and stats.no_outgoing == []
    assert stats.mean_score == round(sum(d["score"] for *_, d in feeds) / len(feeds), 4)
    # a tool whose only feeder is gone is no longer reachable
    cut = union.copy()
    for u in list(cut.predecessors("shop__get_customer:customer_id")):
        if cut.edges[u, "shop__get_customer:customer_id"]["kind"] == "feeds":
            cut.remove_edge(u, "shop__get_customer:customer_id")
    assert "shop__get_customer" in graph_stats(cut).unreachable


def test_json_round_trip(union, tmp_path: Path) -> None:
    path = save_graph(union, tmp_path / "g" / "graph.json")
    back = load_graph(path)
    assert isinstance(back, nx.DiGraph) and back.graph == union.graph
    assert dict(back.nodes(data=True)) == dict(union.nodes(data=True))
    assert sorted(back.edges(data=True)) == sorted(union.edges(data=True))
    assert isinstance(back.nodes["shop__checkout"]["tool"], ToolInfo)
    assert graph_stats(back) == graph_stats(union)
    assert b"pickle" not in path.read_bytes() and json.loads(path.read_text())["graph"]["format"]
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SynthError, match="invalid JSON"):
        load_graph(tmp_path / "bad.json")


PARCELS = [
    ToolInfo(name="list_parcels", description="Parcels on the way.", read_only=True, input_schema=obj({}),
             output_schema=obj({"parcels": {"type": "array", "items": obj({
                 "tracking_code": {"type": "string", "description": "Tracking code of the parcel."},
                 "weight_kg": {"type": "number"}})}})),
    ToolInfo(name="track_parcel", description="Where a parcel is.", read_only=True,
             input_schema=obj({"parcel": {"type": "string",
                                          "description": "Tracking code of the parcel, an identifier."}}, ["parcel"]),
             output_schema=obj({"status": S})),
]


def test_embeddings_score_edges_and_admit_missed_ones() -> None:
    options = GraphOptions(embed_admit=0.55)
    with ScriptedLLMServer([]) as server:
        async def run() -> tuple[nx.DiGraph, nx.DiGraph, EmbeddingClient]:
            client = EmbeddingClient(EmbeddingSettings(base_url=server.base_url, api_key="x", model="m",
                                                       batch_size=16))
            async with client:
                g = await build_tool_graph({"cal": TOOLS}, options, embedder=client)
                p = await build_tool_graph({"post": PARCELS}, options, embedder=client)
                sent = client.requests
                await client.embed(["calendars id (list calendars):"])  # cached: no request
                assert client.requests == sent
            return g, p, client

        g, p, client = asyncio.run(run())
    assert server.requests and all("input" in r and r["model"] == "m" for r in server.requests)
    assert all(len(r["input"]) <= 16 for r in server.requests)
    for _, _, d in feeds_edges(g):
        assert 0 < d["components"]["embedding"] <= (0.3 if d["components"]["lexical"] else 0.7)
        assert d["score"] == round(d["components"]["type"] * (d["components"]["lexical"] +
                                                              d["components"]["embedding"]), 4)
    assert g.graph["embedding"]["model"] == "m"
    assert not union_graph({"post": PARCELS}).has_edge("post__list_parcels", "post__track_parcel:parcel")
    e = p.edges["post__list_parcels", "post__track_parcel:parcel"]
    want = float(np.dot(embed("parcel (track parcel): Tracking code of the parcel, an identifier."),
                        embed("parcels tracking code (list parcels): Tracking code of the parcel.")))
    assert e["field"] == "parcels[].tracking_code" and e["components"]["lexical"] == 0.0
    assert e["components"]["embedding"] == round(0.7 * want, 4)
    assert graph_stats(p).embedding_admitted == 1 and graph_stats(p).unreachable == []


def test_embedding_settings_and_unreachable_endpoint() -> None:
    env = {"ENVFACTORY_LLM_BASE_URL": "http://llm/v1", "ENVFACTORY_LLM_API_KEY": "k1",
           "ENVFACTORY_EMBED_MODEL": "e5"}
    s = EmbeddingSettings.from_env(env)
    assert (s.base_url, s.api_key, s.model) == ("http://llm/v1", "k1", "e5")
    s = EmbeddingSettings.from_env({**env, "ENVFACTORY_EMBED_BASE_URL": "http://emb/v1",
                                    "ENVFACTORY_EMBED_API_KEY": "k2"})
    assert (s.base_url, s.api_key) == ("http://emb/v1", "k2")
    client = EmbeddingClient(EmbeddingSettings(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=5))
    with pytest.raises(EmbeddingError) as exc:
        asyncio.run(client.embed(["hello"]))
    assert "embedding endpoint" in str(exc.value) and "\n" not in str(exc.value)


def test_review_drops_rejected_edges_and_ignores_bad_replies() -> None:
    g = union_graph({"cal": [TOOLS[0], TOOLS[1], TOOLS[2]]})
    edges = [(u, v) for u, v, _ in feeds_edges(g)]
    target = ("cal__list_calendars", "cal__create_event:calendar_id")
    bad = edges.index(target)
    batches = [list(range(i, min(i + 2, len(edges)))) for i in range(0, len(edges), 2)]
    assert len(batches) >= 3
    hit = bad // 2
    odd = [k for k in range(len(batches)) if k != hit][:2]  # one reply with an unknown id, one of the wrong shape
    script = []
    for k, ids in enumerate(batches):
        if k == odd[0]:
            script.append(json.dumps({"edges": [{"id": 999, "keep": False, "reason": "?"}]}))
        elif k == odd[1]:
            script.append("[1, 2]")
        else:
            script.append(json.dumps({"edges": [{"id": i, "keep": i != bad, "reason": "why"} for i in ids]}))
    with ScriptedLLMServer(script) as server:
        async def run() -> Any:
            async with LLMClient(LLMSettings(base_url=server.base_url, api_key="x", model="m", max_retries=0)) as m:
                return await review_edges(g, m, batch=2)

        summary = asyncio.run(run())
    assert not g.has_edge(*target) and g.number_of_edges() > 0
    assert summary.batches == len(batches) and summary.ignored_batches == 2 and len(summary.problems) == 2
    assert any("unknown edge id 999" in p for p in summary.problems)
    assert any("'edges'" in p for p in summary.problems)
    assert summary.dropped == 1 and summary.dropped_edges == [f"{target[0]} -> {target[1]}: why"]
    skipped = len(batches[odd[0]]) + len(batches[odd[1]])
    assert summary.reviewed == len(edges) - skipped and summary.unreviewed == skipped
    kept = [d for _, _, d in feeds_edges(g) if "review" in d["components"]]
    assert len(kept) == summary.kept == summary.reviewed - 1
    assert all(d["components"]["review"] == 1.0 and d["review_reason"] == "why" for d in kept)
    assert server.remaining == 0
    assert "list_calendars" in server.prompts()[hit] and "calendar_id" in server.prompts()[hit]
