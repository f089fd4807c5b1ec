"""Model-played roles over one OpenAI-compatible client (JSON output where structured; native function calling for
the assistant). A reply that does not have the requested shape raises RoleFailed: the sample attempt is dropped,
the run goes on."""

from __future__ import annotations

import json
from typing import Any

from common.errors import EnvfactoryError
from common.llm import ChatModel, LLMReplyError
from synthesizer.data.records import Persona, Verdict
from synthesizer.query.compose import request_text, words
from synthesizer.query.refine import stated_arguments
from synthesizer.query.roles import prompts
from synthesizer.query.roles.base import AssistantTurn, RawCall, Sample, UserReply


class RoleFailed(EnvfactoryError):
    """A model's reply could not be used for this role."""


def template_task(sample: Sample, turn: int = 0) -> str:
    if sample.plan is None:
        return sample.task
    withheld = sample.withheld if turn == 0 else {}
    rng = type(sample.rng)(f"template:{sample.index}:{turn}")
    return request_text(sample.plan, sample.segments[turn], sample.tools, rng, withheld, opener=False)


def stated_facts(sample: Sample, turn: int = 0) -> dict[str, Any]:
    if sample.plan is None:
        return {}
    facts: dict[str, Any] = {}
    for j in sample.segments[turn]:
        for name, value in stated_arguments(sample.plan, j, sample.tools).items():
            if name not in sample.withheld.get(j, ()) or turn > 0:
                facts[words(name)] = value
    return facts


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
        data = await ask_json(self.model, sample, prompts.fill(prompts.PLANNER, services=services,
                                                               task=template_task(sample)), ("persona", "goal"))
        p = data["persona"]
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in ("name", "role", "situation")):
            raise RoleFailed("the persona is not {name, role, situation}")
        return Persona(name=p["name"], role=p["role"], situation=p["situation"]), str(data["goal"])


class ModelWriter:
    def __init__(self, model: ChatModel):
        self.model = model

    async def write(self, sample: Sample, turn: int) -> str:
        p = sample.persona or Persona(name="a user", role="customer", situation="busy")
        held = {words(k): v for k, v in sample.withheld_values().items()} if turn == 0 else {}
        data = await ask_json(self.model, sample, prompts.fill(
            prompts.WRITER, name=p.name, role=p.role, situation=p.situation, task=template_task(sample, turn),
            facts=json.dumps(stated_facts(sample, turn), ensure_ascii=False),
            held=json.dumps(held, ensure_ascii=False) if held else "nothing"), ("message",))
        return str(data["message"])


class ModelRefiner:
    def __init__(self, model: ChatModel):
        self.model = model

    async def rewrite(self, sample: Sample, turn: int, draft: str, problems: list[str]) -> str:
        data = await ask_json(self.model, sample, prompts.fill(
            prompts.REFINER, draft=draft, problems="; ".join(problems),
            facts=json.dumps(stated_facts(sample, turn), ensure_ascii=False)), ("message",))
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
        remaining = [template_task(sample, t) for t in range(asked, len(sample.segments))]
        system = prompts.fill(prompts.USER, name=p.name, role=p.role, situation=p.situation, goal=sample.goal,
                              remaining=json.dumps(remaining, ensure_ascii=False) if remaining else "nothing more",
                              knowledge=json.dumps({words(k): v for k, v in sample.withheld_values().items()},
                                                   ensure_ascii=False))
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


def transcript(messages: list[dict[str, Any]], limit: int = 6000) -> str:
    lines = []
    for m in messages[1:]:
        if m.get("role") == "tool":
            lines.append(f"TOOL RESULT: {str(m.get('content'))[:300]}")
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
            data = await ask_json(self.model, sample, prompts.fill(prompts.JUDGE, goal=sample.goal, kind=sample.kind,
                                                                   transcript=transcript(messages)),
                                  ("verdict",))
        except RoleFailed as exc:  # a judge that cannot answer leaves no verdict; the checks still stand
            return Verdict(model=self.model.model, verdict=None, reason=f"no verdict: {exc}")
        verdict = data["verdict"] if data["verdict"] in ("pass", "fail") else None
        return Verdict(model=self.model.model, verdict=verdict, reason=str(data.get("reason", ""))[:500])
