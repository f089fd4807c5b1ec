"""A grounded plan becomes a task: who asks, which records they mean (resolved against the initial State, unique),
what they state, what the assistant must find, and what it must tell them. A plan that cannot be told this way
(a record nobody could single out, a value with no words for it) raises TaskUnfit and the sample is not made."""

from __future__ import annotations

import random
from typing import Any

from synthesizer.data.records import Fact, Reference, Task
from synthesizer.discovery.tools import ToolInfo
from synthesizer.errors import SynthError
from synthesizer.plan.grounded import FedValue, GroundedPlan
from synthesizer.plan.schema import entity_of_param, is_id_like, properties, required, resolve
from synthesizer.task import say
from synthesizer.task.lexicon import Operation, is_address_part, operation, slot
from synthesizer.task.state import Located, count_fits, date_of, describe, describe_via, locate, name_of
from synthesizer.task.told import StepTask, Told

OWNER_KEYS = ("customer_id", "owner_id", "user_id", "passenger_id", "guest_id", "member_id", "organizer_id",
              "account_id", "contact_id", "author_id", "created_by")
INFORMATIVE = ("status", "state", "total", "total_cents", "amount", "price", "price_cents", "balance", "date",
               "starts_at", "start", "ends_at", "end", "departs_at", "arrives_at", "due", "seat", "count", "quantity",
               "location", "city", "email", "phone", "rating", "duration", "stock", "available", "capacity",
               "origin", "destination", "currency", "priority", "type", "kind", "category", "description")
MAX_TOLD = 2
PEOPLE = ("customer", "user", "contact", "member", "passenger", "guest", "person", "employee", "client", "attendee",
          "traveler", "traveller", "owner", "author", "patient", "student")
LIST_NAMES = 3


class TaskUnfit(SynthError):
    """The plan cannot be told as a person's task (the message says why; `kind` is the rejection's class)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def salient(plan: GroundedPlan) -> list[int]:
    """The steps a person asks for: writes, and reads whose result is not only a means to a later step. A read of
    what the same request writes is no one's goal (the write's result already says it): it is left out."""
    later = {f.src for j in range(len(plan.steps)) for f in plan.feeds[j]}
    writes = {j for j, s in enumerate(plan.steps) if not s.read_only}
    keep = [j for j, s in enumerate(plan.steps)
            if not s.read_only or (j not in later and not any(f.src in writes for f in plan.feeds[j]))]
    return keep or [len(plan.steps) - 1]


def unwrap(output: Any) -> Any:
    """`{"customer": {...}}` -> the customer: a single-key wrapper says nothing a person would report."""
    while isinstance(output, dict) and len(output) == 1 and isinstance(next(iter(output.values())), dict):
        output = next(iter(output.values()))
    return output


def build_task(plan: GroundedPlan, tools: dict[str, ToolInfo], states: dict[str, Any], rng: random.Random,
               withheld: dict[int, tuple[str, ...]] | None = None) -> Told:
    """The task of a grounded plan; `task.user` stays empty when the State names no person who asks (the
    planner's persona then asks)."""
    withheld = withheld or {}
    keys = salient(plan)
    ops = {j: operation(s.tool, s.read_only, tools[s.name].destructive) for j, s in enumerate(plan.steps)}
    task = Task(user="", goal="")
    refs_by_id: dict[tuple[str, str], int] = {}
    step_tasks: dict[int, StepTask] = {}
    creators = {j for j, op in ops.items() if op.kind == "create" and not plan.steps[j].read_only}
    for j in range(len(plan.steps)):
        st = StepTask(step=j, op=ops[j], ref=None, made_from=None, facts=[], told=[])
        for f in plan.feeds[j]:
            task.unknown_info.append(Fact(slot=f"the {say.entity_words(f.param, ops[f.src])} id", value=f.value,
                                          said="", step=j, param=f.param))
            if f.src in creators:
                st.made_from = f.src
                continue
            ref = _reference(plan, j, f, ops, states, refs_by_id, task)
            if st.ref is None:
                st.ref = ref
        if j in keys or _means_needs_words(plan, j, tools):
            for name, value in _stated(plan, j, tools, means=j not in keys).items():
                label = slot(say.leaf(name))
                if label is None:
                    raise TaskUnfit(f"{plan.steps[j].name}.{name} has no words a person would use",
                                   "a stated value has no words")
                fact = Fact(slot=label, value=value, said=say.value_said(say.leaf(name), value, label), step=j,
                            param=name)
                if name in withheld.get(j, ()):
                    task.held_back.append(fact)
                else:
                    task.known_info.append(fact)
                    st.facts.append(len(task.known_info) - 1)
        if j in keys and plan.steps[j].read_only:
            known = {repr(f.value) for f in task.known_info} | {repr(v) for r in task.references
                                                                 for v in r.match.values()}
            for fact in _told(plan.steps[j].output, ops[j], known):
                task.communicate_info.append(fact.model_copy(update={"step": j}))
                st.told.append(len(task.communicate_info) - 1)
        step_tasks[j] = st
    task.lookup_only = all(plan.steps[j].read_only for j in keys)
    task.user = _user(task, states)
    told = Told(task=task, steps=step_tasks, salient=keys, excerpt=_excerpt(task, states))
    task.goal = say.goal(told, plan, rng)
    task.reason = say.reason(told, rng)
    return told


def _means_needs_words(plan: GroundedPlan, j: int, tools: dict[str, ToolInfo]) -> bool:
    """A lookup that only finds a record for a later step is told only when it needs values the user has
    (a flight search's route and date), not when a reference's name is enough to find it."""
    return plan.steps[j].read_only and bool(_stated(plan, j, tools, means=True))


def _stated(plan: GroundedPlan, j: int, tools: dict[str, ToolInfo], means: bool = False) -> dict[str, Any]:
    """The values of step j the user must state: every argument not fed from an earlier output and not an id or
    paging control, address parts included. A lookup that is only a means needs its required values alone (its
    optional filters narrow a list the assistant can read through)."""
    step = plan.steps[j]
    tool = tools[step.name]
    fed = {f.param for f in plan.feeds[j]}
    props = properties(tool.input_schema)
    req = set(required(tool.input_schema))
    out: dict[str, Any] = {}
    for name, value in step.arguments.items():
        schema = resolve(props.get(name, {}), tool.input_schema)
        if name in fed or is_id_like(name, schema) or value in (None, "", [], {}) or (means and name not in req):
            continue
        if name.lower() in ("limit", "offset", "cursor", "page", "page_size", "page_token", "per_page"):
            continue
        if name not in req and "enum" in schema and schema.get("default") == value:
            continue
        if isinstance(value, dict) and all(is_address_part(k) for k in value):
            out.update({f"{name}.{k}": v for k, v in value.items() if v not in (None, "")})
            continue
        out[name] = value
    for f in plan.feeds[j]:  # a composite argument fed one member (`items[0].product_id`): its other leaves are said
        value = step.arguments.get(f.param)
        for path, leaf_value in _leaves(value, f.param):
            if not is_id_like(path.rsplit(".", 1)[-1]) and leaf_value not in (None, "", [], {}):
                out[path] = leaf_value
    return out


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _leaves(v, f"{path}[{i}]")]
    return [] if path.count(".") == 0 and "[" not in path else [(path, value)]


def _reference(plan: GroundedPlan, j: int, f: FedValue, ops: dict[int, Operation], states: dict[str, Any],
               refs_by_id: dict[tuple[str, str], int], task: Task) -> int:
    server = plan.steps[j].server
    key = (server, repr(f.value))
    if key in refs_by_id:
        ref = task.references[refs_by_id[key]]
        ref.steps.append(j)
        return refs_by_id[key]
    entity = say.entity_words(f.param, ops[f.src])
    state = states.get(server)
    found: Located | None = locate(state, f.value) if state is not None else None
    if found is not None:
        match = describe(found.record, found.siblings)
        via: dict[str, Any] = {}
        if match is None and (linked := describe_via(found.record, found.siblings, state)) is not None:
            match, via = linked
        if match is None:
            raise TaskUnfit(f"no name or date singles out the {entity} {f.value!r} among {len(found.siblings)}",
                            "no reference singles the record out")
        ref = Reference(entity=entity, said="", server=server, collection=found.collection, record_id=f.value,
                        match=match, candidates=count_fits(found.siblings, match), steps=[j], param=f.param,
                        via=via)
        ref.said = say.reference(ref, found.record)
    elif state is not None:
        raise TaskUnfit(f"the {entity} {f.value!r} is not in the initial State (made by this request?)",
                        "the record exists only after a write")
    else:  # no State to resolve against (a third-party server): the record's own name, from the output
        named = name_of(f.record or {}) if f.record else None
        if named is None:
            raise TaskUnfit(f"the {entity} found by {plan.steps[f.src].tool} has no name a person could say",
                            "the record has no name")
        ref = Reference(entity=entity, said="", server=server, collection="", record_id=f.value,
                        match={named[0]: named[1]}, candidates=1, steps=[j], param=f.param)
        ref.said = say.reference(ref, f.record or {})
    task.references.append(ref)
    refs_by_id[key] = len(task.references) - 1
    return refs_by_id[key]


def _told(output: Any, op: Operation, known: set[str] | None = None) -> list[Fact]:
    """What a lookup must tell the user: a record's most informative fields, or a list's size and names."""
    output = unwrap(output)
    items = _list_in(output)
    if items is not None:
        names = [n[1] for it in items if isinstance(it, dict) and (n := name_of(it))]
        count = str(len(items)) if items else f"no {say.plural_noun(op)}"
        facts = [Fact(slot=f"how many {say.plural_noun(op)}", value=len(items), said=count, param="len")]
        facts += [Fact(slot="name", value=n, said=n, param="name") for n in names[:LIST_NAMES]]
        return facts
    record = output if isinstance(output, dict) else None
    if record is None:
        return []
    flat = {k: v for k, v in record.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    known = known or set()  # what the user said is no news: the answer must tell something else
    ranked = [k for k in INFORMATIVE if k in flat and not is_id_like(k) and flat[k] not in ("", None)
              and repr(flat[k]) not in known]
    if not ranked:
        ranked = [k for k, v in flat.items() if not is_id_like(k) and isinstance(v, (int, float))][:1]
    out = []
    for k in ranked[:MAX_TOLD]:
        label = slot(k.removesuffix("_cents")) or k.removesuffix("_cents").replace("_", " ")
        out.append(Fact(slot=label, value=flat[k], said=say.value_said(k, flat[k], label), param=k))
    return out


def _list_in(output: Any) -> list[Any] | None:
    """The list a lookup returned (`{"events": [...], "next_cursor": null}`); a record with an id is no list."""
    if isinstance(output, list):
        return output
    if isinstance(output, dict) and "id" not in output:
        lists = [v for v in output.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return None


def _user(task: Task, states: dict[str, Any]) -> str:
    """The person who asks: the person a referenced record is (a customer asking about themselves) or its owner
    when the State names one, else the persona."""
    for ref in task.references:
        state = states.get(ref.server)
        found = locate(state, ref.record_id) if state is not None else None
        if found is None:
            continue
        named = name_of(found.record)
        if named and any("email" in k for k in found.record) and ref.entity in PEOPLE:
            return f"{named[1]}, a {ref.entity}"
        for key in OWNER_KEYS:
            owner = locate(state, found.record.get(key)) if found.record.get(key) else None
            named = name_of(owner.record) if owner else None
            if named:
                return f"{named[1]}, who owns the {ref.entity}"
    return ""


def _excerpt(task: Task, states: dict[str, Any]) -> list[dict[str, Any]]:
    """The referenced records as the initial State holds them (scalars only, for the model roles' prompts)."""
    out = []
    for ref in task.references:
        found = locate(states.get(ref.server), ref.record_id) if ref.server in states else None
        if found is not None:
            out.append({"refers_to": ref.said, "record": {k: v for k, v in found.record.items()
                                                          if not isinstance(v, (dict, list))}})
    return out


def when_of(record: dict[str, Any]) -> str | None:
    day = date_of(record)
    return day[1] if day else None


__all__ = ["StepTask", "TaskUnfit", "Told", "build_task", "entity_of_param", "salient", "when_of"]
