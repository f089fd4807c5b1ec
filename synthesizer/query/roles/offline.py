"""Deterministic offline roles: templates plus the grounded plan, so every mode and sample kind runs without a model.

The offline assistant follows the gold plan (parallel calls for steps of one dependency level) but executes every
call for real in its own episode, so its transcript and final State are evidence like a model's would be.
"""

from __future__ import annotations

import json
import re
from typing import Any

from synthesizer.data.messages import is_question
from synthesizer.data.records import Persona, Verdict
from synthesizer.query.compose import actions, goal_text, quote, request_text, salient, words
from synthesizer.query.refine import SEQUENCE
from synthesizer.query.roles.base import AssistantTurn, RawCall, Roles, Sample, UserReply

PERSONAS = [
    ("Alex Morgan", "operations manager", "juggling a busy week and delegating the admin"),
    ("Priya Shah", "software engineer", "sorting things out between two meetings"),
    ("Diego Alvarez", "freelance designer", "getting organised before a client call"),
    ("Mei Chen", "small-business owner", "catching up on errands at the end of the day"),
    ("Samuel Okafor", "team lead", "preparing for the next sprint"),
    ("Laura Becker", "executive assistant", "handling requests for her manager"),
    ("Yuki Tanaka", "graduate student", "planning ahead on a Sunday evening"),
]
# tasks no tool of a typical service can do; a task is only used when none of its words appear in the tools
IRRELEVANT = [
    ("Can you order me a large pepperoni pizza for delivery tonight?", {"pizza", "delivery", "food", "restaurant"}),
    ("What's the weather going to be like in Lisbon tomorrow?", {"weather", "forecast", "temperature"}),
    ("Please translate 'good morning, how are you?' into Japanese.", {"translate", "translation", "language"}),
    ("Could you book me a haircut at a barber near my office?", {"haircut", "barber", "salon", "appointment"}),
    ("Can you stream the latest episode of my favourite podcast?", {"podcast", "stream", "episode", "audio"}),
    ("Please transfer 200 dollars from my savings to my checking account.", {"transfer", "bank", "account",
                                                                             "savings", "payment"}),
    ("Could you call a taxi to pick me up at the train station?", {"taxi", "ride", "car", "pickup"}),
]
REFUSAL = "I'm sorry, but I can't help with that: none of the tools I have access to can {what}."


def pick_persona(sample: Sample) -> Persona:
    name, role, situation = sample.rng.choice(PERSONAS)
    return Persona(name=name, role=role, situation=situation)


def irrelevant_task(tool_text: str, rng: Any) -> str | None:
    words_in_tools = set(re.findall(r"[a-z]+", tool_text.lower()))
    options = [t for t, keys in IRRELEVANT if not keys & words_in_tools]
    return rng.choice(options) if options else None


class OfflinePlanner:
    async def plan(self, sample: Sample) -> tuple[Persona, str]:
        persona = pick_persona(sample)
        if sample.plan is None:
            return persona, f"I want someone to do this for me: {sample.task}"
        return persona, goal_text(sample.plan, sample.tools)


class OfflineWriter:
    async def write(self, sample: Sample, turn: int) -> str:
        if sample.plan is None:
            return sample.task
        withheld = sample.withheld if turn == 0 else {}
        return request_text(sample.plan, sample.segments[turn], sample.tools, sample.rng, withheld, opener=turn == 0)


class OfflineRefiner:
    """Mends what the checks found: tool names become words, ids become a reference, missing facts are added."""

    async def rewrite(self, sample: Sample, turn: int, draft: str, problems: list[str]) -> str:
        text = draft
        for p in problems:
            m = re.match(r"names the tool '(.+)'", p)
            if m:
                text = re.sub(re.escape(m.group(1)), words(m.group(1).split("__")[-1]), text, flags=re.IGNORECASE)
            m = re.match(r"mentions the internal id '(.+)'", p)
            if m:
                text = re.sub(rf'"?{re.escape(m.group(1))}"?', "it", text)
            m = re.match(r"does not say the (.+?) \((.+)\):", p)
            if m:
                text = text.rstrip(".?!") + f", with {m.group(1)} {quote(_literal(m.group(2)))}."
        if any("step-by-step" in p for p in problems):
            text = SEQUENCE.sub("", text)
            text = re.sub(r"\s+([,.])", r"\1", re.sub(r"\s+", " ", text)).strip()
        return text


def _literal(text: str) -> Any:
    try:
        return json.loads(text.replace("'", '"'))
    except ValueError:
        return text.strip("'\"")


class OfflineUser:
    """Answers only what is asked (held-back facts), then asks for the next part, then stops explicitly."""

    async def reply(self, sample: Sample, messages: list[dict[str, Any]]) -> UserReply:
        last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "assistant"), {})
        if is_question(last.get("content")):
            if sample.kind == "missing_info":
                return UserReply(text="Let me check and come back to you.", stop=True)
            facts = [f"the {words(p)} should be {quote(v)}" for p, v in sample.withheld_values().items()]
            users = [m.get("content") or "" for m in messages if m.get("role") == "user"][1:]
            if facts and not any(facts[0] in u for u in users):
                return UserReply(text="Sure: " + " and ".join(facts) + ".")
            return UserReply(text="I've told you everything I know; please go ahead.")
        answered = sum(1 for m in messages if m.get("role") == "assistant" and m.get("content")
                       and not m.get("tool_calls") and not is_question(m.get("content")))
        if sample.plan is not None and answered < len(sample.segments):
            ask = request_text(sample.plan, sample.segments[answered], sample.tools, sample.rng, opener=False)
            return UserReply(text=sample.rng.choice(["Thanks! ", "Great. ", "Perfect, thank you. "]) + ask)
        return UserReply(text="Thanks, that's all I needed.", stop=True)


class OfflineAssistant:
    """Follows the plan turn by turn; asks for held-back facts before acting on them."""

    def __init__(self, sample: Sample):
        self.s = sample
        self.queue: list[list[int]] = []
        self.segment = -1
        self.asked = False

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AssistantTurn:
        s = self.s
        if s.kind == "irrelevance" or s.plan is None:
            return AssistantTurn(content=REFUSAL.format(what=_lower_first(s.task.rstrip("?.!"))))
        if messages[-1].get("role") == "user":
            if s.withheld and not self.asked:
                self.asked = True
                asked_for = " and ".join(f"the {words(p)}" for ps in s.withheld.values() for p in ps)
                return AssistantTurn(content=f"Happy to help. Could you tell me {asked_for} you'd like me to use?")
            if s.kind == "missing_info":
                return AssistantTurn(content="Could you give me a bit more detail first?")
            self.segment += 1
            if self.segment >= len(s.segments):
                return AssistantTurn(content="You're welcome! Let me know if you need anything else.")
            wanted = set(s.segments[self.segment])
            self.queue = [lv for level in s.plan.skeleton.levels() if (lv := [j for j in level if j in wanted])]
        if self.queue:
            level = self.queue.pop(0)
            n = sum(1 for m in messages if m.get("role") == "assistant")
            calls = [RawCall(id=f"call_{n}_{i}", name=s.plan.steps[j].name,
                             arguments=json.dumps(s.plan.steps[j].arguments, ensure_ascii=False))
                     for i, j in enumerate(level)]
            return AssistantTurn(tool_calls=calls)
        done = actions(s.plan, s.tools, salient(s.plan, s.segments[self.segment]))
        return AssistantTurn(content=final_answer(done))


def _lower_first(text: str) -> str:
    text = re.sub(r"^(can|could) you\s+|^please\s+", "", text.strip(), flags=re.IGNORECASE)
    return text[:1].lower() + text[1:]


def final_answer(done: list[str]) -> str:
    if not done:
        return "Done."
    if len(done) == 1:
        return f"Done: I {done[0]}."
    return "All done. I " + ", ".join(done[:-1]) + " and " + done[-1] + "."


class OfflineJudge:
    """A rubric, not a model: the answer exists and fits the sample kind. Recorded beside the checks."""

    async def judge(self, sample: Sample, messages: list[dict[str, Any]]) -> Verdict:
        last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "assistant"), "")
        if sample.kind == "irrelevance":
            ok, why = ("can't" in last or "cannot" in last), "declines a request no tool can serve"
        elif sample.kind == "missing_info":
            ok, why = is_question(last), "asks for the missing information"
        else:
            ok, why = bool(last) and not is_question(last), "ends with an answer"
        return Verdict(model="offline-rubric", verdict="pass" if ok else "fail",
                       reason=why if ok else f"does not {why}")


def offline_roles() -> Roles:
    return Roles(planner=OfflinePlanner(), writer=OfflineWriter(), refiner=OfflineRefiner(), user=OfflineUser(),
                 assistant=OfflineAssistant, judge=OfflineJudge(),
                 models={r: "offline" for r in ("planner", "writer", "refiner", "user", "assistant", "judge")})
