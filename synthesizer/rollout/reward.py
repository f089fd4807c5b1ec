"""Score a rollout against a trajectory's ground truth, every component separately, for RL (the verl export stores
the `GroundTruth` of `synthesizer.data.ground_truth`; a verl reward function rebuilds it with
`GroundTruth.model_validate_json`).

    total = clip(W_STATE * state_match + W_CALLS * call_match - extra_penalty - malformed_penalty, 0, 1)

state_match is 1 when every server's final State hash equals the expected one (0 otherwise); when no server has an
expected hash (third-party servers, or `score_calls` alone) it is None and the call component takes the whole weight.
call_match is the fraction of required plan calls matched exactly (1 when the plan requires none, e.g. irrelevance
samples). Penalties are per call and capped, so a single stray write costs less than getting the State wrong.
The gold plan replayed scores exactly 1.0.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from synthesizer.data.ground_truth import GroundTruth
from synthesizer.discovery.controlplane import ControlPlane, state_diff
from synthesizer.errors import SynthError
from synthesizer.rollout.callmatch import CallMatch, MadeCall, describe_call, match_details

W_STATE = 0.5  # weight of the final State matching the expected one
W_CALLS = 0.5  # weight of the required calls matched (all of the weight when there is no State hash)
P_EXTRA = 0.1  # per extra write call (a call the plan has no use for that is not a read)
P_MALFORMED = 0.2  # per call whose arguments did not parse or that named no shown tool
MAX_EXTRA_PENALTY = 0.3
MAX_MALFORMED_PENALTY = 0.6
DIFF_LINES = 20  # State diff lines per server in the explanation


class RewardBreakdown(BaseModel):
    state_match: float | None  # 1/0; None: no expected State hash to compare
    call_match: float  # fraction of required calls matched exactly
    extra_penalty: float  # subtracted for extra write calls
    malformed_penalty: float  # subtracted for malformed calls
    total: float  # in [0, 1]
    explanation: list[str] = Field(default_factory=list)


def _call_lines(m: CallMatch, gt: GroundTruth, made: list[MadeCall]) -> list[str]:
    lines = [f"calls: {m.matched_required}/{m.required} required calls matched exactly"]
    plan = gt.calls
    lines += [f"matched: {describe_call(plan[i].name, made[j].arguments, plan[i].free)}" for i, j in m.pairs
              if plan[i].required]
    lines += [f"missing: {x}" for x in m.check.missing]
    lines += [f"mismatched: {x}" for x in m.check.mismatched]
    lines += [f"extra write: {x}" for x in m.check.extra]
    lines += [f"tolerated read: {x}" for x in m.tolerated]
    lines += [f"tool error: {x}" for x in m.errored]
    if m.check.malformed:
        lines.append(f"malformed: {m.check.malformed} call(s) with unparsed arguments or an unknown tool name")
    return lines


def _combine(state_match: float | None, m: CallMatch, lines: list[str]) -> RewardBreakdown:
    call_match = m.matched_required / m.required if m.required else 1.0
    extra = min(MAX_EXTRA_PENALTY, P_EXTRA * len(m.check.extra))
    malformed = min(MAX_MALFORMED_PENALTY, P_MALFORMED * m.check.malformed)
    if state_match is None:
        raw = call_match - extra - malformed
        formula = f"{call_match:.3f} (calls; no State hash) - {extra:.2f} - {malformed:.2f}"
    else:
        raw = W_STATE * state_match + W_CALLS * call_match - extra - malformed
        formula = (f"{W_STATE}*{state_match:g} (state) + {W_CALLS}*{call_match:.3f} (calls) - {extra:.2f} "
                   f"- {malformed:.2f}")
    total = round(min(1.0, max(0.0, raw)), 6)
    return RewardBreakdown(state_match=state_match, call_match=call_match, extra_penalty=extra,
                           malformed_penalty=malformed, total=total,
                           explanation=[*lines, f"total: {formula} = {total:g}"])


def _match(gt: GroundTruth, calls: list[MadeCall]) -> CallMatch:
    return match_details(gt.plan(), calls, known=set(gt.tools) if gt.tools else None)


def score_calls(ground_truth: GroundTruth, calls: list[MadeCall]) -> RewardBreakdown:
    """The call components alone (no farm needed); state_match is None, so the calls take the whole weight."""
    m = _match(ground_truth, calls)
    return _combine(None, m, _call_lines(m, ground_truth, calls))


async def score_episode(ground_truth: GroundTruth, calls: list[MadeCall], episodes: dict[str, str],
                        control_plane: ControlPlane, expected_states: dict[str, Any] | None = None) -> RewardBreakdown:
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
    m = _match(ground_truth, calls)
    return _combine(state_match, m, [*state_lines, *_call_lines(m, ground_truth, calls)])


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
