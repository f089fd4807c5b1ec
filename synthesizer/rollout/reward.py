"""Score a rollout against a trajectory's ground truth for RL, every component separately and explained (the verl
export stores the `GroundTruth` of `synthesizer.data.ground_truth`; a verl reward function rebuilds it with
`GroundTruth.model_validate_json` and calls `score_messages` on the rollout's OpenAI messages, no farm needed).

The sample kind decides what is rewarded, because the right behaviour differs:

normal, distractors: doing the task and telling the user what was found.

    total = clip(weighted mean of the present components - extra - distractor - malformed, 0, 1)
    components: state (1 when every server's final State hash equals the expected one; absent without a hash),
                calls (fraction of the required plan calls matched exactly; 1 when none is required),
                told  (fraction of the task's communicate_info facts the answer text contains, as whole words;
                       absent when there is nothing to tell, e.g. records written before tasks existed)
    weights: state 0.4, calls 0.4, told 0.2; on lookup-only tasks (the answer is the point) 0.25, 0.25, 0.5.
    An absent component gives its weight to the others (no State hash: the calls take the state's share).
    Penalties per call, capped: an extra write 0.1, a call of a distractor tool 0.25, a malformed call 0.2.

missing_info (a fact the request needs was left out): any write scores 0 (acting on a guess); a final question
without a write 1.0 (reads before it are fine); reads but no question 0.2; neither 0.

irrelevance (no shown tool fits): any write scores 0; declining (an answer, no call) 1.0; read-only calls then an
answer 0.5; no answer 0.

A write is a parsed call of a shown tool not known to be read-only (the ground truth's `read_only_tools` and the
plan's reads): a tool nobody vouched for counts as a write. A changed State on these kinds is a write too, and a
malformed call costs its penalty there as well.
The gold rollout (its calls and its final answer) scores exactly 1.0.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, Field

from synthesizer.data.ground_truth import GroundTruth
from synthesizer.data.messages import is_question
from synthesizer.data.records import SampleKind
from synthesizer.discovery.controlplane import ControlPlane, state_diff
from synthesizer.errors import SynthError
from synthesizer.rollout.callmatch import CallMatch, MadeCall, describe_call, match_details

W_STATE = 0.4  # weight of the final State matching the expected one
W_CALLS = 0.4  # weight of the required calls matched
W_TOLD = 0.2  # weight of the communicate_info facts told
LOOKUP_WEIGHTS = (0.25, 0.25, 0.5)  # state, calls, told on lookup-only tasks
P_EXTRA = 0.1  # per extra write call (a call the plan has no use for that is not a read)
P_DISTRACTOR = 0.25  # per call of a distractor tool (a server the task has no use for)
P_MALFORMED = 0.2  # per call whose arguments did not parse or that named no shown tool
MAX_EXTRA_PENALTY = 0.3
MAX_DISTRACTOR_PENALTY = 0.5
MAX_MALFORMED_PENALTY = 0.6
ASKED = 1.0  # missing_info: a question, no write
READ_NOT_ASKED = 0.2  # missing_info: looked things up but asked nothing
DECLINED = 1.0  # irrelevance: an answer, no call
READ_THEN_DECLINED = 0.5  # irrelevance: read-only calls, then an answer
GUESSED = 0.0  # missing_info / irrelevance: a write
DIFF_LINES = 20  # State diff lines per server in the explanation


class RewardBreakdown(BaseModel):
    kind: SampleKind = "normal"
    state_match: float | None  # 1/0; None: no expected State hash to compare
    call_match: float  # fraction of required calls matched exactly (1 when none is required)
    told: float | None = None  # fraction of communicate_info facts in the final answer; None: nothing to tell
    behaviour: float | None = None  # missing_info / irrelevance: the score of what the assistant did
    extra_penalty: float  # subtracted for extra write calls
    distractor_penalty: float = 0.0  # subtracted for calls of distractor tools
    malformed_penalty: float  # subtracted for malformed calls
    total: float  # in [0, 1]
    explanation: list[str] = Field(default_factory=list)


# --- OpenAI messages -------------------------------------------------------------------------------------------------


def _parsed_arguments(raw: Any) -> dict[str, Any] | None:
    """Arguments as the conversation runner reads them: a JSON object (an empty string is {}), else None."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return {} if raw is None else None
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def made_calls(messages: list[dict[str, Any]], failed: Collection[str] = ()) -> list[MadeCall]:
    """The assistant's tool calls in an OpenAI message list; `failed`: ids of calls whose result was an error
    (OpenAI messages do not say so; a trainer that ran the calls knows)."""
    out: list[MadeCall] = []
    for m in messages:
        if m.get("role") != "assistant":
            continue
        for c in m.get("tool_calls") or []:
            fn = c.get("function") or {}
            raw = fn.get("arguments")
            out.append(MadeCall(name=str(fn.get("name", "")), arguments=_parsed_arguments(raw),
                                raw=raw if isinstance(raw, str) else json.dumps(raw), error=c.get("id") in failed))
    return out


def assistant_text(messages: list[dict[str, Any]]) -> str:
    """What the assistant told the user: every text it wrote, in order. All of it, because in a multi-turn rollout
    a lookup's facts are told in the answer to the turn that asked; the last message ends it, so a closing question
    stays at the end."""
    texts = []
    for m in messages:
        content = m.get("content")
        if m.get("role") == "assistant" and isinstance(content, str) and content.strip():
            texts.append(content.strip())
    return "\n\n".join(texts)


def score_messages(ground_truth: GroundTruth, messages: list[dict[str, Any]],
                   failed: Collection[str] = ()) -> RewardBreakdown:
    """Score a whole rollout in OpenAI chat format (its calls, and `assistant_text` as the answer); no farm, so no
    State component. `failed`: ids of tool calls whose result was an error."""
    return score_calls(ground_truth, made_calls(messages, failed), final_text=assistant_text(messages))


# --- the scores ------------------------------------------------------------------------------------------------------


def score_calls(ground_truth: GroundTruth, calls: list[MadeCall], final_text: str | None = None) -> RewardBreakdown:
    """Calls and the final answer text (no farm needed): state_match is None. Without `final_text` the answer is
    scored as empty (nothing told, no question asked)."""
    return _score(ground_truth, calls, None, [], final_text)


async def score_episode(ground_truth: GroundTruth, calls: list[MadeCall], episodes: dict[str, str],
                        control_plane: ControlPlane, expected_states: dict[str, Any] | None = None,
                        final_text: str | None = None) -> RewardBreakdown:
    """Score a rollout run in farm episodes (`episodes`: server -> episode id): each server's final State hash is read
    from the farm and compared with the expected one; with `expected_states` (server -> State) a difference is
    explained line by line."""
    servers = sorted(s for s, h in ground_truth.expected_state_hashes.items() if h is not None)
    state_lines: list[str] = []
    state_match: float | None = None
    if servers:
        missing = [s for s in servers if s not in episodes]
        if missing:
            raise SynthError(f"score_episode: no episode given for server(s) {', '.join(missing)}")
        same = True
        for server in servers:
            same &= await _state_lines(server, ground_truth.expected_state_hashes[server] or "", episodes[server],
                                       control_plane, (expected_states or {}).get(server), state_lines)
        state_match = 1.0 if same else 0.0
    return _score(ground_truth, calls, state_match, state_lines, final_text)


async def _state_lines(server: str, expected_hash: str, episode: str, cp: ControlPlane, expected_state: Any,
                       out: list[str]) -> bool:
    state, digest = await cp.state(episode)
    if digest == expected_hash:
        out.append(f"state: {server}: final State hash {digest[:12]} matches the expected one")
        return True
    out.append(f"state: {server}: final State hash {digest[:12]} differs from the expected {expected_hash[:12]}")
    if expected_state is not None:
        out += [f"state diff: {server}: {line}" for line in state_diff(expected_state, state, DIFF_LINES)]
    return False


def _reads(gt: GroundTruth) -> set[str]:
    return set(gt.read_only_tools) | {c.name for c in gt.calls if c.read_only}


def _score(gt: GroundTruth, calls: list[MadeCall], state_match: float | None, state_lines: list[str],
           text: str | None) -> RewardBreakdown:
    known = set(gt.tools) if gt.tools else None
    m = match_details(gt.plan(), calls, known=known, read_only=_reads(gt) | set(gt.distractors))
    usable = [c for c in calls if c.arguments is not None and (known is None or c.name in known)]
    malformed = min(MAX_MALFORMED_PENALTY, P_MALFORMED * m.check.malformed)
    lines = [*state_lines, f"kind: {gt.kind}"]
    if text is None:
        lines.append("final answer: none given (scored as an empty answer)")
    answer = text or ""
    if gt.kind in ("missing_info", "irrelevance"):
        return _behaviour(gt, m, usable, state_match, answer, malformed, lines)
    return _task(gt, m, calls, usable, state_match, answer, malformed, lines)


# --- missing_info / irrelevance --------------------------------------------------------------------------------------


def _behaviour(gt: GroundTruth, m: CallMatch, usable: list[MadeCall], state_match: float | None, answer: str,
               malformed: float, lines: list[str]) -> RewardBreakdown:
    reads = _reads(gt)
    writes = [c for c in usable if c.name not in reads]
    looked = [c for c in usable if c.name in reads]
    lines += [f"write: {describe_call(c.name, c.arguments)}" for c in writes]
    lines += [f"read: {describe_call(c.name, c.arguments)}" for c in looked]
    if m.check.malformed:
        lines.append(f"malformed: {m.check.malformed} call(s) with unparsed arguments or an unknown tool name")
    if gt.kind == "missing_info":
        score, why = _missing_info(bool(writes), bool(looked), state_match == 0.0, answer)
    else:
        score, why = _irrelevance(bool(writes), bool(looked), state_match == 0.0, answer)
    lines.append(f"behaviour: {why} -> {score:g}")
    total = round(min(1.0, max(0.0, score - malformed)), 6)
    lines.append(f"total: {score:g} (behaviour) - {malformed:.2f} (malformed) = {total:g}")
    call_match = m.matched_required / m.required if m.required else 1.0
    return RewardBreakdown(kind=gt.kind, state_match=state_match, call_match=call_match, behaviour=score,
                           extra_penalty=0.0, malformed_penalty=malformed, total=total, explanation=lines)


def _missing_info(wrote: bool, read: bool, state_changed: bool, answer: str) -> tuple[float, str]:
    if wrote or state_changed:
        return GUESSED, "acted on a guess (a write) instead of asking for the missing information"
    if is_question(answer):
        return ASKED, "asked for the missing information without writing"
    if read:
        return READ_NOT_ASKED, "looked things up but did not ask for the missing information"
    return 0.0, "ended without asking for the missing information"


def _irrelevance(wrote: bool, read: bool, state_changed: bool, answer: str) -> tuple[float, str]:
    if wrote or state_changed:
        return GUESSED, "called a write tool although no tool fits the request"
    if not answer.strip():
        return 0.0, "ended without telling the user that no tool fits"
    if read:
        return READ_THEN_DECLINED, "declined, but only after calling tools that do not fit"
    return DECLINED, "declined without calling a tool"


# --- normal / distractors --------------------------------------------------------------------------------------------


def _told(gt: GroundTruth, answer: str, lines: list[str]) -> float | None:
    if not gt.communicate:
        lines.append("told: nothing to tell (no communicate_info facts)")
        return None
    told = [f for f in gt.communicate if f.told_in(answer)]
    lines.append(f"told: {len(told)}/{len(gt.communicate)} facts in the final answer")
    lines += [f"{'told' if f in told else 'untold'}: {f.slot}: {f.said}" for f in gt.communicate]
    return len(told) / len(gt.communicate)


def _call_lines(m: CallMatch, gt: GroundTruth, made: list[MadeCall]) -> list[str]:
    lines = [f"calls: {m.matched_required}/{m.required} required calls matched exactly"]
    plan = gt.calls
    lines += [f"matched: {describe_call(plan[i].name, made[j].arguments, plan[i].free)}" for i, j in m.pairs
              if plan[i].required]
    lines += [f"missing: {x}" for x in m.check.missing]
    lines += [f"mismatched: {x}" for x in m.check.mismatched]
    lines += [f"extra write: {x}" for x in m.check.extra]
    distractors = set(gt.distractors)
    lines += [f"tolerated read: {x}" for x in m.tolerated if x.partition("(")[0] not in distractors]
    lines += [f"tool error: {x}" for x in m.errored]
    if m.check.malformed:
        lines.append(f"malformed: {m.check.malformed} call(s) with unparsed arguments or an unknown tool name")
    return lines


def _task(gt: GroundTruth, m: CallMatch, calls: list[MadeCall], usable: list[MadeCall], state_match: float | None,
          answer: str, malformed: float, lines: list[str]) -> RewardBreakdown:
    lines += _call_lines(m, gt, calls)
    told = _told(gt, answer, lines)
    distractors = set(gt.distractors)
    distracted = [c for c in usable if c.name in distractors]
    lines += [f"distractor: {describe_call(c.name, c.arguments)}" for c in distracted]
    call_match = m.matched_required / m.required if m.required else 1.0
    extra = min(MAX_EXTRA_PENALTY, P_EXTRA * len(m.check.extra))
    distractor = min(MAX_DISTRACTOR_PENALTY, P_DISTRACTOR * len(distracted))
    w_state, w_calls, w_told = LOOKUP_WEIGHTS if gt.lookup_only else (W_STATE, W_CALLS, W_TOLD)
    parts = [(w, v, name) for w, v, name in ((w_state, state_match, "state"), (w_calls, call_match, "calls"),
                                             (w_told, told, "told")) if v is not None]
    weight = sum(w for w, _, _ in parts)
    mean = sum(w * v for w, v, _ in parts) / weight
    raw = mean - extra - distractor - malformed
    total = round(min(1.0, max(0.0, raw)), 6)
    terms = " + ".join(f"{w:g}*{v:.3g} ({name})" for w, v, name in parts)
    share = "" if abs(weight - 1.0) < 1e-9 else f" / {weight:g}"
    lines.append(f"total: ({terms}){share} - {extra:.2f} (extra) - {distractor:.2f} (distractor) - {malformed:.2f} "
                 f"(malformed) = {total:g}")
    return RewardBreakdown(kind=gt.kind, state_match=state_match, call_match=call_match, told=told,
                           extra_penalty=extra, distractor_penalty=distractor, malformed_penalty=malformed,
                           total=total, explanation=lines)
