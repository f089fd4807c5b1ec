"""Replay a plan in a new episode (same scenario) and compare the final State hash and every output."""

from __future__ import annotations

from pydantic import BaseModel

from synthesizer.discovery import ConnectedServer
from synthesizer.rollout import CallFailed, Execution, call


class Verdict(BaseModel):
    replay_state_match: bool | None  # None: the server sends no state hash
    replay_outputs_match: bool
    expected_state_hash: str | None
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.replay_outputs_match and self.replay_state_match is not False


async def replay(server: ConnectedServer, ex: Execution, episode: str) -> Verdict:
    outputs_match = True
    last_hash: str | None = None
    reason = ""
    for j, step in enumerate(ex.steps):
        try:
            again = await call(server, step.tool, step.arguments, episode, ex.scenario)
        except CallFailed as exc:
            return Verdict(replay_state_match=False if ex.final_state_hash else None, replay_outputs_match=False,
                           expected_state_hash=None, reason=f"replay step {j + 1} failed: {exc}")
        if again.output != step.output:
            outputs_match = False
            reason = reason or f"replay step {j + 1} ({step.tool}) output differs"
        last_hash = again.state_hash
    original = ex.final_state_hash
    state_match = None if original is None and last_hash is None else original == last_hash
    if state_match is False:
        reason = reason or "replay final state hash differs"
    return Verdict(replay_state_match=state_match, replay_outputs_match=outputs_match,
                   expected_state_hash=last_hash, reason=reason)
