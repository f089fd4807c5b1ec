"""The offline assistant: it knows the procedure (which tools, in which order, what feeds what) but no argument value.

Every value it sends comes from the conversation: a fact the user's messages state (their surface text is in a
user message), a record it found in its own tool results by the name or date the user gave, or the output of a
record it created itself. It asks for a value it needs and was not told, says so when a search finds nothing, and
answers with what it found. So its transcript is evidence a model could have produced from the same messages.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from synthesizer.data.records import Fact, Reference
from synthesizer.query.roles.base import AssistantTurn, RawCall, Sample
from synthesizer.task import say
from synthesizer.task.build import unwrap
from synthesizer.task.lexicon import operation, plural
from synthesizer.task.state import fits, name_of
from synthesizer.task.told import Told

LEADS = ["", "", "", "All set. ", "Done! ", "Sure thing. ", "Okay. ", "No problem. ", "Right, here you go. ",
         "Here's where things stand. ", "Good news. ", "That's sorted. ", "Of course. "]
FOUND = ["I found {n} {noun}", "There are {n} {noun}", "{N} {noun} came up",
         "I see {n} {noun}"]
SEARCHY = ("q", "query", "search", "keyword", "keywords", "term", "name", "title", "text_query")
REFUSE = ["I'm sorry, but I can't help with that. The tools I have here only work with {what}, and none of them "
          "can do this.", "Unfortunately that's outside what I can do: I can only work with {what} here.",
          "I can't help with that one, I'm afraid. My tools cover {what}, nothing more."]


def user_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("content") or "" for m in messages if m.get("role") == "user")


def said_facts(told: Told, text: str) -> list[Fact]:
    """The task's facts whose surface text a user message carries: what the assistant has been told."""
    low = text.lower()
    return [f for f in [*told.task.known_info, *told.task.held_back] if f.said and f.said.lower() in low]


def said_refs(told: Told, text: str) -> dict[int, Reference]:
    low = text.lower()
    return {i: r for i, r in enumerate(told.task.references) if r.said.lower() in low}


def _get_path(output: Any, path: str) -> list[tuple[Any, dict[str, Any] | None]]:
    """Every value at `path` (`orders[].id`) with the record holding it."""
    found: list[tuple[Any, dict[str, Any] | None]] = [(output, output if isinstance(output, dict) else None)]
    for part in path.split("."):
        key = part.rstrip("[]")
        nxt: list[tuple[Any, dict[str, Any] | None]] = []
        for cur, rec in found:
            if key:
                if not isinstance(cur, dict) or key not in cur:
                    continue
                cur = cur[key]
            if part.endswith("[]"):
                if isinstance(cur, list):
                    nxt += [(item, item if isinstance(item, dict) else rec) for item in cur]
            else:
                nxt.append((cur, cur if isinstance(cur, dict) else rec))
        found = nxt
    return found


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    cur: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt_list = not last and parts[i + 1].startswith("[")
        if part.startswith("["):
            idx = int(part[1:-1])
            while len(cur) <= idx:
                cur.append({})
            if last:
                cur[idx] = value
            else:
                cur = cur[idx]
        elif last:
            cur[part] = value
        else:
            cur = cur.setdefault(part, [] if nxt_list else {})


class HonestAssistant:
    def __init__(self, sample: Sample):
        self.s = sample
        self.told: Told | None = sample.told
        self.outputs: dict[int, Any] = {}  # step -> its output in this rollout
        self.pending: list[list[int]] = []
        self.segment = -1
        self.asked: set[str] = set()
        self.calls: dict[str, int] = {}  # call id -> step

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AssistantTurn:
        s = self.s
        if s.kind == "irrelevance" or s.plan is None or self.told is None:
            return AssistantTurn(content=self._decline(tools))
        self._read_results(messages)
        if messages[-1].get("role") == "user":
            if self._need_asking(messages):
                return self._question(messages)
            if s.kind == "missing_info":
                return AssistantTurn(content="Before I go ahead I need one more detail from you.")
            self.segment += 1
            if self.segment >= len(s.segments):
                return AssistantTurn(content=s.rng.choice(["You're welcome!", "Glad I could help.",
                                                           "Anytime. Have a good day!"]))
            wanted = set(s.segments[self.segment]) & self._needed()
            self.pending = [lv for level in s.plan.skeleton.levels() if (lv := [j for j in level if j in wanted])]
        if self.pending:
            level = self.pending.pop(0)
            n = sum(1 for m in messages if m.get("role") == "assistant")
            calls: list[RawCall] = []
            for i, j in enumerate(level):
                args = self._arguments(j, messages)
                if args is None:
                    self.pending = []
                    return AssistantTurn(content=self._not_found(j, messages))
                cid = f"call_{n}_{i}"
                self.calls[cid] = j
                calls.append(RawCall(id=cid, name=s.plan.steps[j].name, arguments=json.dumps(args,
                                                                                          ensure_ascii=False)))
            return AssistantTurn(tool_calls=calls)
        return AssistantTurn(content=self._answer(messages))

    def _needed(self) -> set[int]:
        """The steps worth calling: the salient ones and the lookups they depend on (transitively)."""
        assert self.told is not None and self.s.plan is not None
        need = set(self.told.salient)
        frontier = list(need)
        while frontier:
            j = frontier.pop()
            for f in self.s.plan.feeds[j]:
                if f.src not in need:
                    need.add(f.src)
                    frontier.append(f.src)
        return need

    def _decline(self, tools: list[dict[str, Any]]) -> str:
        """No shown tool fits: say so, naming what the tools do cover (from the tool list it was given)."""
        nouns: list[str] = []
        for t in tools:
            op = operation(t["function"]["name"].split("__")[-1], False)
            noun = plural(op.target or op.noun) if (op.target or op.noun) else ""
            if noun and noun not in nouns:
                nouns.append(noun)
        return self.s.rng.choice(REFUSE).format(what=say.join_and(nouns[:3]) or "a few specific things")

    # --- what it was told and what it found ---------------------------------------------------------------------

    def _read_results(self, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            if m.get("role") == "tool" and m.get("tool_call_id") in self.calls:
                j = self.calls[m["tool_call_id"]]
                try:
                    self.outputs[j] = json.loads(m.get("content") or "null")
                except ValueError:
                    self.outputs[j] = m.get("content")

    def _need_asking(self, messages: list[dict[str, Any]]) -> bool:
        assert self.told is not None
        text = user_text(messages)
        said = said_facts(self.told, text)
        return any(f not in said and (f.param or "") not in self.asked for f in self.told.task.held_back)

    def _question(self, messages: list[dict[str, Any]]) -> AssistantTurn:
        assert self.told is not None
        text = user_text(messages)
        said = said_facts(self.told, text)
        missing = [f for f in self.told.task.held_back if f not in said and (f.param or "") not in self.asked]
        for f in missing:
            self.asked.add(f.param or "")
        return AssistantTurn(content=say.clarify(missing[0], self.s.rng) if len(missing) == 1 else
                             "Could you tell me the " + say.join_and([f.slot for f in missing]) + "?")

    def _arguments(self, j: int, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Step j's arguments from what was said and found; None when a record it needs is not in the results."""
        assert self.told is not None and self.s.plan is not None
        plan = self.s.plan
        told = self.told
        text = user_text(messages)
        facts = [f for f in said_facts(told, text) if f.step == j]
        refs = said_refs(told, text)
        args: dict[str, Any] = {}
        gold = plan.steps[j].arguments
        for f in plan.feeds[j]:
            value = self._found(f.src, f.field, j, refs)
            if value is _MISSING:
                return None
            member = None
            if isinstance(gold.get(f.param), (dict, list)):  # a composite argument: the found id goes inside it
                member = next((p for p, v in _leaf_paths(gold[f.param], f.param) if v == f.value), None)
            if member:
                shell = args.setdefault(f.param, [] if isinstance(gold[f.param], list) else {})
                _set_path({f.param: shell}, member, value)
            else:
                args[f.param] = value
        for fact in facts:
            path = fact.param or ""
            if "." in path or "[" in path:
                _set_path(args, path, copy.deepcopy(fact.value))
            else:
                args[path] = copy.deepcopy(fact.value)
        if plan.steps[j].read_only and j not in told.salient:  # a lookup for a record the user named
            for name in gold:
                if name in args or name.lower() not in SEARCHY:
                    continue
                named = self._name_wanted(j, refs)
                if named:
                    args[name] = named
        order = list(gold)
        return {k: args[k] for k in sorted(args, key=lambda k: order.index(k) if k in order else len(order))}

    def _name_wanted(self, j: int, refs: dict[int, Reference]) -> str | None:
        """The name of the record a later step needs from this lookup, as the user gave it."""
        assert self.s.plan is not None
        for d, feeds in enumerate(self.s.plan.feeds):
            for f in feeds:
                if f.src == j:
                    ref = next((r for r in refs.values() if d in r.steps), None)
                    name = next((v for v in (ref.match.values() if ref else []) if isinstance(v, str)
                                 and not re.match(r"\d{4}-\d\d-\d\d", v)), None)
                    if name:
                        return name
        return None

    def _found(self, src: int, field: str, j: int, refs: dict[int, Reference]) -> Any:
        """The value at `field` of step src's output in this rollout: the item fitting the user's reference."""
        if src not in self.outputs:
            return _MISSING
        options = _get_path(self.outputs[src], field)
        if not options:
            return _MISSING
        ref = next((r for r in refs.values() if j in r.steps), None)
        if ref is not None and "[]" in field:
            options = [(v, rec) for v, rec in options if rec is not None and _fits_said(rec, ref)]
        elif "[]" in field and len(options) > 1:
            return _MISSING  # several records and nothing said which one
        return options[0][0] if len(options) == 1 or ref is None else (options[0][0] if options else _MISSING)

    def _not_found(self, j: int, messages: list[dict[str, Any]]) -> str:
        assert self.told is not None
        refs = said_refs(self.told, user_text(messages))
        ref = next((r for r in refs.values() if j in r.steps), None)
        what = ref.said if ref else "what you described"
        return f"I looked, but I couldn't find {what}. Could you check the details?"

    def _answer(self, messages: list[dict[str, Any]]) -> str:
        """What was done and found in this turn's steps, from this rollout's own results."""
        assert self.told is not None and self.s.plan is not None
        told = self.told
        refs = said_refs(told, user_text(messages))
        steps = [j for j in told.salient if j in self.s.segments[self.segment]]
        parts = []
        for j in steps:
            st = told.steps[j]
            ref = refs[st.ref].said if st.ref is not None and st.ref in refs else None
            out = self.outputs.get(j)
            if st.op.kind in ("get", "list", "search"):
                parts.append(self._report(j, ref, out))
            else:
                said = {i: r.said for i, r in refs.items()}
                parts.append(say.done_clause(st.op, say.clause(st, told, self.s.plan, said)))
        text = ". ".join(say.cap(p) for p in parts if p) + "."
        return self.s.rng.choice(LEADS) + text

    def _report(self, j: int, ref: str | None, out: Any) -> str:
        assert self.told is not None
        st = self.told.steps[j]
        out = unwrap(out)
        items = _list_of(out)
        if items is not None:
            if not items:
                return f"I found no {say.plural_noun(st.op)}"
            names = [n for it in items if isinstance(it, dict) and (n := _name(it))]
            shown = say.join_and([f'"{n}"' for n in names[:3]])
            more = f", plus {len(items) - 3} more" if len(items) > 3 and names else ""
            noun = say.plural_noun(st.op) if len(items) != 1 else (st.op.noun or "result")
            lead = self.s.rng.choice(FOUND).format(n=len(items), N=len(items), noun=noun)
            return lead + (f": {shown}{more}" if shown else "")
        if not isinstance(out, dict):
            return f"here is what I got: {str(out)[:200]}"
        wanted = [self.told.task.communicate_info[i] for i in st.told]
        bits = []
        for f in wanted:
            value = out.get(f.param or "")
            if value is not None:
                bits.append(f"the {f.slot} is {say.value_said(f.param or '', value, f.slot)}")
        target = say.yours(ref) or (f"your {st.op.noun}" if st.op.noun else "your account")
        if not bits:
            return f"I pulled up {target}, but it has no details to report"
        return f"for {target}, " + say.join_and(bits)


_MISSING = object()


def _fits_said(record: dict[str, Any], ref: Reference) -> bool:
    """Does a listed record fit what the user said? By its own fields, or (a record named by what it links to) by
    the linked record's route and day appearing in the listed record's own text."""
    if not ref.via:
        return fits(record, ref.match)
    text = json.dumps(record, ensure_ascii=False)
    return all(str(v)[:10] in text for k, v in ref.via.items() if k != "entity")


def _leaf_paths(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _leaf_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _leaf_paths(v, f"{path}[{i}]")]
    return [(path, value)]


def _list_of(out: Any) -> list[Any] | None:
    if isinstance(out, list):
        return out
    if isinstance(out, dict) and "id" not in out:
        lists = [v for v in out.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return None


def _name(record: dict[str, Any]) -> str | None:
    named = name_of(record)
    return named[1] if named else None
