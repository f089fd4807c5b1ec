"""Templated user query with implicit intent (no tool names, no internal ids) and the hidden intent string."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from synthesizer.discovery.tools import ToolInfo
from synthesizer.graph.links import NAME_KEYS, VERBS, tool_noun
from synthesizer.plan.grounded import FedValue as Feed
from synthesizer.plan.grounded import GroundedPlan as Execution
from synthesizer.plan.schema import entity_of_param, is_id_like, properties, resolve, singular_phrase

# verb token of a tool name -> (request phrase, past tense); the phrase never repeats the tool name itself
VERB_PHRASES: dict[str, tuple[str, str]] = {
    "list": ("show me", "listed"), "search": ("look for", "searched"), "find": ("look for", "found"),
    "get": ("pull up", "looked up"), "read": ("pull up", "read"), "show": ("show me", "showed"),
    "view": ("show me", "showed"), "fetch": ("pull up", "looked up"), "lookup": ("pull up", "looked up"),
    "describe": ("describe", "described"), "check": ("check", "checked"), "query": ("look up", "looked up"),
    "create": ("create", "created"), "add": ("add", "added"), "new": ("create", "created"),
    "make": ("make", "made"), "book": ("book", "booked"), "reserve": ("reserve", "reserved"),
    "place": ("place", "placed"), "schedule": ("schedule", "scheduled"), "send": ("send", "sent"),
    "post": ("post", "posted"), "update": ("update", "updated"), "edit": ("edit", "edited"),
    "modify": ("change", "changed"), "set": ("set", "set"), "rename": ("rename", "renamed"),
    "move": ("move", "moved"), "change": ("change", "changed"), "delete": ("delete", "deleted"),
    "remove": ("remove", "removed"), "cancel": ("cancel", "cancelled"), "archive": ("archive", "archived"),
    "checkout": ("check out", "checked out"), "pay": ("pay for", "paid for"), "confirm": ("confirm", "confirmed"),
    "refund": ("get a refund for", "refunded"), "return": ("send back", "returned"), "assign": ("assign", "assigned"),
    "complete": ("complete", "completed"), "approve": ("approve", "approved"), "apply": ("apply", "applied"),
}
OPENERS = ["", "Hi! ", "Hello! ", "I need a hand with something. ", "Quick request: "]
FIRST = ["Could you {x}?", "Please {x}.", "I'd like you to {x}.", "Can you {x}?"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
NEVER_SHOWN = ("cursor", "limit", "offset", "page")


def record_name(record: dict[str, Any] | None) -> str | None:
    """How a person would name the record; its own internal id is cut out (`Order ord_0003 for Maya` -> `Order for
    Maya`), since the user cannot know it."""
    if not isinstance(record, dict):
        return None
    found = next((v for k in NAME_KEYS if isinstance(v := record.get(k), str) and v.strip()), None)
    if found is None:
        found = next((v for k, v in record.items() if k.endswith("_name") and isinstance(v, str) and v.strip()), None)
    if found is None:
        return None
    for key, value in record.items():
        if isinstance(value, str) and len(value) >= 3 and is_id_like(key) and value in found:
            found = re.sub(rf"\s*#?{re.escape(value)}\b", "", found)
    found = re.sub(r"\s+", " ", found).strip(" -·:#")
    return found or None


def words(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip()


def verb_of(tool: str) -> tuple[str | None, str]:
    parts = [p for p in tool.lower().replace("-", "_").split("_") if p]
    if parts and parts[0] in VERB_PHRASES:
        return parts[0], words("_".join(parts[1:]))
    return None, words("_".join(parts[1:]) if len(parts) > 1 and parts[0] in VERBS else tool.lower())


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DATE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$")


def human_date(value: str) -> str | None:
    """`2026-03-10` -> `March 10, 2026`; `2026-03-10T14:30:00Z` -> `March 10, 2026 at 14:30 UTC`."""
    m = DATE.match(value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    text = f"{MONTHS[int(m.group(2)) - 1]} {int(m.group(3))}, {m.group(1)}"
    if m.group(4):
        zone = m.group(6) or ""
        text += f" at {m.group(4)}:{m.group(5)}" + (" UTC" if zone in ("Z", "+00:00", "+0000") else "")
    return text


def quote(value: Any) -> str:
    if isinstance(value, str):
        return human_date(value) or f'"{value}"'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(quote(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{words(k)} {quote(v)}" for k, v in value.items())
    return str(value)


LEADS = ("titled", "named", "matching")


def join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_args(tool: ToolInfo, arguments: dict[str, Any], fed: set[str]) -> str:
    """` titled "X" with body "Y"`: the values a user would know (never ids, cursors or limits)."""
    props = properties(tool.input_schema)
    bits: list[str] = []
    tail: list[str] = []  # phrases that read as their own clause: "on March 4, 2026", "for 30 minutes"
    for name, value in arguments.items():
        schema = resolve(props.get(name, {}), tool.input_schema)
        if name in fed or is_id_like(name, schema) or name.lower() in NEVER_SHOWN or value in (None, "", [], {}):
            continue
        low = name.lower()
        if low == "title":
            bits.append(f"titled {quote(value)}")
        elif low == "name":
            bits.append(f"named {quote(value)}")
        elif low in ("q", "query", "keyword", "keywords", "search", "term"):
            bits.append(f"matching {quote(value)}")
        elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value) and low in ("date", "day", "on"):
            tail.append(f"on {quote(value)}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and low.endswith(
                ("_minutes", "_hours", "_days", "_nights")):
            unit = low.rsplit("_", 1)[1]
            tail.append(f"for {value} {unit[:-1] if value == 1 else unit}")
        elif low in ("start", "starts_at", "start_time") and isinstance(value, str) and human_date(value):
            tail.append(f"from {quote(value)}")
        elif low in ("end", "ends_at", "end_time") and isinstance(value, str) and human_date(value):
            tail.append(f"until {quote(value)}")
        elif isinstance(value, bool):
            bits.append(f"{words(name)} {'set' if value else 'not set'}")
        else:
            bits.append(f"{words(name)} {quote(value)}")
    lead = [b for b in bits if b.startswith(LEADS)]
    rest = [b for b in bits if not b.startswith(LEADS)]
    text = " ".join(lead + tail)
    if rest:
        text += (" with " if text else "with ") + join_and(rest)
    return (" " + text) if text else ""


MADE = ("created", "added", "made", "booked", "reserved", "placed", "scheduled", "posted", "sent")


def reference(feed: Feed, entity: str, source_tool: str, source_is_write: bool, speaker: str) -> str:
    """How a record an earlier step produced is named: by its name/title, else by role or position.

    `speaker` is "user" (the query) or "assistant" (the final answer)."""
    name = record_name(feed.record)
    verb, _ = verb_of(source_tool)
    made = source_is_write and verb is not None and VERB_PHRASES[verb][1] in MADE
    leaf = feed.field.split(".")[-1].replace("[]", "")
    if name and leaf != "id" and leaf.endswith("_id"):  # a foreign key: the record is another thing
        parts = [p.replace("[]", "") for p in feed.field.split(".")[:-1]]
        owner = words(singular_phrase(parts[-1])) if parts else words(tool_noun(source_tool))
        return f'the {entity} of the {owner} "{name}"'
    if name:
        return f'the new {entity} "{name}"' if made else f'the {entity} "{name}"'
    if made:
        return f"the {entity} you just made" if speaker == "user" else f"the new {entity}"
    if feed.position is not None and feed.count and feed.count > 1 and feed.position < len(ORDINALS):
        return f"the {ORDINALS[feed.position]} {entity} in that list"
    return f"that {entity}"


def _same_record_as_previous(j: int, f: Feed, ex: Execution) -> bool:
    if j == 0 or len(ex.feeds[j]) != 1:
        return False
    return any(p.value == f.value and p.field == f.field for p in ex.feeds[j - 1])


def step_phrase(j: int, ex: Execution, tools: dict[str, ToolInfo], speaker: str,
                withheld: tuple[str, ...] = ()) -> str:
    """The request (speaker "user") or past-tense report (speaker "assistant") for step j."""
    step = ex.steps[j]
    tool = tools[step.name]
    verb, obj = verb_of(step.tool)
    feeds = ex.feeds[j]
    refs: list[str] = []
    entities: list[str] = []
    for f in feeds:
        entity = words(entity_of_param(f.param) or tool_noun(ex.steps[f.src].tool) or "item")
        entities.append(entity)
        if _same_record_as_previous(j, f, ex):
            refs.append("it")
        else:
            src = ex.steps[f.src]
            refs.append(reference(f, entity, src.tool, tools[src.name].is_write, speaker))
    args = describe_args(tool, step.arguments, {f.param for f in feeds} | set(withheld))
    noun = obj or words(tool_noun(step.tool))
    ask_verb, past_verb = VERB_PHRASES.get(verb or "", ("", ""))
    the_verb = ask_verb if speaker == "user" else past_verb
    where = (" for " + join_and(refs)) if refs else ""
    if not the_verb:
        clause = first_clause(tool.description) or f"take care of the {noun}"
        return f"{clause}{where}{args}" if speaker == "user" else f"handled this: {clause}{where}{args}"
    if refs and (not noun or any(same_thing(noun, e) for e in entities)):
        if refs == ["it"] and len(the_verb.split()) == 2 and the_verb.split()[1] in ("up", "out", "back"):
            return f"{the_verb.split()[0]} it {the_verb.split()[1]}{args}"
        return f"{the_verb} {join_and(refs)}{args}"
    if verb in ("search", "find"):
        target = noun if noun.endswith("s") else f"the {noun}"
    elif tool.read_only or verb in ("update", "edit", "modify", "change", "set", "rename", "move", "assign"):
        target = f"the {noun}"
    else:
        target = noun if noun.endswith("s") else article(noun)
    return f"{the_verb} {target}{args}{where}"


def same_thing(noun: str, entity: str) -> bool:
    return bool(entity) and (noun == entity or noun.rstrip("s") == entity.rstrip("s") or noun.endswith(" " + entity))


THIRD_PERSON = {"returns": "show me", "retrieves": "pull up", "gets": "pull up", "fetches": "pull up",
                "lists": "show me", "shows": "show me", "provides": "give me", "reads": "pull up"}


def first_clause(description: str) -> str:
    """The description's first clause as a request: `Creates a new note` -> `create a new note`."""
    text = description.strip().split("\n")[0]
    text = re.split(r"(?<=[a-z0-9])[.;:](\s|$)", text)[0].strip()
    if not text:
        return ""
    first, _, rest = text.partition(" ")
    low = first.lower()
    if low in THIRD_PERSON:
        first = THIRD_PERSON[low]
    elif re.fullmatch(r"[a-z]+(ches|shes|sses|xes|zes)", low):
        first = low[:-2]
    elif re.fullmatch(r"[a-z]+[^s]s", low) and low not in ("this", "is", "has", "was", "does"):
        first = low[:-1]
    else:
        first = first[:1].lower() + first[1:]
    return f"{first} {rest}".strip()


def plan_summary(ex: Execution) -> str:
    """The gold plan in one technical line (recorded beside the natural goal; never shown to the assistant)."""
    parts = []
    for j, step in enumerate(ex.steps):
        fed = {f.param: f for f in ex.feeds[j]}
        args = []
        for k, v in step.arguments.items():
            source = f" [from step {fed[k].src + 1} {fed[k].field}]" if k in fed else ""
            args.append(f"{k}={json.dumps(v, ensure_ascii=False)}{source}")
        parts.append(f"{j + 1}. {step.name}({', '.join(args)})")
    return " ".join(parts)


def id_values(ex: Execution) -> set[str]:
    """Internal ids the query must not mention: fed values and every `id`-like field of the outputs."""
    found: set[str] = set()

    def walk(x: Any, key: str = "") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and key and is_id_like(key) and len(x) >= 3:
            found.add(x)

    for j, step in enumerate(ex.steps):
        walk(step.output)
        for f in ex.feeds[j]:
            if isinstance(f.value, str):
                found.add(f.value)
    return found


def salient(ex: Execution, steps: list[int]) -> list[int]:
    """The steps a person would ask for: writes, and reads whose result is not just a means to a later step."""
    later = {f.src for j in range(len(ex.steps)) for f in ex.feeds[j]}
    keep = [j for j in steps if not ex.steps[j].read_only or j not in later]
    return keep or steps[-1:]


CONNECT = ["{a} and {b}", "{a}, and also {b}", "{a}; {b} too"]


def request_text(ex: Execution, steps: list[int], tools: dict[str, ToolInfo], rng: random.Random,
                 withheld: dict[int, tuple[str, ...]] | None = None, opener: bool = True) -> str:
    """A request for `steps` that states the goal, not the procedure: lookups that only find a record are left
    implicit (the record is named instead), and the rest are asked for in one or two sentences."""
    withheld = withheld or {}
    asks = [step_phrase(j, ex, tools, "user", withheld.get(j, ())) for j in salient(ex, steps)]
    if len(asks) == 1:
        body = rng.choice(FIRST).format(x=asks[0])
    elif len(asks) == 2:
        body = rng.choice(FIRST).format(x=rng.choice(CONNECT).format(a=asks[0], b=asks[1]))
    else:
        body = rng.choice(FIRST).format(x=", ".join(asks[:-1]) + " and " + asks[-1])
    text = (rng.choice(OPENERS) if opener else "") + body
    return re.sub(r"\s+", " ", text).strip()


def goal_text(ex: Execution, tools: dict[str, ToolInfo]) -> str:
    """The hidden intent in words, as the user would put it to themselves."""
    asks = [step_phrase(j, ex, tools, "user") for j in salient(ex, list(range(len(ex.steps))))]
    return "I want to " + join_and(asks) + "."


def actions(ex: Execution, tools: dict[str, ToolInfo], steps: list[int] | None = None) -> list[str]:
    return [step_phrase(j, ex, tools, "assistant") for j in (range(len(ex.steps)) if steps is None else steps)]
