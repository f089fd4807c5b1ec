"""Did the assistant make the plan's required calls with the right arguments? One implementation, shared by the
synthesizer's verification and by the RL reward, so that a sample is verified exactly when its gold calls score 1.

Rules (see `match_calls`): each required plan call needs its own made call with the same (namespaced) name and equal
arguments, except the plan's `free` arguments (absent or any value). Values compare as JSON with light normalisation:
1 == 1.0 (but True != 1), strings after strip, dict key order ignored, list order kept. An argument the plan did not
pass counts as equal only when the assistant passed it as null. Order is free except that a call fed by another
(`PlanCall.depends`) must come after it. Calls that returned an error are never a match (they changed nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from synthesizer.data.records import CallCheck, PlanCall

SEARCH_BUDGET = 20_000  # assignment search steps before settling for the best found (plans are a handful of calls)
SHOWN_CHARS = 80  # longest value shown in a human-readable line


class MadeCall(BaseModel):
    """A call the assistant made, as the reward and the verifier see it."""

    name: str  # namespaced <server>__<tool>, as shown to the assistant
    arguments: dict[str, Any] | None  # None: the arguments did not parse as a JSON object
    raw: str | None = None  # the arguments as the model wrote them
    error: bool = False  # the tool returned isError


class CallMatch(BaseModel):
    """`match_calls` with its workings: which made call answered which plan call (indexes into both lists)."""

    check: CallCheck
    pairs: list[tuple[int, int]] = Field(default_factory=list)  # (plan index, made index) of exact matches
    required: int = 0
    tolerated: list[str] = Field(default_factory=list)  # unmatched reads (not penalised)
    errored: list[str] = Field(default_factory=list)  # calls that returned isError

    @property
    def matched_required(self) -> int:
        return self.required - len(self.check.missing) - len(self.check.mismatched)


# --- values ----------------------------------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def values_equal(expected: Any, got: Any) -> bool:
    """JSON equality with light normalisation (numbers by value, strings stripped, dict order ignored)."""
    if _is_number(expected) and _is_number(got):
        return float(expected) == float(got)
    if isinstance(expected, str) and isinstance(got, str):
        return expected.strip() == got.strip()
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(values_equal(v, got[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(values_equal(a, b) for a, b in zip(expected, got, strict=True))
    return type(expected) is type(got) and expected == got


def shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def describe_call(name: str, arguments: dict[str, Any] | None, free: Iterable[str] = ()) -> str:
    """`name(a="x", b=2)`; free arguments show as `b=*`."""
    if arguments is None:
        return f"{name}(<unparsed arguments>)"
    free = set(free)
    args = ", ".join(f"{k}={'*' if k in free else shown(v)}" for k, v in sorted(arguments.items()))
    return f"{name}({args})"


def argument_differences(plan: PlanCall, got: dict[str, Any]) -> list[str]:
    """`arg: expected X, got Y` for every argument that breaks the match (empty: the arguments match)."""
    out: list[str] = []
    for key in sorted(set(plan.arguments) | set(got)):
        if key in plan.free:
            continue
        if key not in got:
            out.append(f"{key}: expected {shown(plan.arguments[key])}, got nothing")
        elif key not in plan.arguments:
            if got[key] is not None:
                out.append(f"{key}: expected nothing, got {shown(got[key])}")
        elif not values_equal(plan.arguments[key], got[key]):
            out.append(f"{key}: expected {shown(plan.arguments[key])}, got {shown(got[key])}")
    return out


# --- assignment ------------------------------------------------------------------------------------------------------


def _dependencies(plan: list[PlanCall]) -> list[list[int]]:
    """For each plan call, the plan indexes of the calls that feed it."""
    index = {p.step: i for i, p in enumerate(plan)}
    return [sorted({index[f.src] for f in p.depends if f.src in index and index[f.src] != i})
            for i, p in enumerate(plan)]


def _order(n: int, deps: list[list[int]]) -> list[int]:
    """Plan indexes with every call after the calls feeding it (plan order otherwise; cycles keep plan order)."""
    done: list[int] = []
    seen: set[int] = set()

    def visit(i: int, trail: frozenset[int]) -> None:
        if i in seen or i in trail:
            return
        for d in deps[i]:
            visit(d, trail | {i})
        seen.add(i)
        done.append(i)

    for i in range(n):
        visit(i, frozenset())
    return done


def _assign(targets: list[int], candidates: dict[int, list[int]], deps: list[list[int]]) -> dict[int, int]:
    """The largest dependency-respecting assignment plan index -> made index (branch and bound, small inputs)."""
    best: dict[int, int] = {}
    current: dict[int, int] = {}
    used: set[int] = set()
    steps = 0

    def search(k: int) -> bool:  # True: stop (perfect assignment found or budget spent)
        nonlocal best, steps
        steps += 1
        if len(current) > len(best):
            best = dict(current)
        if len(best) == len(targets) or steps > SEARCH_BUDGET:
            return True
        if k == len(targets) or len(current) + len(targets) - k <= len(best):
            return False
        i = targets[k]
        floor = max((current[d] for d in deps[i] if d in current), default=-1)
        for j in candidates.get(i, []):
            if j in used or j <= floor:
                continue
            current[i] = j
            used.add(j)
            stop = search(k + 1)
            del current[i]
            used.discard(j)
            if stop:
                return True
        return search(k + 1)

    search(0)
    return best


# --- the check -------------------------------------------------------------------------------------------------------


def match_details(plan: list[PlanCall], made: list[MadeCall], known: set[str] | None = None,
                  read_only: set[str] | None = None) -> CallMatch:
    """`match_calls` plus the matched pairs and the tolerated reads; `read_only` names read tools outside the plan."""
    reads = {p.name for p in plan if p.read_only} | set(read_only or ())
    malformed = {j for j, m in enumerate(made) if m.arguments is None or (known is not None and m.name not in known)}
    errored = {j for j, m in enumerate(made) if m.error and j not in malformed}
    usable = [j for j in range(len(made)) if j not in malformed and j not in errored]
    deps = _dependencies(plan)
    targets = [i for i in _order(len(plan), deps) if plan[i].required]
    candidates = {i: [j for j in usable if made[j].name == plan[i].name
                      and not argument_differences(plan[i], made[j].arguments or {})] for i in targets}
    pairs = _assign(targets, candidates, deps)
    consumed = set(pairs.values())
    missing: list[str] = []
    mismatched: list[str] = []
    for i in targets:
        if i in pairs:
            continue
        line, j = _explain_unmatched(i, plan, made, usable, consumed, pairs, deps)
        if j is None:
            missing.append(line)
        else:
            consumed.add(j)
            mismatched.append(line)
    extra: list[str] = []
    tolerated: list[str] = []
    for j in usable:
        if j in consumed:
            continue
        line = describe_call(made[j].name, made[j].arguments)
        (tolerated if made[j].name in reads else extra).append(line)
    check = CallCheck(matched=not missing and not mismatched, missing=missing, mismatched=mismatched, extra=extra,
                      malformed=len(malformed))
    return CallMatch(check=check, pairs=sorted(pairs.items()), required=len(targets), tolerated=tolerated,
                     errored=[describe_call(made[j].name, made[j].arguments) for j in sorted(errored)])


def _explain_unmatched(i: int, plan: list[PlanCall], made: list[MadeCall], usable: list[int], consumed: set[int],
                       pairs: dict[int, int], deps: list[list[int]]) -> tuple[str, int | None]:
    """One line for a required call without a match, and the made call it blames (None: the call is missing)."""
    p = plan[i]
    same = [j for j in usable if j not in consumed and made[j].name == p.name]
    if not same:
        return f"{describe_call(p.name, p.arguments, p.free)}", None
    diffs = {j: argument_differences(p, made[j].arguments or {}) for j in same}
    j = min(same, key=lambda j: (len(diffs[j]), j))
    if diffs[j]:
        return f"{p.name}: " + "; ".join(diffs[j]), j
    feeders = [plan[d].name for d in deps[i] if d not in pairs or pairs[d] > j]
    return f"{p.name}: made before the call it depends on ({', '.join(feeders) or 'its source'})", j


def match_calls(plan: list[PlanCall], made: list[MadeCall], known: set[str] | None = None,
                read_only: set[str] | None = None) -> CallCheck:
    """Compare the assistant's calls with the plan's required calls (see the module docstring for the rules).

    `known`: the tool names shown to the assistant (a call naming another is malformed). `read_only`: names of read
    tools outside the plan, tolerated like the plan's reads; any other unmatched call is an extra write."""
    return match_details(plan, made, known, read_only).check
