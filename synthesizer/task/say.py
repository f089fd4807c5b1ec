"""Words for a task: how a value, a record, a step and a whole request are said, by a user or in an answer.

Everything is phrased from what an operation does to what (`lexicon`) and from values, never from description
text or parameter names a person would not use. Variation comes from the seeded rng and the persona.
"""

from __future__ import annotations

import random
import re
from datetime import date
from typing import Any

from common import naming
from synthesizer.data.records import Fact, Reference
from synthesizer.plan.grounded import GroundedPlan
from synthesizer.plan.schema import entity_of_param
from synthesizer.task.lexicon import Operation, article, plural
from synthesizer.task.told import StepTask, Told

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$")
NAME_FIELDS = ("title", "name", "full_name", "display_name", "label", "subject", "summary", "headline")
QUOTED = ("name", "title", "summary", "subject", "headline", "label", "display_name", "full_name", "note", "notes",
          "body", "text", "content", "message", "comment", "description", "reason", "q", "query", "keyword",
          "keywords", "search", "term")


def human_date(value: str, weekday: bool = True) -> str | None:
    """`2026-03-10` -> `Tuesday, March 10`; `2026-03-10T14:30:00Z` -> `Tuesday, March 10 at 14:30`."""
    m = STAMP.match(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1 <= int(m.group(3)) <= 31:
        return None
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    text = f"{MONTHS[d.month - 1]} {d.day}"
    if weekday:
        text = f"{WEEKDAYS[d.weekday()]}, {text}"
    if m.group(4) and (m.group(4), m.group(5)) != ("00", "00"):
        text += f" at {m.group(4)}:{m.group(5)}"
    return text


def value_said(param: str, value: Any, label: str) -> str:
    """The surface of a value: dates spelled out, names and texts in quotes, numbers and codes as they are."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and naming.snake(param).endswith("_cents"):
        return f"{value / 100:.2f}"
    if isinstance(value, str):
        human = human_date(value)
        if human:
            return human
        low = naming.snake(param)
        return f'"{value}"' if low in QUOTED or low.endswith(("_name", "_title")) else value
    if isinstance(value, list):
        return join_and([value_said(param, v, label) for v in value]) if value else ""
    if isinstance(value, dict):
        named = next((k for k in NAME_FIELDS if isinstance(value.get(k), str)), None)
        rest = [value_said(k, v, k).strip('"') for k, v in value.items() if k != named and v not in (None, "")
                and not isinstance(v, (dict, list))]
        if named:
            return value[named] + (f" ({', '.join(rest)})" if rest else "")
        return ", ".join(rest)
    return str(value)


def join_and(items: list[str]) -> str:
    items = [i for i in items if i]
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def words(name: str) -> str:
    return naming.snake(name).replace("_", " ").strip()


def entity_words(param: str, source: Operation) -> str:
    ent = entity_of_param(param)
    return words(ent) if ent else (source.noun or "item")


def plural_noun(op: Operation) -> str:
    return plural(op.noun) if op.noun else "results"


# --- references ------------------------------------------------------------------------------------------------------


def linked(via: dict[str, Any]) -> str:
    """`flight from WAW to LHR on Wednesday, March 4` from a linked record's naming fields."""
    entity = str(via.get("entity", "one"))
    name = next((v for k, v in via.items() if k in NAME_FIELDS or k.endswith("_name")), None)
    day = next((v for k, v in via.items() if k != "entity" and isinstance(v, str) and STAMP.match(v)), None)
    text = f'{entity} "{name}"' if name else entity
    if via.get("origin") and via.get("destination"):
        text += f" from {via['origin']} to {via['destination']}"
    elif via.get("city") or via.get("location"):
        text += f" in {via.get('city') or via.get('location')}"
    if day:
        text += f" on {human_date(day, weekday=False)}"
    return text


QUALIFY = {"status": "the {v} one", "origin": "from {v}", "destination": "to {v}", "city": "in {v}",
           "kind": "the {v} one", "type": "the {v} one"}


def reference(ref: Reference, record: dict[str, Any]) -> str:
    """How the owner names a record: `the "Team sync" meeting on Tuesday, March 3`, `my order from March 2`."""
    if ref.via:
        return f"my {ref.entity} on the {linked(ref.via)}"
    name = next((v for k, v in ref.match.items() if k in NAME_FIELDS or k.endswith("_name")), None)
    day = next((v for v in ref.match.values() if isinstance(v, str) and STAMP.match(v)), None)
    when = human_date(day) if day else None
    others = [QUALIFY.get(k, "with {v}").format(v=v) for k, v in ref.match.items() if v not in (name, day)]
    extra = f" ({join_and(others)})" if others else ""
    if name and when:
        return f'the {ref.entity} "{name}" on {when}{extra}'
    if name:
        return f'the {ref.entity} "{name}"{extra}'
    return f"my {ref.entity} from {when}{extra}" if when else f"my {ref.entity}{extra}"


# --- facts as parts of a sentence ------------------------------------------------------------------------------------

DATE_FRAMES = {"start": "starting {v}", "starts_at": "starting {v}", "start_time": "starting {v}",
               "start_date": "from {v}", "end": "until {v}", "ends_at": "until {v}", "end_time": "until {v}",
               "end_date": "until {v}", "due": "due {v}", "due_date": "due {v}", "deadline": "due {v}",
               "check_in": "checking in {v}", "check_out": "checking out {v}", "departure_date": "leaving {v}",
               "return_date": "coming back {v}"}
FRAMES = {"name": "called {v}", "title": "called {v}", "summary": "called {v}", "display_name": "called {v}",
          "full_name": "for {v}", "subject": "about {v}", "headline": "headlined {v}", "label": "labelled {v}",
          "q": "matching {v}", "query": "matching {v}", "keyword": "matching {v}", "keywords": "matching {v}",
          "search": "matching {v}", "term": "matching {v}", "text_query": "matching {v}",
          "origin": "from {v}", "from": "from {v}", "destination": "to {v}", "to": "to {v}", "city": "in {v}",
          "location": "at {v}", "place": "at {v}", "email": "for {v}", "email_address": "for {v}",
          "recipient": "to {v}", "recipients": "to {v}", "attendees": "with {v}", "attendee_emails": "with {v}",
          "cc": "copying {v}", "bcc": "quietly copying {v}", "note": "with a note saying {v}",
          "notes": "with a note saying {v}", "comment": "with a comment saying {v}", "body": "saying {v}",
          "text": "saying {v}", "content": "saying {v}", "message": "saying {v}", "description": "described as {v}",
          "reason": "because {v}", "currency": "in {v}", "language": "in {v}", "locale": "in {v}",
          "timezone": "in the {v} time zone", "time_zone": "in the {v} time zone", "quantity": "({v} of them)",
          "qty": "({v} of them)", "passengers": "for {v} passengers", "guests": "for {v} guests",
          "adults": "for {v} adults", "nights": "for {v} nights", "rooms": "with {v} rooms",
          "duration_minutes": "for {v} minutes", "minutes": "for {v} minutes", "duration": "lasting {v}",
          "status": "marked {v}", "priority": "at {v} priority", "category": "in the {v} category",
          "tags": "tagged {v}", "tag": "tagged {v}", "color": "in {v}", "colour": "in {v}", "rating": "rated {v}",
          "price": "priced at {v}", "amount": "for {v}", "budget": "within {v}", "phone": "reachable at {v}",
          "phone_number": "reachable at {v}", "url": "linking to {v}", "link": "linking to {v}",
          "path": "at {v}", "seat": "to {v}", "seat_number": "to {v}", "cabin_class": "in {v}",
          "cabin": "in {v}", "passenger_name": "for {v}", "guest_name": "for {v}", "first_name": "for {v}",
          "date": "on {v}", "day": "on {v}", "response": "answering {v}", "feedback": "saying {v}",
          "account_number": "to account {v}", "rsvp": "answering {v}", "card_last4": "with the card ending in {v}",
          "max_price_cents": "under {v}", "max_price": "under {v}", "min_price_cents": "over {v}",
          "min_price": "over {v}", "time_min": "from {v}", "time_max": "until {v}", "order_by": "sorted by {v}",
          "time": "at {v}", "role": "as {v}", "username": "for {v}"}


def leaf(param: str | None) -> str:
    """`shipping_address.line1` -> `line1`, `items[0].quantity` -> `quantity`."""
    return naming.snake(re.sub(r"\[\d+\]", "", (param or "").rsplit(".", 1)[-1]))


def frame(fact: Fact) -> str:
    """One stated fact as a phrase of the request: `called "Road trip"`, `on Tuesday, March 3`, `to Lisbon`."""
    low = leaf(fact.param)
    if STAMP.match(str(fact.value)):
        if low in DATE_FRAMES:
            return DATE_FRAMES[low].format(v=fact.said)
        if low.endswith(("_after", "_since", "_from")) or low in ("after", "since"):
            return f"after {fact.said}"
        if low.endswith(("_before", "_until", "_to")) or low in ("before", "until"):
            return f"before {fact.said}"
    if low in FRAMES:
        return FRAMES[low].format(v=fact.said)
    if STAMP.match(str(fact.value)):
        return f"for {fact.said}"
    if isinstance(fact.value, bool):
        return f"with the {fact.slot} {'turned on' if fact.value else 'turned off'}"
    return f"with the {fact.slot} set to {fact.said}"


ADDRESS_ORDER = ("line1", "address_line1", "address1", "street", "street_address", "line2", "address_line2",
                 "address2", "city", "town", "state", "state_code", "region", "province", "postal_code", "zip",
                 "zip_code", "zipcode", "postcode", "country", "country_code")


def frames(facts: list[Fact]) -> str:
    """The facts of one step as one phrase; address parts become one address (`to 12 Main St, Portland, OR 97201`)."""
    address = sorted((f for f in facts if leaf(f.param) in ADDRESS_ORDER),
                     key=lambda f: ADDRESS_ORDER.index(leaf(f.param)))
    rest = [f for f in facts if f not in address]
    parts = [frame(f) for f in rest]
    if address:
        parts.append("at " + ", ".join(str(f.value) for f in address))
    lead = [p for p in parts if p.startswith(("called", "for ", "from", "to "))]
    tail = [p for p in parts if p not in lead]
    text = " ".join(lead)
    if tail:
        text = (text + " " if text else "") + join_and(tail)
    return text


# --- requests --------------------------------------------------------------------------------------------------------


def clause(st: StepTask, told: Told, plan: GroundedPlan, speaker_refs: dict[int, str]) -> str:
    """The user's words for one salient step (no terminal punctuation); never the tool's name read out as words
    (`send an email batch` for `send_email_batch` becomes `get an email batch sent`)."""
    text = _clause(st, told, plan, speaker_refs)
    tool_words = [w for w in naming.snake(plan.steps[st.step].tool).split("_") if w]
    if len(tool_words) >= 3 and _spells(text, tool_words):
        op = st.op
        if op.kind == "search":
            text = "look for" + text[len("find"):] if text.startswith("find") else text
        elif op.kind not in ("get", "list") and text.startswith(op.say[0] + " "):
            rest = text[len(op.say[0]) + 1:]
            head, _, tail = rest.partition(" ") if rest.startswith(("a ", "an ", "the ", "my ")) else ("", "", rest)
            noun_end = len(head) + 1 + len(op.noun) if head and rest[len(head) + 1:].startswith(op.noun) else 0
            if noun_end:
                text = f"get {rest[:noun_end]} {op.say[1]}{rest[noun_end:]}"
    return text


def _spells(text: str, tool_words: list[str]) -> bool:
    """The tool's words in order with at most articles between them (how the quality report reads it)."""
    pattern = r"\b" + r"\s+(?:(?:a|an|the)\s+)?".join(re.escape(w) + r"\w*" for w in tool_words) + r"\b"
    return re.search(pattern, text.lower()) is not None


def _clause(st: StepTask, told: Told, plan: GroundedPlan, speaker_refs: dict[int, str]) -> str:
    task = told.task
    op = st.op
    ref = speaker_refs.get(st.ref) if st.ref is not None else None
    if st.made_from is not None:
        ref = ref or f"the new {told.steps[st.made_from].op.noun or 'one'}"
    facts = [task.known_info[i] for i in st.facts]
    args = frames(facts)
    noun = op.noun or "one"
    listing = any(task.communicate_info[i].param == "len" for i in st.told)
    if op.kind == "get" and not listing:
        asked = [task.communicate_info[i].slot for i in st.told]
        what = join_and(asked) or "details"
        target = ref or ("my account" if op.self_scoped else f"the {noun}")
        return f"tell me the {what} of {target}" + (f" {args}" if args else "")
    if op.kind in ("list", "search", "get"):
        nouns = plural_noun(op)
        if op.kind == "search":
            return f"find {nouns}" + (f" {args}" if args else "") + (f" for {ref}" if ref else "")
        if ref:
            return f"tell me which {nouns} {ref} has" + (f" {args}" if args else "")
        mine = op.self_scoped or (op.noun.split()[-1] if op.noun else "") in PERSONAL
        return f"tell me which {nouns} I have" + (f" {args}" if args else "") if mine and not args else \
            f"tell me which {nouns} there are" + (f" {args}" if args else "")
    verb = op.say[0]
    if op.target:  # `add_to_cart`: the thing goes to (or comes from) a target record
        refs = [speaker_refs.get(i, r.said) for i, r in enumerate(task.references) if st.step in r.steps]
        target_ref = next((x for x, r in zip(refs, [r for r in task.references if st.step in r.steps], strict=True)
                           if r.entity == op.target), None)
        item = next((x for x in refs if x != target_ref), None) or (ref if ref != target_ref else None) or "it"
        where = target_ref or f"my {op.target}"
        return f"{verb} {item} {op.target_prep} {where}" + (f" {args}" if args else "")
    if op.kind == "create":
        where = f" for {ref}" if ref else ""
        return f"{verb} {article(noun)}{where}" + (f" {args}" if args else "")
    target = ref or f"the {noun}"
    return f"{verb} {target}" + (f" {args}" if args else "")


PERSONAL = {"calendar", "event", "order", "booking", "cart", "playlist", "note", "task", "file", "message", "contact",
            "address", "reservation", "subscription", "folder", "document", "list", "reminder", "album", "account",
            "card", "invoice", "payment", "project", "draft", "label", "post"}
OPENERS = ["", "Hi! ", "Hello. ", "Hi there. ", "Good morning! ", "Hey. ", "Quick one. ", "Sorry to bother you. ",
           "Hi, hoping you can help. ", "Morning! "]
INTROS = ["It's {first} here. ", "This is {first}. ", "{first} here. "]
ASKS = ["Could you {x}?", "Can you {x}?", "Please {x}.", "I'd like you to {x}.", "Would you {x}?",
        "I need you to {x}.", "Can you please {x}?", "Could you please {x}?"]
CONNECT = [" and ", ", and then ", ", and also ", "; after that, "]


def request(told: Told, plan: GroundedPlan, steps: list[int], rng: random.Random, first: bool, user: str) -> str:
    """A user message asking for the salient steps among `steps`, with the reason on the first turn."""
    task = told.task
    refs = {i: r.said for i, r in enumerate(task.references)}
    keys = [j for j in told.salient if j in steps]
    used: set[int] = set()
    parts: list[str] = []
    for j in keys:
        st = told.steps[j]
        if st.ref is not None and st.ref in used:  # a record named once is "it" afterwards
            refs_now = dict(refs)
            refs_now[st.ref] = "it"
            parts.append(clause(st, told, plan, refs_now))
        else:
            parts.append(clause(st, told, plan, refs))
        if st.ref is not None:
            used.add(st.ref)
    body = parts[0] if len(parts) == 1 else "".join(
        p + (rng.choice(CONNECT) if i < len(parts) - 1 else "") for i, p in enumerate(parts))
    context = _means_context(told, plan, steps)
    text = rng.choice(ASKS).format(x=body)
    if first:
        name = user.split(",")[0].split()[0] if user else ""
        lead = rng.choice(OPENERS) + (rng.choice(INTROS).format(first=name) if name and rng.random() < 0.3 else "")
        reason = task.reason
        if reason and rng.random() < 0.5:
            text = f"{lead}{context}{cap(reason)}, so {lower_first(text)}"
            context = ""
        else:
            text = f"{lead}{context}{text}" + (f" {reason[:1].upper()}{reason[1:]}." if reason else "")
            context = ""
    if context:
        text = context + text
    return re.sub(r"\s+", " ", text).strip()


def _means_context(told: Told, plan: GroundedPlan, steps: list[int]) -> str:
    """Values a lookup needs that no reference carries (a flight search's route and date) as a first sentence."""
    out = []
    for j in steps:
        if j in told.salient or j not in told.steps:
            continue
        st = told.steps[j]
        facts = [told.task.known_info[i] for i in st.facts]
        personal = [f for f in facts if f.slot in ("email address", "phone number", "name", "username")]
        out += [f"My {f.slot} is {f.said}. " for f in personal]
        rest = [f for f in facts if f not in personal]
        if rest:
            out.append(f"This is about {plural_noun(st.op)} {frames(rest)}. ")
    return "".join(out)


GOALS = {"create": "get a new {noun} set up", "update": "have {ref} changed", "delete": "get rid of {ref}",
         "action": "have {ref} taken care of", "get": "find out about {ref}", "list": "know which {nouns} there are",
         "search": "find {nouns}"}


def goal(told: Told, plan: GroundedPlan, rng: random.Random) -> str:
    """The goal in the user's own words (recorded in the task; the writer works from it)."""
    refs = {i: r.said for i, r in enumerate(told.task.references)}
    parts = []
    for j in told.salient:
        st = told.steps[j]
        ref = refs.get(st.ref, f"the {st.op.noun or 'thing'}") if st.ref is not None else f"the {st.op.noun}"
        parts.append(GOALS[st.op.kind].format(noun=st.op.noun or "thing", ref=ref, nouns=plural_noun(st.op)))
    return "I want to " + join_and(parts) + "."


REASONS = {
    "create": ["I'm getting organised for next week", "we're planning ahead", "I want it sorted before Friday",
               "a colleague asked me to set this up", "I'm trying to keep things tidy"],
    "update": ["my plans changed", "something came up", "I got the details wrong earlier",
               "the old details are out of date", "we agreed on a change this morning"],
    "delete": ["I won't need it any more", "plans fell through", "it was a mistake",
               "I'm cleaning up old things", "we decided against it"],
    "action": ["I'm ready to go ahead", "it's time to wrap this up", "I've made up my mind"],
    "get": ["I need it for a call in a few minutes", "I want to double-check before I decide",
            "someone asked me and I'm not sure", "I can't remember"],
    "list": ["I've lost track", "I'm reviewing what's there", "I want a quick overview"],
    "search": ["I'm trying to choose", "I want to compare options", "I'm looking for the right one"],
}


def reason(told: Told, rng: random.Random) -> str:
    kinds = [told.steps[j].op.kind for j in told.salient]
    writes = [k for k in kinds if k not in ("get", "list", "search")]
    return rng.choice(REASONS[(writes or kinds)[-1]])


# --- answers (the offline assistant's words) -------------------------------------------------------------------------


def yours(text: str | None) -> str | None:
    """The user's `my order from March 2` is the assistant's `your order from March 2`."""
    return re.sub(r"\bmy\b", "your", text) if text else text


def done_clause(op: Operation, asked: str) -> str:
    """The past tense of the user's own words for a write: `cancel my order from March 2` ->
    `I've cancelled your order from March 2`."""
    verb, past = op.say
    rest = asked[len(verb):] if asked.startswith(verb) else " " + asked
    return yours(f"I've {past}{rest}") or ""


def done(op: Operation, ref: str | None, details: str) -> str:
    """Past tense of a write: `I've cancelled the booking "X"`."""
    past = op.say[1]
    ref = yours(ref)
    if op.kind == "create":
        return f"I've {past} {article(op.noun or 'new one')}" + (f" for {ref}" if ref else "") + (
            f" {details}" if details else "")
    return f"I've {past} {ref or 'the ' + (op.noun or 'item')}" + (f" {details}" if details else "")


def clarify(fact: Fact, rng: random.Random) -> str:
    """A question for a held-back fact, in words: `Which street is it?`."""
    if STAMP.match(str(fact.value)):
        return rng.choice([f"When should the {fact.slot} be?", f"What {fact.slot} date and time would you like?",
                           f"Sure. For the {fact.slot}, which day and time?"])
    return rng.choice([f"Which {fact.slot} should I use?", f"What's the {fact.slot}?",
                       f"Could you tell me the {fact.slot}?", f"Happy to. What {fact.slot} would you like?"])


def lower_first(text: str) -> str:
    return text if text.startswith(("I ", "I'")) else text[:1].lower() + text[1:]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


__all__ = ["clarify", "done", "frame", "goal", "human_date", "reason", "reference", "request", "value_said"]
