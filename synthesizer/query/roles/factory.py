"""Which role is played by what: offline by default, the model (ENVFACTORY_LLM_*) for the roles asked for."""

from __future__ import annotations

from common.llm import ChatModel, LLMClient, LLMSettings
from synthesizer.errors import SynthError
from synthesizer.query.roles import model as m
from synthesizer.query.roles import offline as o
from synthesizer.query.roles.base import Roles
from synthesizer.query.roles.prompts import prompt_hash

ROLE_NAMES = ("planner", "writer", "refiner", "user", "assistant", "judge")


def parse_roles(spec: list[str]) -> list[str]:
    names: list[str] = []
    for item in spec:
        for name in (x.strip() for x in item.split(",")):
            if not name:
                continue
            if name == "all":
                names += ROLE_NAMES
            elif name not in ROLE_NAMES:
                raise SynthError(f"unknown role {name!r} (roles: {', '.join(ROLE_NAMES)}, all)")
            else:
                names.append(name)
    return list(dict.fromkeys(names))


def model_roles(spec: list[str], seed: int, client: ChatModel | None = None) -> tuple[Roles, LLMClient | None]:
    """Roles with a model playing `spec`; returns the client the caller must close (None if none was made)."""
    names = parse_roles(spec)
    roles = o.offline_roles()
    if not names:
        return roles, None
    made: LLMClient | None = None
    if client is None:
        made = LLMClient(LLMSettings.from_env(seed=seed))
        client = made
    if "planner" in names:
        roles.planner = m.ModelPlanner(client)
    if "writer" in names:
        roles.writer = m.ModelWriter(client)
    if "refiner" in names:
        roles.refiner = m.ModelRefiner(client)
    if "user" in names:
        roles.user = m.ModelUser(client)
    if "assistant" in names:
        roles.assistant = lambda sample: m.ModelAssistant(client, sample)
    if "judge" in names:
        roles.judge = m.ModelJudge(client)
    for name in names:
        roles.models[name] = client.model
        roles.prompt_hashes[name] = prompt_hash(name)
    return roles, made
