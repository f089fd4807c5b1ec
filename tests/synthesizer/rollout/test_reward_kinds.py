"""The reward's table per sample kind: kind x behaviour -> total, each rollout an OpenAI message list scored by
`score_messages` (no farm, so no State component), and every component named in the explanation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from synthesizer.data.ground_truth import GroundTruth
from synthesizer.data.records import Fact, PlanCall, SampleKind, qualified
from synthesizer.rollout.reward import (
    P_DISTRACTOR,
    P_EXTRA,
    READ_NOT_ASKED,
    READ_THEN_DECLINED,
    W_CALLS,
    W_TOLD,
    RewardBreakdown,
    assistant_text,
    made_calls,
    score_calls,
    score_messages,
)

RETRO = {"calendar_id": "cal_0002", "title": "Release retro", "start": "2026-03-11T15:00:00Z",
         "end": "2026-03-11T15:30:00Z"}
CALENDAR = [qualified("calendar", t) for t in ("list_calendars", "get_calendar", "create_event", "cancel_event",
                                                "get_event")]
SHOP = [qualified("shop", t) for t in ("list_products", "place_order")]
FACTS = [Fact(slot="calendar name", value="Platform Team", said="Platform Team"),
         Fact(slot="capacity", value=12, said="12")]


def step(i: int, tool: str, args: dict[str, Any], **kw: Any) -> PlanCall:
    return PlanCall(step=i, server="calendar", tool=tool, name=qualified("calendar", tool), arguments=args, **kw)


def truth(kind: SampleKind, *, lookup: bool = False, facts: list[Fact] | None = None) -> GroundTruth:
    if kind == "irrelevance":
        plan: list[PlanCall] = []
    elif lookup:
        plan = [step(0, "get_calendar", {"calendar_id": "cal_0002"}, read_only=True)]
    else:
        plan = [step(0, "list_calendars", {}, read_only=True, required=False),
                step(1, "create_event", RETRO, required=kind != "missing_info")]
    tools = CALENDAR + (SHOP if kind == "distractors" else [])
    return GroundTruth.from_plan(plan, {"calendar": None}, tools, kind=kind, lookup_only=lookup,
                                 distractors=SHOP if kind == "distractors" else [],
                                 read_only_tools=["calendar__list_calendars"] if kind == "irrelevance" else [],
                                 communicate=FACTS if facts is None else facts)


class Rollout:
    """An OpenAI message list built call by call (each call answered by a result)."""

    def __init__(self, request: str = "Put the Release retro on the team calendar and tell me the room size."):
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a helpful assistant."},
                                               {"role": "user", "content": request}]

    def call(self, name: str, args: dict[str, Any]) -> Rollout:
        """A new rollout: this one plus the call and its result."""
        cid = f"call_{len(self.messages)}"
        fn = {"name": name if "__" in name else qualified("calendar", name), "arguments": json.dumps(args)}
        out = Rollout()
        out.messages = [*self.messages, {"role": "assistant", "content": None,
                                         "tool_calls": [{"id": cid, "type": "function", "function": fn}]},
                        {"role": "tool", "tool_call_id": cid, "content": '{"ok": true}'}]
        return out

    def say(self, text: str) -> list[dict[str, Any]]:
        return [*self.messages, {"role": "assistant", "content": text}]


TOLD_ALL = "Booked Release retro on Platform Team; the boardroom seats 12."
GOLD = Rollout().call("list_calendars", {}).call("create_event", RETRO)
TASK_W = W_CALLS + W_TOLD  # no State component without a farm: calls and told share the weight

CASES: list[tuple[str, GroundTruth, list[dict[str, Any]], float]] = [
    # normal: calls and told
    ("normal-gold", truth("normal"), GOLD.say(TOLD_ALL), 1.0),
    ("normal-tells-one-of-two", truth("normal"), GOLD.say("Booked Release retro on Platform Team."),
     (W_CALLS + W_TOLD / 2) / TASK_W),
    ("normal-silent-answer", truth("normal"), GOLD.say("Done."), W_CALLS / TASK_W),
    ("normal-wrong-title", truth("normal"),
     Rollout().call("create_event", {**RETRO, "title": "Retro"}).say(TOLD_ALL), W_TOLD / TASK_W),
    ("normal-no-call", truth("normal"), Rollout().say(TOLD_ALL), W_TOLD / TASK_W),
    ("normal-extra-write", truth("normal"), GOLD.call("cancel_event", {"event_id": "evt_0001"}).say(TOLD_ALL),
     1 - P_EXTRA),
    ("normal-no-task-silent", truth("normal", facts=[]), GOLD.say("Done."), 1.0),
    ("lookup-gold", truth("normal", lookup=True), Rollout().call("get_calendar", {"calendar_id": "cal_0002"})
     .say("Platform Team seats 12."), 1.0),
    ("lookup-silent", truth("normal", lookup=True), Rollout().call("get_calendar", {"calendar_id": "cal_0002"})
     .say("I looked it up."), 0.25 / 0.75),
    # distractors: a call of another server's tool costs
    ("distractors-gold", truth("distractors"), GOLD.say(TOLD_ALL), 1.0),
    ("distractors-one-call", truth("distractors"), GOLD.call("shop__list_products", {}).say(TOLD_ALL),
     1 - P_DISTRACTOR),
    ("distractors-two-calls", truth("distractors"),
     GOLD.call("shop__list_products", {}).call("shop__place_order", {"product_id": "p1"}).say(TOLD_ALL),
     1 - 2 * P_DISTRACTOR),
    # missing_info: ask, never act on a guess
    ("missing-asks", truth("missing_info"), Rollout().say("Which day should the retro be on?"), 1.0),
    ("missing-reads-then-asks", truth("missing_info"),
     Rollout().call("list_calendars", {}).say("Which day should the retro be on?"), 1.0),
    ("missing-reads-no-question", truth("missing_info"),
     Rollout().call("list_calendars", {}).say("You have two calendars."), READ_NOT_ASKED),
    ("missing-writes-on-a-guess", truth("missing_info"), GOLD.say("Booked it for Wednesday."), 0.0),
    ("missing-writes-then-asks", truth("missing_info"),
     Rollout().call("create_event", RETRO).say("Booked it; is Wednesday right?"), 0.0),
    ("missing-ends-without-question", truth("missing_info"), Rollout().say("Sure, noted."), 0.0),
    # irrelevance: decline, never write
    ("irrelevance-declines", truth("irrelevance"), Rollout().say("None of my tools can check the weather."), 1.0),
    ("irrelevance-reads-then-declines", truth("irrelevance"),
     Rollout().call("list_calendars", {}).say("None of my tools can check the weather."), READ_THEN_DECLINED),
    ("irrelevance-writes", truth("irrelevance"),
     Rollout().call("create_event", RETRO).say("I put a reminder in your calendar."), 0.0),
    ("irrelevance-unvouched-tool-is-a-write", truth("irrelevance"),
     Rollout().call("get_event", {"event_id": "evt_0001"}).say("None of my tools can check the weather."), 0.0),
    ("irrelevance-silent", truth("irrelevance"), Rollout().say(""), 0.0),
]


@pytest.mark.parametrize(("gt", "messages", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reward_table(gt: GroundTruth, messages: list[dict[str, Any]], expected: float) -> None:
    score = score_messages(gt, messages)
    assert score.total == pytest.approx(expected, abs=1e-6), "\n".join(score.explanation)
    assert score.kind == gt.kind and score.explanation[-1].startswith("total: ")
    assert f"kind: {gt.kind}" in score.explanation
    named = {line.split(":")[0] for line in score.explanation}
    if gt.kind in ("missing_info", "irrelevance"):
        assert score.behaviour is not None and "behaviour" in named
    else:
        assert score.behaviour is None and {"calls", "told"} <= named
        assert "(calls)" in score.explanation[-1] and ("(told)" in score.explanation[-1]) == bool(gt.communicate)


def test_the_explanation_says_what_was_told_and_what_was_written() -> None:
    half = score_messages(truth("normal"), GOLD.say("Booked Release retro on Platform Team."))
    assert half.told == 0.5 and "told: 1/2 facts in the final answer" in half.explanation
    assert "told: calendar name: Platform Team" in half.explanation and "untold: capacity: 12" in half.explanation
    guess = score_messages(truth("missing_info"), GOLD.say("Booked it for Wednesday."))
    assert guess.behaviour == 0.0 and any(x.startswith("write: calendar__create_event(") for x in guess.explanation)
    assert "read: calendar__list_calendars()" in guess.explanation
    assert any(x.startswith("behaviour: acted on a guess") for x in guess.explanation)
    stray = score_messages(truth("distractors"), GOLD.call("shop__list_products", {}).say(TOLD_ALL))
    assert stray.distractor_penalty == P_DISTRACTOR and "distractor: shop__list_products()" in stray.explanation
    assert not any(x.startswith("tolerated read: shop__") for x in stray.explanation)


def test_score_calls_without_the_answer_text_scores_an_empty_answer() -> None:
    calls = made_calls(GOLD.say(TOLD_ALL))
    with_text = score_calls(truth("normal"), calls, final_text=TOLD_ALL)
    without = score_calls(truth("normal"), calls)
    assert with_text.total == 1.0 and without.told == 0.0 and without.total == pytest.approx(W_CALLS / TASK_W)
    assert "final answer: none given (scored as an empty answer)" in without.explanation
    assert score_calls(truth("missing_info"), []).total == 0.0  # no question seen
    assert score_calls(truth("missing_info"), [], final_text="Which day?").total == 1.0


def test_messages_are_read_as_the_conversation_runner_reads_them() -> None:
    messages = Rollout().call("list_calendars", {}).say("Which day?")
    messages.insert(2, {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "calendar__get_calendar", "arguments": "{not json"}},
        {"id": "b", "type": "function", "function": {"name": "calendar__create_event", "arguments": ""}}]})
    calls = made_calls(messages, failed={"b"})
    assert [(c.name, c.arguments, c.error) for c in calls] == [("calendar__get_calendar", None, False),
                                                               ("calendar__create_event", {}, True),
                                                               ("calendar__list_calendars", {}, False)]
    assert assistant_text(messages) == "Let me look.\n\nWhich day?"
    score: RewardBreakdown = score_messages(truth("missing_info"), messages, failed={"b"})
    # an errored write still acted on a guess; the unparsed call costs the malformed penalty
    assert score.behaviour == 0.0 and score.malformed_penalty > 0
