"""Model-played roles over one OpenAI-compatible client (JSON output where structured; native function calling for
the assistant). A reply that does not have the requested shape raises RoleFailed: the sample attempt is dropped,
the run goes on."""

from __future__ import annotations

import json
from typing import Any

from common.errors import EnvfactoryError
from common.llm import ChatModel, LLMReplyError
from synthesizer.data.records import Persona, Verdict
from synthesizer.query.roles import prompts
from synthesizer.query.roles.base import AssistantTurn, RawCall, Sample, UserReply
from synthesizer.task import say


class RoleFailed(EnvfactoryError):
    """A model's reply could not be used for this role."""


def _dumps(x: Any) -> str:
    return json.dumps(x, ensure_ascii=False)


def task_of(sample: Sample) -> str:
    """The task in words for the planner and the judge: who asks, the goal and its reason, what to tell."""
    if sample.plan is None or sample.told is None:
        return sample.task
    t = sample.told.task
    return _dumps({"who asks": t.user or "someone using these services", "goal": t.goal, "reason": t.reason,
                   "refers to": [r.said for r in t.references], "states": [f.said for f in t.known_info],
                   "wants to be told": [f.slot for f in t.communicate_info]})


def turn_brief(sample: Sample, turn: int) -> dict[str, str]:
    """What the writer needs for one turn: the asks in words, the references and facts (exact surfaces), what is
    held back, the State records involved."""
    told = sample.told
    if sample.plan is None or told is None:
        return {"asks": sample.task, "refs": "none", "facts": "none", "held": "nothing", "records": "none"}
    steps = sample.segments[turn] if turn < len(sample.segments) else []
    asks = [say.clause(told.steps[j], told, sample.plan, {i: r.said for i, r in enumerate(told.task.references)})
            for j in told.salient if j in steps]
    facts = [told.task.known_info[i].said for j in steps if j in told.steps for i in told.steps[j].facts]
    refs = [r.said for r in told.task.references if any(j in steps for j in r.steps)]
    held = [f.slot for f in told.task.held_back] if turn == 0 else []
    return {"asks": _dumps(asks), "refs": _dumps(refs) if refs else "none", "facts": _dumps(facts) if facts
            else "none", "held": _dumps(held) if held else "nothing", "records": _dumps(told.excerpt) or "none"}


async def ask_json(model: ChatModel, sample: Sample, prompt: str, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        reply = await model.chat([{"role": "user", "content": prompt}], json_mode=True)
    except LLMReplyError as exc:
        raise RoleFailed(str(exc)) from None
    sample.count(reply.usage)
    data = reply.data
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise RoleFailed(f"the reply lacks {', '.join(keys)}: {reply.text[:120]!r}")
    return data


class ModelPlanner:
    def __init__(self, model: ChatModel):
        self.model = model

    async def plan(self, sample: Sample) -> tuple[Persona, str]:
        services = ", ".join(sorted({n.split("__")[0] for n in sample.shown}))
        records = _dumps(sample.told.excerpt) if sample.told is not None else "none"
        data = await ask_json(self.model, sample, prompts.fill(prompts.PLANNER, services=services,
                                                               task=task_of(sample), records=records),
                              ("persona", "goal"))
        p = data["persona"]
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in ("name", "role", "situation")):
            raise RoleFailed("the persona is not {name, role, situation}")
        return Persona(name=p["name"], role=p["role"], situation=p["situation"]), str(data["goal"])


class ModelWriter:
    def __init__(self, model: ChatModel):
        self.model = model

    async def write(self, sample: Sample, turn: int) -> str:
        p = sample.persona or Persona(name="a user", role="customer", situation="busy")
        data = await ask_json(self.model, sample, prompts.fill(
            prompts.WRITER, name=p.name, role=p.role, situation=p.situation, goal=sample.goal,
            **turn_brief(sample, turn)), ("message",))
        return str(data["message"])


class ModelRefiner:
    def __init__(self, model: ChatModel):
        self.model = model

    async def rewrite(self, sample: Sample, turn: int, draft: str, problems: list[str]) -> str:
        brief = turn_brief(sample, turn)
        data = await ask_json(self.model, sample, prompts.fill(
            prompts.REFINER, draft=draft, problems="; ".join(problems) or "none", refs=brief["refs"],
            facts=brief["facts"]), ("message",))
        return str(data["message"])


def flipped(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation from the simulated user's side: its own lines are `assistant`, tool traffic is hidden."""
    out = []
    for m in messages[1:]:
        if m.get("role") == "user":
            out.append({"role": "assistant", "content": m.get("content") or ""})
        elif m.get("role") == "assistant" and m.get("content"):
            out.append({"role": "user", "content": m["content"]})
    return out


class ModelUser:
    def __init__(self, model: ChatModel):
        self.model = model

    async def reply(self, sample: Sample, messages: list[dict[str, Any]]) -> UserReply:
        p = sample.persona or Persona(name="a user", role="customer", situation="busy")
        asked = sum(1 for m in messages if m.get("role") == "user")
        remaining = [turn_brief(sample, t)["asks"] for t in range(asked, len(sample.segments))]
        held = sample.told.task.held_back if sample.told is not None else []
        knowledge = {f.slot: f.said for f in held} if sample.kind != "missing_info" else {}
        system = prompts.fill(prompts.USER, name=p.name, role=p.role, situation=p.situation, goal=sample.goal,
                              remaining=_dumps(remaining) if remaining else "nothing more",
                              knowledge=_dumps(knowledge) if knowledge else "nothing beyond what you said")
        try:
            reply = await self.model.chat([{"role": "system", "content": system}, *flipped(messages)], json_mode=True)
        except LLMReplyError as exc:
            raise RoleFailed(str(exc)) from None
        sample.count(reply.usage)
        data = reply.data
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            raise RoleFailed(f"the user simulator's reply has no message: {reply.text[:120]!r}")
        return UserReply(text=data["message"], stop=bool(data.get("stop")))


class ModelAssistant:
    """Native function calling; sees only the conversation and the tools."""

    def __init__(self, model: ChatModel, sample: Sample):
        self.model = model
        self.sample = sample

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AssistantTurn:
        reply = await self.model.chat(messages, tools=tools)
        self.sample.count(reply.usage)
        calls = [RawCall(id=c.id, name=c.name, arguments=c.arguments) for c in reply.tool_calls]
        return AssistantTurn(content=reply.text or None, tool_calls=calls)


def transcript(messages: list[dict[str, Any]], limit: int = 16000) -> str:
    """The conversation with full tool results (the judge must see what was found to judge the answer)."""
    lines = []
    for m in messages[1:]:
        if m.get("role") == "tool":
            lines.append(f"TOOL RESULT: {str(m.get('content'))[:2000]}")
        elif m.get("tool_calls"):
            lines += [f"ASSISTANT CALLS {c['function']['name']}({c['function']['arguments']})" for c in m["tool_calls"]]
        else:
            lines.append(f"{m.get('role', '').upper()}: {m.get('content')}")
    return "\n".join(lines)[-limit:]


class ModelJudge:
    def __init__(self, model: ChatModel):
        self.model = model

    async def judge(self, sample: Sample, messages: list[dict[str, Any]]) -> Verdict:
        try:
            told = [f"{f.slot}: {f.said}" for f in sample.told.task.communicate_info] if sample.told else []
            data = await ask_json(self.model, sample, prompts.fill(prompts.JUDGE, goal=task_of(sample) or sample.goal,
                                                                   kind=sample.kind, told=_dumps(told) if told
                                                                   else "nothing in particular",
                                                                   transcript=transcript(messages)),
                                  ("verdict",))
        except RoleFailed as exc:  # a judge that cannot answer leaves no verdict; the checks still stand
            return Verdict(model=self.model.model, verdict=None, reason=f"no verdict: {exc}")
        verdict = data["verdict"] if data["verdict"] in ("pass", "fail") else None
        return Verdict(model=self.model.model, verdict=verdict, reason=str(data.get("reason", ""))[:500])
