"""Defects of the task, the plan and the answers (quality classes 5-8, 10): ambiguous and post-write references,
read-backs, glued servers, lookups that report nothing. Definitions: synthesizer/data/quality.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from synthesizer.data.quality_read import (
    ISO_DAY,
    ISO_STAMP,
    Found,
    answers,
    contains,
    dedupe,
    leaves,
    said_value,
    text_of,
    user_texts,
)
from synthesizer.data.records import Fact, Reference, Trajectory

NOTHING = re.compile(r"\b(no|none|nothing|not find|couldn't find|could not find|didn't find|did not find|empty|"
                     r"zero|0|aren't any|isn't any|not any)\b")


# ---------------------------------------------------------------------------------------------------------- 5-6. refs


def collection_records(state: Any, path: str) -> list[dict[str, Any]]:
    """The records at a key path (`orders`, `calendars.cal_1.events`, `items[0].lines`): a dict of records by key
    or a list of records; [] when the path leads nowhere."""
    cur = state
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, dict):
        return [v for v in cur.values() if isinstance(v, dict)]
    if isinstance(cur, list):
        return [v for v in cur if isinstance(v, dict)]
    return []


def _field(record: dict[str, Any], key: str) -> Any:
    if key in record:
        return record[key]
    cur: Any = record
    for part in key.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def fits(record: dict[str, Any], match: dict[str, Any]) -> bool:
    for key, want in match.items():
        got = _field(record, key)
        if isinstance(want, str) and isinstance(got, str):
            if ISO_DAY.match(want) and ISO_STAMP.match(got):
                if got[:10] != want:
                    return False
            elif want.strip().casefold() != got.strip().casefold():
                return False
        elif isinstance(want, str | int | float) and isinstance(got, str | int | float) \
                and not isinstance(want, bool) and not isinstance(got, bool):
            if str(want).casefold() != str(got).casefold():
                return False
        elif want != got:
            return False
    return True


def fitting(ref: Reference, states: dict[str, Any]) -> int | None:
    """How many records of the initial State the reference's `match` fits (None: no State for its server)."""
    state = states.get(ref.server)
    if state is None:
        return None
    return sum(fits(r, ref.match) for r in collection_records(state, ref.collection))


def _ref_name(ref: Reference) -> str:
    return f"{ref.entity} {ref.said!r} ({ref.server}.{ref.collection} {json.dumps(ref.match, ensure_ascii=False)})"


def _references(t: Trajectory, bad: Any) -> Found | None:
    if t.task is None:
        return None
    items, judged = [], 0
    for ref in t.task.references:
        n = fitting(ref, t.initial_states)
        if n is None:
            continue
        judged += 1
        if bad(n):
            items.append(f"{_ref_name(ref)} fits {n}")
    return Found(items, units=judged, hits=len(items))


def ambiguous_reference(t: Trajectory) -> Found | None:
    return _references(t, lambda n: n > 1)


def post_write_reference(t: Trajectory) -> Found | None:
    return _references(t, lambda n: n == 0)


# ---------------------------------------------------------------------------------------------------------- 7-8. plan


def readback(t: Trajectory) -> Found:
    writes = {c.step: c.name for c in t.plan if not c.read_only}
    found = [f"step {c.step} {c.name} reads step {d.src} {writes[d.src]}" for c in t.plan
             if c.required and c.read_only for d in c.depends if d.src in writes]
    return Found(dedupe(found))


def glued_servers(t: Trajectory) -> Found | None:
    server_of = {c.step: c.server for c in t.plan}
    servers = sorted(set(server_of.values()))
    if len(servers) < 2:
        return None
    edges = [(d.src, c.step) for c in t.plan for d in c.depends] + [(e[0], e[1]) for e in t.topology.edges]
    if any(server_of.get(a) not in (None, server_of.get(b)) for a, b in edges if b in server_of):
        return Found([])
    return Found([f"no dependency between {', '.join(servers)}"])


# ---------------------------------------------------------------------------------------------------------- 10. told


def results(t: Trajectory) -> list[Any]:
    """Every tool result of the conversation, parsed (a text that is not JSON: its non-empty lines)."""
    out: list[Any] = []
    for m in t.messages:
        if m.get("role") == "tool":
            text = text_of(m)
            try:
                out.append(json.loads(text))
            except ValueError:
                out.append([line.strip() for line in text.splitlines() if line.strip()])
    return out


def _lengths(doc: Any) -> Iterator[int]:
    if isinstance(doc, list):
        if doc:
            yield len(doc)
        for v in doc:
            yield from _lengths(v)
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _lengths(v)


def reportable(doc: Any) -> list[Any]:
    """What an answer could report from one result: strings of 3+ characters, numbers."""
    return [v for _, v, _ in leaves(doc, "", {}, {})
            if isinstance(v, int | float) and not isinstance(v, bool) or isinstance(v, str) and len(v.strip()) >= 3]


def _empty(doc: Any) -> bool:
    return not reportable(doc) or doc == [] or isinstance(doc, dict) and any(v == [] for v in doc.values())


def _count_said(n: int, answer: str, said: str) -> bool:
    """'3 flights': the count before a word, a phrase the user did not say ('March 3, 2026' is no count)."""
    counts = re.finditer(rf"(?<![\w.,]){n} (?!(?:am|pm)\b)[a-z]\w*", answer)
    return any(m.group(0) not in said for m in counts)


def reports_found(t: Trajectory, answer: str) -> bool:
    """The answers state a value of a tool result the user had not said, or how many items a result listed (the
    user cannot have known), or, when a result came back empty, that nothing was found."""
    said = "\n".join(user_texts(t)).lower()
    docs = results(t)
    if any(said_value(v, answer) for d in docs for v in reportable(d) if not said_value(v, said)):
        return True
    if any(_count_said(n, answer, said) for d in docs for n in _lengths(d)):
        return True
    return any(_empty(d) for d in docs) and NOTHING.search(answer) is not None


def told(fact: Fact, answer: str) -> bool:
    """The answer states the fact (`said` or its value); a count of 0 also as "no ...", "didn't find any"."""
    if fact.said.strip() and contains(answer, fact.said.strip().lower()) or said_value(fact.value, answer):
        return True
    return fact.value == 0 and not isinstance(fact.value, bool) and NOTHING.search(answer) is not None


def lookup_unreported(t: Trajectory) -> Found | None:
    task = t.task
    lookup = task.lookup_only if task is not None else bool(t.plan) and not any(not c.read_only for c in t.plan)
    judged = t.kind not in ("irrelevance", "missing_info")  # those end by declining or asking, not reporting
    lookup = lookup and judged
    facts = task.communicate_info if task is not None and judged else []
    if not lookup and not facts:
        return None
    answer = answers(t).lower()
    items = [] if not lookup or reports_found(t, answer) else ["the final answer reports nothing that was found"]
    items += [f"untold {f.slot}: {f.said}" for f in facts if not told(f, answer)]
    return Found(items)
