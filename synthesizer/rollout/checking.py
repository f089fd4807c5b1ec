"""Deterministic verification of one rollout against the gold plan; every component is recorded separately.

State: the final State hash of each of the assistant's episodes against the gold scratch episode's (with a readable
diff when a farm control plane can show both States). Calls: the plan's required calls made with the right arguments
(free arguments ignored). Errors: a tool error the assistant did not recover from. Behaviour: what the sample kind
asks for (say no tool fits; ask for the missing fact; never call a distractor). Task: writes act on the record
the user's reference resolves to, no reference is ambiguous, no argument value comes from nowhere, the answer
tells the task's communicate_info (`grounding_checks`). The judge's veto is applied by the pipeline.
"""

from __future__ import annotations

from typing import Any

from synthesizer.data.leaks import leaked_tools
from synthesizer.data.messages import is_question
from synthesizer.data.records import CallCheck, Checks, PlanCall, split_qualified
from synthesizer.discovery.controlplane import ControlPlane, state_diff
from synthesizer.errors import SynthError
from synthesizer.query.compose import id_values
from synthesizer.query.refine import leaked_ids
from synthesizer.query.roles.base import Sample
from synthesizer.rollout.callmatch import match_calls
from synthesizer.rollout.conversation import Rollout
from synthesizer.rollout.grounding_checks import ambiguous_references, unexplained_values, untold_facts, wrong_records


def user_leaks(sample: Sample, rollout: Rollout) -> list[str]:
    """Tool names or internal ids in any user message (later turns come from the user simulator, unrefined)."""
    ids = id_values(sample.plan) if sample.plan is not None else set()
    found: list[str] = []
    for m in rollout.messages:
        if m.get("role") == "user":
            text = m.get("content") or ""
            found += [f"tool {t}" for t in leaked_tools(text, list(sample.tools))]
            found += [f"id {v}" for v in leaked_ids(text, ids)]
    return sorted(set(found))


def unhandled(rollout: Rollout) -> list[str]:
    """Errored calls not followed by a successful call of the same tool."""
    out = []
    for i, c in enumerate(rollout.made):
        if c.error and not any(d.name == c.name and not d.error for d in rollout.made[i + 1:]):
            out.append(f"{c.name}: {next((e for e in rollout.tool_errors if e.startswith(c.name)), 'error')}")
    return out


def behaviour(sample: Sample, rollout: Rollout, distractors: list[str]) -> tuple[bool, str]:
    last = next((m.get("content") or "" for m in reversed(rollout.messages) if m.get("role") == "assistant"), "")
    if sample.kind == "irrelevance":
        if rollout.made:
            return False, f"called {len(rollout.made)} tool(s) although none fits the request"
        return bool(last), "said that no available tool fits"
    if sample.kind == "missing_info":
        writes = [c.name for c in rollout.made if not sample.tools.get(c.name) or not sample.tools[c.name].read_only]
        if writes:
            return False, f"acted without the missing information ({', '.join(writes)})"
        return (True, "asked for the missing information") if is_question(last) else (
            False, "did not ask for the missing information")
    called = sorted({c.name for c in rollout.made if c.name in distractors})
    if called:
        return False, f"called distractor tool(s) {', '.join(called)}"
    return True, "no distractor called" if distractors else ""


async def state_check(plan_calls: list[PlanCall], expected: dict[str, str | None], rollout: Rollout,
                      episodes: dict[str, str], gold_episodes: dict[str, str],
                      control: ControlPlane | None) -> tuple[bool | None, list[str]]:
    """Hashes per server; None when a server sends none (third-party). A server the assistant never called keeps
    its initial State, which matches only if the plan made no write there."""
    verdicts: list[bool] = []
    diff: list[str] = []
    for server, want in expected.items():
        wrote = any(c.server == server and not c.read_only for c in plan_calls)
        got = rollout.state_hashes.get(server)
        if want is None:
            continue
        if got is None:
            ok = not wrote and not any(split_qualified(c.name)[0] == server for c in rollout.made)
        else:
            ok = got == want
        verdicts.append(ok)
        if not ok and control is not None:
            try:
                a, _ = await control.state(gold_episodes[server])
                b, _ = await control.state(episodes[server])
                diff += [f"{server}: {line}" for line in state_diff(a, b)]
            except SynthError as exc:
                diff.append(f"{server}: no diff ({exc})")
    if not verdicts:
        return None, diff
    return all(verdicts), diff


def _empty(out: Any) -> bool:
    """`[]`, `{}`, `{"entities": []}`: an answer that holds nothing."""
    if isinstance(out, dict):
        return all(_empty(v) for v in out.values())
    return out in (None, "", [])


def outputs_check(plan_calls: list[PlanCall], rollout: Rollout) -> bool | None:
    """For servers without State hashes: each required call of the plan was answered as in the gold run (writes
    too: a server without episodes shares one State between the gold run and the rollout, and a write that did
    nothing the second time must not pass for one that worked)."""
    wanted = [c for c in plan_calls if c.required]
    if not wanted:
        return None
    outputs = rollout.outputs
    writes = {c.name for c in plan_calls if not c.read_only}
    if any(name in writes and _empty(out) for name, out in outputs):
        return False  # a write that answered with nothing did nothing (it was already done, or found nothing)
    return all(any(name == c.name and out == c.output for name, out in outputs) for c in wanted)


async def verify(sample: Sample, plan_calls: list[PlanCall], expected: dict[str, str | None], rollout: Rollout,
                 episodes: dict[str, str], gold_episodes: dict[str, str], distractors: list[str],
                 control: ControlPlane | None, states: dict[str, Any] | None = None) -> Checks:
    known = set(sample.shown)
    reads = {n for n, t in sample.tools.items() if t.read_only}
    calls = match_calls(plan_calls, rollout.made, known, reads) if plan_calls else CallCheck(
        matched=True, extra=[c.name for c in rollout.made if c.name not in reads],
        malformed=sum(1 for c in rollout.made if c.arguments is None or c.name not in known))
    if sample.kind in ("irrelevance", "missing_info"):
        calls = CallCheck(matched=True, extra=[], malformed=calls.malformed)
    state_match, diff = await state_check(plan_calls, expected, rollout, episodes, gold_episodes, control)
    if sample.kind in ("irrelevance", "missing_info"):  # the State must stay as it was: no write at all
        state_match = not any(not (sample.tools.get(c.name) and sample.tools[c.name].read_only) for c in rollout.made)
    outputs = outputs_check(plan_calls, rollout) if state_match is None else None
    errors = unhandled(rollout)
    ok, why = behaviour(sample, rollout, distractors)
    finished = rollout.finished and (rollout.stopped_by_user or sample.mode == "single_turn"
                                     or sample.kind == "missing_info")
    leaks = user_leaks(sample, rollout)
    task = sample.told.task if sample.told is not None else None
    states = states or {}
    wrong = wrong_records(task, sample.plan, states, rollout.messages, sample.tools) \
        if task is not None and sample.plan is not None else []
    ambiguous = ambiguous_references(task, states) if task is not None else []
    unexplained, _ = unexplained_values(rollout.messages)
    untold = untold_facts(task, rollout.messages) if task is not None and sample.kind in ("normal", "distractors") \
        else []
    verified = (not leaks and state_match is not False and outputs is not False and calls.matched
                and not calls.extra and calls.malformed == 0
                and not errors and ok and finished and not wrong and not ambiguous and not unexplained
                and not untold)
    return Checks(state_match=state_match, state_diff=diff, outputs_match=outputs, calls=calls,
                  tool_errors=len(rollout.tool_errors), unhandled_errors=errors, behaviour_ok=ok, behaviour=why,
                  finished=finished, user_leaks=leaks, wrong_records=wrong, ambiguous=ambiguous,
                  unexplained=unexplained, untold=untold, verified=verified)
