"""Deterministic offline roles: templates plus the grounded plan, so every mode and sample kind runs without a model.

The offline assistant (`honest.HonestAssistant`) knows the procedure but no argument value: it uses what the user
said and what its own calls returned, and executes every call for real in its own episode, so its transcript and
final State are evidence like a model's would be.
"""

from __future__ import annotations

import re
from typing import Any

from synthesizer.data.ground_truth import ToldFact
from synthesizer.data.messages import is_question
from synthesizer.data.records import Persona, Verdict
from synthesizer.query.compose import words
from synthesizer.query.refine import SEQUENCE
from synthesizer.query.roles.base import Roles, Sample, UserReply
from synthesizer.query.roles.honest import HonestAssistant
from synthesizer.task import say

PERSONAS = [
    ("Alex Morgan", "operations manager", "juggling a busy week and delegating the admin"),
    ("Priya Shah", "software engineer", "sorting things out between two meetings"),
    ("Diego Alvarez", "freelance designer", "getting organised before a client call"),
    ("Mei Chen", "small-business owner", "catching up on errands at the end of the day"),
    ("Samuel Okafor", "team lead", "preparing for the next sprint"),
    ("Laura Becker", "executive assistant", "handling requests for her manager"),
    ("Yuki Tanaka", "graduate student", "planning ahead on a Sunday evening"),
]
def pick_persona(sample: Sample) -> Persona:
    name, role, situation = sample.rng.choice(PERSONAS)
    return Persona(name=name, role=role, situation=situation)


class OfflinePlanner:
    """A persona; the goal is the task's (built from the grounded plan and the State before anything is written)."""

    async def plan(self, sample: Sample) -> tuple[Persona, str]:
        persona = pick_persona(sample)
        if sample.plan is None:
            return persona, f"I want someone to do this for me: {sample.task}"
        return persona, sample.told.task.goal if sample.told is not None else ""


class OfflineWriter:
    """The first message of a turn from the task: the salient steps of that turn, records named as their owner
    names them, stated facts in words; held-back facts are not in the task's known_info, so they are left out."""

    async def write(self, sample: Sample, turn: int) -> str:
        if sample.plan is None or sample.told is None:
            return sample.task
        user = sample.told.task.user
        return say.request(sample.told, sample.plan, sample.segments[turn], sample.rng, turn == 0, user)


class OfflineRefiner:
    """Mends what the checks found: tool names become words, ids are cut out, missing facts are added."""

    async def rewrite(self, sample: Sample, turn: int, draft: str, problems: list[str]) -> str:
        text = draft
        for p in problems:
            m = re.match(r"names the tool '(.+)'", p)
            if m:
                text = re.sub(re.escape(m.group(1)), words(m.group(1).split("__")[-1]), text, flags=re.IGNORECASE)
            m = re.match(r"mentions the internal id '(.+)'", p)
            if m:
                text = re.sub(rf'\s*"?{re.escape(m.group(1))}"?', "", text)
            m = re.match(r"does not say (.+?) \((.+)\)$", p)
            if m:
                text = text.rstrip(".?!") + f", {m.group(2)}."
        if any("step-by-step" in p for p in problems):
            text = SEQUENCE.sub("", text)
            text = re.sub(r"\s+([,.])", r"\1", re.sub(r"\s+", " ", text)).strip()
        return text


ACKS = ["Thanks! ", "Great, thank you. ", "Perfect. ", "OK, good to know. ", "Thanks for checking. ",
        "Got it. ", "That's helpful. "]
ANSWERS = ["It's {v}.", "{V}, please.", "Oh, sorry: {v}.", "Let's go with {v}.", "Use {v}."]


class OfflineUser:
    """Knows only the task: gives a held-back fact when asked for it, reacts to the reply when it asks for the next
    part, and stops explicitly. On a missing-information task it does not have the fact."""

    async def reply(self, sample: Sample, messages: list[dict[str, Any]]) -> UserReply:
        last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "assistant"), {})
        text = last.get("content") or ""
        told = sample.told
        if is_question(text):
            if sample.kind == "missing_info":
                return UserReply(text=sample.rng.choice(["Hmm, I don't have that at hand. I'll check and get back "
                                                         "to you.", "I'm not sure, let me find out first.",
                                                         "Good question, I need to look that up. Later!"]), stop=True)
            users = "\n".join(m.get("content") or "" for m in messages if m.get("role") == "user").lower()
            held = [f for f in (told.task.held_back if told else []) if f.said.lower() not in users]
            if held:
                answer = " ".join(sample.rng.choice(ANSWERS).format(v=f.said, V=f.said[:1].upper() + f.said[1:])
                                  for f in held)
                return UserReply(text=answer)
            return UserReply(text="I've told you everything I know; please go ahead.")
        answered = sum(1 for m in messages if m.get("role") == "assistant" and m.get("content")
                       and not m.get("tool_calls") and not is_question(m.get("content")))
        if sample.plan is not None and told is not None and answered < len(sample.segments):
            ask = say.request(told, sample.plan, sample.segments[answered], sample.rng, False, told.task.user)
            return UserReply(text=_reaction(sample, text) + ask)
        return UserReply(text=sample.rng.choice(["Thanks, that's all I needed.", "Perfect, that's everything.",
                                                 "Great, thanks for your help!", "That's it for now, thank you."]),
                         stop=True)


def _reaction(sample: Sample, reply: str) -> str:
    """A short reaction to what the assistant just said: a fact it reported, else an acknowledgement."""
    told = sample.told
    low = reply.lower()
    for f in told.task.communicate_info if told else []:
        if f.said and f.said.lower() in low and f.slot != "name":
            return sample.rng.choice([f"OK, {f.said} then. ", f"Good, {f.said} works for me. ",
                                      f"Ah, {f.said}, I see. "])
    return sample.rng.choice(ACKS)


DECLINES = re.compile(r"\b(can't|cannot|can not|unable|outside what|none of (the|my) tools|not able)\b", re.IGNORECASE)


class OfflineJudge:
    """A rubric, not a model: the request makes sense for the kind, the answer fits it and is informative (a lookup
    reports something its tools returned). It can fail a sample the checks passed; the pipeline then drops it."""

    async def judge(self, sample: Sample, messages: list[dict[str, Any]]) -> Verdict:
        last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "assistant"
                     and not m.get("tool_calls")), "")
        if sample.kind == "irrelevance":
            ok, why = bool(DECLINES.search(last)), "declines a request no tool can serve"
        elif sample.kind == "missing_info":
            ok, why = is_question(last), "asks for the missing information"
        else:
            ok, why = bool(last) and not is_question(last), "ends with an answer"
            told = sample.told
            if ok and told is not None and told.task.lookup_only:
                results = " ".join(m.get("content") or "" for m in messages if m.get("role") == "tool")
                answers = " ".join(m.get("content") or "" for m in messages if m.get("role") == "assistant")
                found = [w for w in re.findall(r"[\w@.'-]{3,}", answers) if w in results]
                facts = told.task.communicate_info
                all_told = all(ToldFact.of(f).told_in(answers) for f in facts)
                ok, why = (bool(found) or bool(facts)) and all_told, "reports what the lookup found"
        return Verdict(model="offline-rubric", verdict="pass" if ok else "fail",
                       reason=why if ok else f"fails the rubric: {why}")


def offline_roles() -> Roles:
    return Roles(planner=OfflinePlanner(), writer=OfflineWriter(), refiner=OfflineRefiner(), user=OfflineUser(),
                 assistant=HonestAssistant, judge=OfflineJudge(),
                 models={r: "offline" for r in ("planner", "writer", "refiner", "user", "assistant", "judge")})
