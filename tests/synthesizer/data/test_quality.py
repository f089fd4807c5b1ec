"""The data-quality report: each defect planted in a hand-made record is found (with what was found), the clean
record is flagged by nothing, task-based classes are n/a on records without a task, and the CLI writes quality.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from envfactory.cli.stats import stats as stats_command
from synthesizer.data import quality as q
from synthesizer.data import quality_read as rd
from synthesizer.data import quality_task as tq
from synthesizer.data import quality_text as tx
from synthesizer.data import quality_values as vq
from synthesizer.data.records import (
    CallCheck,
    Checks,
    EnvRef,
    Fact,
    Feed,
    Intent,
    PassAtK,
    Persona,
    PlanCall,
    Reference,
    Task,
    Topology,
    Trajectory,
    Verdict,
)

ADDRESS = {"type": "object", "properties": {k: {"type": "string"} for k in
                                            ("line1", "city", "state", "postal_code", "country")}}
TOOLS = {
    "shop__find_customer": ("Find a customer by the email address on their account and return the profile.",
                            {"email": {"type": "string"}}),
    "shop__add_address": ("Add a shipping address to a customer so that later orders can be delivered there.",
                          {"customer_id": {"type": "string"}, "address": ADDRESS}),
    "shop__list_orders": ("List the orders a customer has placed, newest first.",
                          {"customer_id": {"type": "string"}, "page_size": {"type": "integer"},
                           "status": {"type": "string", "enum": ["placed", "shipped", "cancelled"]}}),
    "shop__checkout": ("Pay for a cart and turn it into an order.", {"cart_id": {"type": "string"}}),
    "mail__send_message": ("Send an email message to one recipient.",
                           {"to": {"type": "string", "format": "email"}, "subject": {"type": "string"},
                            "attachment_path": {"type": "string"}, "callback_url": {"type": "string"},
                            "phone": {"type": "string"}, "send_date": {"type": "string"}}),
}
EMAIL = "maya.thompson@example.com"
NEW_ADDRESS = {"line1": "12 Main St", "city": "Portland", "state": "OR", "postal_code": "97201", "country": "US"}
CUSTOMER = {"id": "cus_1", "name": "Maya Thompson", "email": EMAIL, "created_at": "2026-03-02T10:00:00Z"}
STATE = {"shop": {"customers": {"cus_1": CUSTOMER,
                                "cus_2": {"id": "cus_2", "name": "Daniel Okafor", "email": "d@example.com"}}}}
USER = (f"Hi, I'm Maya Thompson ({EMAIL}). I moved last week: please add my new home, 12 Main St, Portland, "
        "OR 97201, US, so my next parcel goes there.")
ANSWER = "Done, Maya: 12 Main St in Portland is now on your account as a shipping address."


def tool(name: str) -> dict[str, Any]:
    description, props = TOOLS[name]
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": {"type": "object", "properties": props}}}


def plan_call(step: int, name: str, arguments: dict[str, Any], output: Any, read_only: bool,
              depends: list[Feed] | None = None, required: bool = True) -> PlanCall:
    server, _, raw = name.partition("__")
    return PlanCall(step=step, server=server, tool=raw, name=name, arguments=arguments, output=output,
                    read_only=read_only, depends=depends or [], required=required)


def conversation(users: list[str], calls: list[tuple[str, dict[str, Any], Any]], answer: str,
                 system: str = "You are a helpful assistant.") -> list[dict[str, Any]]:
    """System, the first user message, one assistant message per call with its result, the final answer, then
    any later user messages each answered with 'Sure.'."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": users[0]}]
    for i, (name, args, result) in enumerate(calls):
        out.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]})
        out.append({"role": "tool", "tool_call_id": f"c{i}", "content": json.dumps(result)})
    out.append({"role": "assistant", "content": answer})
    for text in users[1:]:
        out += [{"role": "user", "content": text}, {"role": "assistant", "content": "Sure."}]
    return out


def clean_plan() -> list[PlanCall]:
    return [plan_call(0, "shop__find_customer", {"email": EMAIL}, {"customer": CUSTOMER}, True, required=False),
            plan_call(1, "shop__add_address", {"customer_id": "cus_1", "address": NEW_ADDRESS},
                      {"address": {"id": "addr_9", **NEW_ADDRESS}}, False,
                      depends=[Feed(src=0, field="customer.id", param="customer_id")])]


def clean_task(**update: Any) -> Task:
    ref = Reference(entity="customer", said="Maya Thompson", server="shop", collection="customers",
                    record_id="cus_1", match={"name": "Maya Thompson"}, candidates=1, steps=[1], param="customer_id")
    return Task(user="Maya Thompson, a customer of the shop", goal="ship to my new home", references=[ref],
                known_info=[Fact(slot="street address", value="12 Main St", said="12 Main St", step=1)]
                ).model_copy(update=update)


def record(users: list[str] | None = None, plan: list[PlanCall] | None = None,
           calls: list[tuple[str, dict[str, Any], Any]] | None = None, answer: str = ANSWER,
           task: Task | None | str = "clean", tools: list[str] | None = None, kind: str = "normal",
           states: dict[str, Any] | None = None, index: int = 0, edges: list[tuple[int, int, str, str]] | None = None,
           system: str = "You are a helpful assistant.") -> Trajectory:
    users = users or [USER]
    plan = clean_plan() if plan is None else plan
    calls = [(c.name, c.arguments, c.output) for c in plan] if calls is None else calls
    names = tools or ["shop__find_customer", "shop__add_address"]
    servers = sorted({c.server for c in plan}) or ["shop"]
    return Trajectory(
        id=f"r{index}", seed=0, index=index, mode="single_turn", kind=kind,
        envs=[EnvRef(name=s, server_name=s, version="1", transport="stdio", tools_hash="h") for s in servers],
        scenarios={s: "small" for s in servers}, initial_states=STATE if states is None else states,
        topology=Topology(kind="chain", nodes=[c.name for c in plan], servers=servers, edges=edges or []),
        plan=plan, persona=Persona(name="Maya Thompson", role="customer", situation="moving"),
        intent=Intent(goal="ship to my new home"), task=clean_task() if task == "clean" else task,
        query=users[0], messages=conversation(users, calls, answer, system), tools=[tool(n) for n in names],
        expected_state_hashes={s: "x" for s in servers}, final_state_hashes={s: "x" for s in servers},
        checks=Checks(state_match=True, calls=CallCheck(matched=True), verified=True),
        pass_at_k=PassAtK(k=1, passed=1), judge=Verdict(model="offline-rubric", verdict="pass"))


def findings(t: Trajectory) -> dict[str, list[str]]:
    """Defect class -> what was found, for the classes that flag this record."""
    out = {}
    for name, detect in q.DETECTORS.items():
        found = detect(t)
        if found is not None and found.items:
            out[name] = found.items
    return out


def test_clean_record_is_flagged_by_nothing() -> None:
    assert findings(record()) == {}


def lookup_record(answer: str, result: Any, **kw: Any) -> Trajectory:
    args = {"customer_id": "cus_1"}
    plan = [plan_call(0, "shop__list_orders", args, result, True)]
    task = clean_task(references=[], known_info=[], lookup_only=True, **kw)
    return record(users=["Hi, it's Maya Thompson, customer cus_1. What have I ordered so far?"], plan=plan, task=task,
                  answer=answer, tools=["shop__list_orders"])


def test_clean_lookup_reports_what_it_found() -> None:
    orders = {"orders": [{"id": "ord_7", "total": 42.5, "status": "shipped"}]}
    assert findings(lookup_record("You have one order, ord_7, shipped, 42.5 in total.", orders)) == {}
    assert findings(lookup_record("I found no orders on your account.", {"orders": []})) == {}


# ---------------------------------------------------------------------------------------------------------- text


def test_pasted_description() -> None:
    user = USER + " Add a shipping address to a customer so that later orders can be delivered there."
    found = findings(record(users=[user]))
    assert list(found) == ["pasted_description"]
    assert found["pasted_description"] == ["shop__add_address: add a shipping address to a customer so that later "
                                           "orders can be delivered there"]
    five = USER + " Add a shipping address to"  # five words of the description are no paste
    assert findings(record(users=[five])) == {}


@pytest.mark.parametrize(("name", "text", "hit"), [
    ("shop__get_gift_card", "Could you get the gift card for me?", "get gift card"),
    ("shop__get_gift_card", "Could you get gift card balances?", "get gift card"),
    ("spotify__get_me", "Please pull up the me and list my playlists.", "the me"),
    ("shop__checkout", "Please check out a checkout for cart 3.", "check out a checkout"),
    ("shop__checkout", "Please checkout checkout now.", "checkout checkout"),
    ("spotify__search", "Can you search search for jazz?", "search search"),
])
def test_tool_name_spelled_as_words(name: str, text: str, hit: str) -> None:
    assert tx.spelled_name(name, text) == hit


@pytest.mark.parametrize(("name", "text"), [
    ("shop__get_gift_card", "Could you get me the balance of my gift card?"),
    ("spotify__get_me", "Can you get me my profile?"),  # plain English: no article before the pronoun
    ("it__get_it", "The IT team asked for this."),  # an acronym is not the pronoun
    ("shop__checkout", "Please check out my cart."),
    ("shop__list_orders", "List the orders I placed."),  # 2 words, no self-reference, no shared stem
])
def test_natural_words_are_not_tool_names(name: str, text: str) -> None:
    assert tx.spelled_name(name, text) is None


def test_tool_name_words_in_a_record() -> None:
    user = USER + " Then please add address for me."  # a 2-word name said plainly is not counted
    assert findings(record(users=[user])) == {}
    later = [USER, "Also please find customer profile details."]
    assert findings(record(users=later)) == {}
    t = record(users=[USER, "Now checkout checkout please."], tools=["shop__find_customer", "shop__add_address",
                                                                      "shop__checkout"])
    assert findings(t) == {"tool_name_words": ["shop__checkout: checkout checkout"]}


@pytest.mark.parametrize(("key", "value", "text", "hit"), [
    ("line1", "12 Main St", 'add line1 "12 Main St" to my account', 'line1 "12 main st'),
    ("address_line1", "12 Main St", "address line 1: 12 Main St please", "address line 1: 12 main st"),
    ("state_code", "OR", 'with state code "OR"', 'state code "or'),
    ("page_size", 9, "show notes with page size 9", "page size 9"),
    ("page_size", 9, "a page size of 9", "page size of 9"),
    ("etag", "x1", 'with etag "x1"', 'etag "x1'),
    ("to", "EUR", 'the conversion rate with to "EUR"', 'with to "eur'),
    ("start_date", "2026-03-02", "with start date March 2", "start date march 2"),
    ("lat", 2.51, "change the prime time with 2.51 as the lat", "2.51 as the lat"),
    ("ride_types", "lyft_line", "with lyft_line as the ride types", "lyft_line as the ride types"),
])
def test_raw_param_label(key: str, value: Any, text: str, hit: str) -> None:
    assert tx.labelled(key, value, text.lower()) == hit


@pytest.mark.parametrize(("key", "value", "text"), [
    ("street", "12 Main St", "the street is 12 Main St"),
    ("email", EMAIL, f"my email is {EMAIL}"),
    ("to", "EUR", "convert 100 USD to EUR"),
    ("page_size", 9, "show 9 notes per page"),
    ("line1", "12 Main St", "ship it to 12 Main St"),
    ("lat", 2.51, "2.51 as the latitude"),  # another word than the parameter's
])
def test_natural_phrases_are_not_labels(key: str, value: Any, text: str) -> None:
    assert tx.labelled(key, value, text.lower()) is None


def test_raw_param_label_in_a_record() -> None:
    user = USER.replace("my new home, 12 Main St", 'my new home with line1 "12 Main St"')
    assert findings(record(users=[user])) == {"raw_param_label": ['line1: line1 "12 main st']}


# ---------------------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(("key", "value", "schema", "why"), [
    ("line1", "garden", {}, "placeholder word"),
    ("bcc", "blue", {}, "placeholder word"),
    ("bcc", "ops-team", {}, "email without @"),
    ("customer_email", "maya", {}, "email without @"),
    ("recipient", "maya", {"format": "email"}, "email without @"),
    ("path", "notes", {}, "path without / or \\"),
    ("attachment_path", "report.pdf", {}, "path without / or \\"),
    ("callback_url", "example.com", {}, "url without a scheme"),
    ("uris", "trackone", {}, "url without a scheme"),
    ("phone", "call me", {}, "phone without digits"),
    ("send_date", "next week", {}, "date/time that does not parse"),
    ("when", "soon", {"format": "date-time"}, "date/time that does not parse"),
])
def test_misfit_values(key: str, value: str, schema: dict[str, Any], why: str) -> None:
    assert vq.misfit(key, value, schema) == why


@pytest.mark.parametrize(("key", "value", "schema"), [
    ("query", "coffee", {}),  # a free search term may be any word
    ("color", "blue", {}),
    ("frequency", "weekly", {}),
    ("bcc", "ops@example.com", {}),
    ("path", "/srv/notes/todo.txt", {}),
    ("path", "C:\\notes", {}),
    ("file", "aGVsbG8=", {"format": "byte"}),
    ("sort_dir", "asc", {}),
    ("callback_url", "https://example.com/hook", {}),
    ("uris", "spotify:track:6rqhFgbbKwnb9MLmUQDhG6", {}),
    ("phone", "+1 503 555 0101", {}),
    ("send_date", "2026-03-02", {}),
    ("updated_at", "2026-03-02T10:00:00Z", {}),
    ("start_time", "10:30", {}),
    ("expires_at", "1767171600", {}),
    ("title", "Weekly sync", {}),
])
def test_fitting_values(key: str, value: str, schema: dict[str, Any]) -> None:
    assert vq.misfit(key, value, schema) is None


def test_filler_values_in_plan_and_calls() -> None:
    plan = clean_plan()
    plan[1].arguments = {"customer_id": "cus_1", "address": {**NEW_ADDRESS, "line1": "garden"}}
    found = findings(record(plan=plan, calls=[(c.name, c.arguments, c.output) for c in clean_plan()]))
    assert found["filler_values"] == ["add_address.line1='garden': placeholder word"]
    args = {"to": "maya", "subject": "Hello", "attachment_path": "garden", "callback_url": "weekly", "phone": "x",
            "send_date": "tomorrow"}
    mail = record(plan=clean_plan(), calls=[("mail__send_message", args, {"sent": True})],
                  tools=["shop__find_customer", "shop__add_address", "mail__send_message"])
    assert [item.split(": ", 1)[1] for item in vq.filler_values(mail).items] == [
        "email without @", "placeholder word", "placeholder word", "phone without digits",
        "date/time that does not parse"]


def test_postal_code_of_another_country_is_filler() -> None:
    plan = clean_plan()
    plan[1].arguments = {"customer_id": "cus_1", "address": {"line1": "1 Rue", "postal_code": "97201",
                                                             "country": "JP"}}
    assert any("postal code does not fit" in i for i in vq.filler_values(record(plan=plan)).items)


def test_incoherent_addresses() -> None:
    berlin = {**NEW_ADDRESS, "city": "Berlin"}
    plan = clean_plan()
    plan[1].arguments = {"customer_id": "cus_1", "address": berlin}
    found = vq.incoherent_addresses(record(plan=plan, calls=[(c.name, c.arguments, c.output) for c in clean_plan()]))
    assert (found.units, found.hits) == (2, 1)  # the plan's Berlin and the assistant's (clean) Portland
    assert found.items == ['add_address: {"city": "Berlin", "state": "OR", "postal_code": "97201", "country": "US"}']
    prefixed = {"billing_city": "Berlin", "billing_state": "OR", "billing_zip": "97201"}
    assert list(vq.address_groups({"customer": prefixed})) == [{"city": "Berlin", "state": "OR", "zip": "97201"}]
    assert vq.incoherent_addresses(record()).units == 1 and not vq.incoherent_addresses(record()).items


# ---------------------------------------------------------------------------------------------------------- refs


def two_mayas() -> dict[str, Any]:
    customers = {**STATE["shop"]["customers"], "cus_3": {"id": "cus_3", "name": "maya thompson", "email": "m@x.io"}}
    return {"shop": {"customers": customers}}


def test_ambiguous_reference_is_recomputed_from_the_state() -> None:
    t = record(states=two_mayas())  # the record claims candidates=1: not trusted
    found = findings(t)
    assert list(found) == ["ambiguous_reference"] and found["ambiguous_reference"][0].endswith("fits 2")
    by_day = clean_task(references=[clean_task().references[0].model_copy(
        update={"match": {"name": "Maya Thompson", "created_at": "2026-03-02"}})])
    assert findings(record(states=two_mayas(), task=by_day)) == {}  # the date tells them apart


def test_post_write_reference() -> None:
    ref = clean_task().references[0].model_copy(update={"match": {"name": "Maya Thompson-Reyes"}})
    found = findings(record(task=clean_task(references=[ref])))
    assert list(found) == ["post_write_reference"] and found["post_write_reference"][0].endswith("fits 0")
    nested = ref.model_copy(update={"collection": "stores.s1.customers", "match": {"name": "Maya Thompson"}})
    states = {"shop": {"stores": {"s1": {"customers": [CUSTOMER]}}}}
    assert findings(record(task=clean_task(references=[nested]), states=states)) == {}


def test_references_without_a_state_are_not_judged() -> None:
    found = tq.post_write_reference(record(states={}))
    assert found is not None and found.units == 0 and not found.items


# ---------------------------------------------------------------------------------------------------------- plan


def test_readback() -> None:
    plan = [*clean_plan(), plan_call(2, "shop__find_customer", {"email": EMAIL}, {"customer": CUSTOMER}, True,
                                     depends=[Feed(src=1, field="address.customer_id", param="email")])]
    assert findings(record(plan=plan)) == {"readback": ["step 2 shop__find_customer reads step 1 shop__add_address"]}
    plan[2].required = False  # an optional read is the assistant's choice, not the request's
    assert findings(record(plan=plan)) == {}


def test_glued_servers() -> None:
    mail = plan_call(2, "mail__send_message", {"to": EMAIL, "subject": "Moved"}, {"sent": True}, False)
    plan = [*clean_plan(), mail]
    tools = ["shop__find_customer", "shop__add_address", "mail__send_message"]
    user = USER + " And email me a note titled Moved."
    glued = record(users=[user], plan=plan, tools=tools)
    assert findings(glued) == {"glued_servers": ["no dependency between mail, shop"]}
    mail.depends = [Feed(src=0, field="customer.email", param="to")]
    assert findings(record(users=[user], plan=plan, tools=tools)) == {}
    mail.depends = []
    assert findings(record(users=[user], plan=plan, tools=tools, edges=[(0, 2, "customer.email", "to")])) == {}
    assert tq.glued_servers(record()) is None  # one server: not judged


# ---------------------------------------------------------------------------------------------------------- unexplained


def test_unexplained_values() -> None:
    calls = [("shop__find_customer", {"email": "other@example.com"}, {"customer": None})]
    found = vq.unexplained_values(record(calls=calls))
    assert (found.units, found.hits, found.items) == (1, 1, ["find_customer.email='other@example.com'"])
    clean = vq.unexplained_values(record())
    assert clean.units == 7 and clean.hits == 0  # email, the fed id and five address parts


@pytest.mark.parametrize(("value", "context", "ok"), [
    ("2026-03-02", "on march 2, please", True),
    ("2026-03-02", "on 2nd march", True),
    ("2026-03-02", "on march 21", False),
    ("2026-03-02T16:30:00Z", "april 13? no: march 2 at 16:30", True),
    ("2026-03-02T16:30:00Z", "march 2 at 4:30 pm", True),
    ("2026-03-02T16:30:00Z", "march 2, some time", False),
    ("2026-03-02T00:00:00Z", "march 2", True),
    (9, "show 9 notes", True),
    (9, "show 19 notes", False),
    (42.0, "total 42", True),
    ("Window Seat", "a window seat please", True),
])
def test_explained(value: Any, context: str, ok: bool) -> None:
    assert vq.explained(value, {}, context, f" {' '.join(rd.words(context))} ") is ok


def test_explained_exemptions_and_enums() -> None:
    assert vq.explained(True, {}, "", " ") is None
    assert vq.explained(None, {}, "", " ") is None
    assert vq.explained("", {}, "", " ") is None
    assert vq.explained("economy", {"enum": ["economy"]}, "", " ") is None  # nothing to choose
    enum = {"enum": ["window_seat", "aisle_seat"]}
    assert vq.explained("window_seat", enum, "a window seat", " a window seat ") is True
    assert vq.explained("aisle_seat", enum, "a window seat", " a window seat ") is False


def test_values_only_count_from_earlier_messages() -> None:
    """A value the tool returns only after the call that used it was still invented."""
    calls = [("shop__add_address", {"customer_id": "cus_1", "address": NEW_ADDRESS}, {"ok": True}),
             ("shop__find_customer", {"email": EMAIL}, {"customer": CUSTOMER})]
    found = vq.unexplained_values(record(calls=calls))
    assert found.items == ["add_address.customer_id='cus_1'"]
    system = record(calls=calls, system="You are a helpful assistant. The signed-in customer is cus_1.")
    assert vq.unexplained_values(system).items == []


# ---------------------------------------------------------------------------------------------------------- answers


def test_lookup_unreported() -> None:
    orders = {"orders": [{"id": "ord_7", "total": 42.5, "status": "shipped"}]}
    silent = lookup_record("All done. I looked up your orders.", orders)
    assert findings(silent) == {"lookup_unreported": ["the final answer reports nothing that was found"]}
    restated = lookup_record("I looked up the orders of customer cus_1.", {"orders": [{"customer_id": "cus_1"}]})
    assert "lookup_unreported" in findings(restated)  # a value the user said is no finding
    assert "lookup_unreported" in findings(lookup_record("Done.", {"orders": []}))  # not even "none found"


def test_untold_communicate_info() -> None:
    fact = Fact(slot="order status", value="shipped", said="shipped", step=0, param="orders[].status")
    orders = {"orders": [{"id": "ord_7", "status": "shipped"}]}
    told = lookup_record("Your order ord_7 has shipped.", orders, communicate_info=[fact])
    assert findings(told) == {}
    untold = lookup_record("Your order is ord_7.", orders, communicate_info=[fact])
    assert findings(untold) == {"lookup_unreported": ["untold order status: shipped"]}
    asking = lookup_record("Which order do you mean?", orders, communicate_info=[fact])
    assert tq.lookup_unreported(asking.model_copy(update={"kind": "missing_info"})) is None


def test_lookup_without_a_task_uses_the_plan() -> None:
    orders = {"orders": [{"id": "ord_7"}]}
    assert findings(lookup_record("Done.", orders).model_copy(update={"task": None})) == {
        "lookup_unreported": ["the final answer reports nothing that was found"]}
    assert tq.lookup_unreported(record(task=None)) is None  # the plan writes: no lookup


# ---------------------------------------------------------------------------------------------------------- report


def test_report_rates_ids_and_task_classes_na() -> None:
    plan = clean_plan()
    plan[1].arguments = {"customer_id": "cus_1", "address": {**NEW_ADDRESS, "line1": "garden"}}
    records = [record(index=0), record(index=1, plan=plan, task=None), record(index=2, task=None)]
    report = q.quality_report(records)
    filler = report.defects["filler_values"]
    assert (filler.records, filler.of, filler.ids) == (1, 3, ["r1"]) and filler.rate == pytest.approx(1 / 3)
    assert filler.examples == {"r1": ["add_address.line1='garden': placeholder word"]}
    amb = report.defects["ambiguous_reference"]
    assert (amb.records, amb.of) == (0, 1)  # judged on the one record with a task
    no_task = q.quality_report([record(task=None)]).defects
    assert no_task["ambiguous_reference"].records is None and q.defect_cells(no_task["ambiguous_reference"])[0] == "n/a"
    assert no_task["filler_values"].records == 0
    unexplained = report.defects["unexplained_values"]
    assert (unexplained.units, unexplained.unit_hits, unexplained.ids) == (21, 1, ["r1"])  # nobody said "garden"
    assert unexplained.rate == pytest.approx(1 / 21)


def test_ids_are_capped() -> None:
    records = [record(index=i, users=[USER + " Add a shipping address to a customer so that later orders."])
               for i in range(q.MAX_IDS + 5)]
    d = q.quality_report(records).defects["pasted_description"]
    assert d.records == q.MAX_IDS + 5 and len(d.ids) == q.MAX_IDS and len(d.examples) == q.MAX_IDS


def test_openings_duplicates_lengths_and_canned_turns() -> None:
    firsts = ["Hi there, could you add my address?", "Hi there, could you add my address?",
              "Hi there could you list orders", "Please list my orders from March"]
    later = [["Thanks, that works for me.", "Thanks, that works too."], [], ["Actually make it the office."], []]
    records = [record(index=i, users=[f, *more]) for i, (f, more) in enumerate(zip(firsts, later, strict=True))]
    o = q.quality_report(records).openings
    assert (o.first_messages, o.distinct_openings, o.distinct_per_300) == (4, 2, 150.0)
    assert (o.duplicate_first_messages, o.duplicate_ids, o.duplicate_rate) == (1, ["r1"], 0.25)
    assert (o.first_words_mean, o.first_words_p50, o.first_words_p90) == (6.5, 6.0, 7.0)  # nearest rank
    assert o.turns_mean == 1.75 and o.later_turns == 3
    assert o.canned_share == pytest.approx(2 / 3) and o.canned_phrase == "thanks that works"


def test_stats_writes_quality_json(tmp_path: Path) -> None:
    cli = typer.Typer()
    cli.command("stats")(stats_command)
    cli.command("noop")(lambda: None)  # two commands, so `stats` is addressed by name as under `envfactory`
    run = tmp_path / "run"
    run.mkdir()
    plan = clean_plan()
    plan[1].arguments = {"customer_id": "cus_1", "address": {**NEW_ADDRESS, "line1": "garden"}}
    (run / "trajectories.jsonl").write_text(record().to_line() + record(index=1, plan=plan).to_line())
    result = CliRunner().invoke(cli, ["stats", str(run), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "filler_values" in result.stdout and "distinct 4-word openings" in result.stdout
    doc = json.loads((run / "stats" / "quality.json").read_text())
    assert doc["defects"]["filler_values"]["ids"] == ["r1"]
    assert json.loads((run / "stats" / "stats.json").read_text())["quality"] == doc


def test_final_answers_in_their_five_commonest_openings() -> None:
    answers = ["Done: added it.", "Done, added it!", "Done - added it.", "Here are the orders.", "I found two.",
               "Your order shipped.", "No orders yet.", "Sorry, nothing matches."]
    o = q.quality_report([record(index=i, answer=a) for i, a in enumerate(answers)]).openings
    assert o.answers == 8 and o.answer_top5[0] == "done added it"
    assert o.answer_top5_share == pytest.approx(7 / 8)  # 3 of the commonest opening + the next four, of 8


def test_facts_told_in_any_turn_and_zero_counts() -> None:
    orders = {"orders": [{"id": "ord_7", "status": "shipped"}]}
    fact = Fact(slot="order status", value="shipped", said="shipped", step=0, param="orders[].status")
    t = lookup_record("Your order ord_7 has shipped.", orders, communicate_info=[fact])
    turns = t.messages + [{"role": "user", "content": "Thanks, and my gift cards?"},
                          {"role": "assistant", "content": "You have none."}]
    assert tq.lookup_unreported(t.model_copy(update={"messages": turns})) == rd.Found([])  # told in the first turn
    zero = Fact(slot="how many orders", value=0, said="0", step=0, param="len")
    assert tq.told(zero, "i didn't find any orders.") and not tq.told(zero, "here you go.")
    assert not tq.told(Fact(slot="how many", value=2, said="2"), "i didn't find any orders.")


def test_counts_and_empty_results_are_reports() -> None:
    two = {"orders": [{"id": "ord_7"}, {"id": "ord_8"}]}
    assert tq.lookup_unreported(lookup_record("You have 2 orders.", two)) == rd.Found([])
    calendars = {"calendars": [{"id": "cal_1", "name": "Work"}]}
    plan = [plan_call(0, "shop__list_orders", {"customer_id": "cus_1"}, calendars, True),
            plan_call(1, "shop__list_orders", {"customer_id": "cus_1"}, {"orders": [], "next_cursor": None}, True)]
    t = lookup_record("I didn't find any orders.", {}).model_copy(update={"plan": plan})
    t = t.model_copy(update={"messages": conversation([t.query], [(c.name, c.arguments, c.output) for c in plan],
                                                      "I didn't find any orders.")})
    assert tq.lookup_unreported(t) == rd.Found([])  # one result was empty: "none found" reports it
    claims_none = lookup_record("It has no details to report.", {"orders": [{"id": "ord_7", "total": 9.5}]})
    assert tq.lookup_unreported(claims_none) == rd.Found(["the final answer reports nothing that was found"])


def test_an_item_count_is_a_report_even_when_the_user_said_that_number() -> None:
    flights = {"flights": [{"id": "fl_1"}, {"id": "fl_2"}, {"id": "fl_3"}]}
    t = lookup_record("Done! I found 3 flights.", flights)
    t = t.model_copy(update={"messages": [t.messages[0], {"role": "user", "content": "Flights on March 3?"},
                                          *t.messages[2:]]})
    assert tq.lookup_unreported(t) == rd.Found([])


def test_values_match_as_whole_words() -> None:
    assert rd.contains("i searched flights", "searched") and not rd.contains("i searched flights", "sea")
    assert not rd.contains("customer cus_10", "cus_1") and rd.contains("customer cus_1.", "cus_1")
    airports = {"airports": [{"code": "SEA"}]}
    assert tq.lookup_unreported(lookup_record("I searched the airports.", airports)) == rd.Found(
        ["the final answer reports nothing that was found"])
    flights = {"flights": [{"id": "fl_1"}, {"id": "fl_2"}, {"id": "fl_3"}]}
    t = lookup_record("I searched flights on March 3, 2026.", flights)  # a date's 3 is no count of 3 flights
    t = t.model_copy(update={"messages": [t.messages[0], {"role": "user", "content": "Flights on March 3, 2026?"},
                                          *t.messages[2:]]})
    assert tq.lookup_unreported(t) == rd.Found(["the final answer reports nothing that was found"])


def test_distinct_openings_per_300_are_counted_in_blocks() -> None:
    openings = [(f"w{i % 200}",) for i in range(600)]  # 200 distinct in every block of 300
    assert q.per_block(openings) == 200.0
    assert q.per_block(openings[:450]) == 200.0  # the partial block is left out, not scaled
    assert q.per_block(openings[:150]) == 300.0  # 150 distinct of 150, scaled to 300
    assert q.per_block([]) == 0.0
