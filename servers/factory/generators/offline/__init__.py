"""The offline generator: an imported API (ApiModel) -> a complete, deterministic environment directory, no model.

Pipeline: resources (collections and one plan per operation) -> records (record schemas, argument wiring) ->
tools (specs) -> data (scenarios) -> codegen (env.py) -> checks (checks.json); the directory is written by the
factory's envwriter, and the State schema comes from loading the generated code in a child process (the probe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.errors import EnvfactoryError
from registry.spec import Scenario
from servers.factory import envwriter
from servers.factory.apimodel import ApiModel
from servers.factory.envwriter import ProbeError
from servers.factory.generators.offline import data, tools
from servers.factory.generators.offline.checks import build_checks
from servers.factory.generators.offline.codegen import render_env
from servers.factory.generators.offline.records import build_records
from servers.factory.generators.offline.resources import discover, parents_first
from servers.runtime.policy import static_problems

__all__ = ["GenerationError", "generate_offline"]

SCENARIOS = ("small", "typical", "edge")
DESCRIPTIONS = {"small": "A handful of records per collection.",
                "typical": "A realistic working set: a dozen top-level records and their children.",
                "edge": "Unicode names, records in terminal statuses, and empty child collections."}
RESERVED = {"now", "counters", "actions", "model_config", "model_fields"}
PROBE_TIMEOUT = 60.0
"""Seconds for the child that loads the generated env.py and validates the scenarios against its State."""


class GenerationError(EnvfactoryError):
    """The API cannot be turned into an environment; the message says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def plan_environment(api: ApiModel) -> tuple[list, list[tools.Tool], dict[str, dict[str, Any]], list[dict],
                                             list[str]]:
    """Everything but the files: collections, tools, scenarios, checks and coverage gaps."""
    root, used, plans = discover(api)
    build_records(root, used, plans)
    collections = parents_first(used)
    for col in collections:
        if col.key in RESERVED or not col.key.isidentifier():
            col.key = f"{col.key}_records" if col.key.isidentifier() else "records_" + str(len(col.key))
    samples: dict[str, tuple[dict[str, Any] | None, Any]] = {}
    for plan in plans:
        if plan.kind == "write" and plan.op.annotations.read_only_hint:
            plan.kind = "read"
        if plan.kind == "read":
            schema = tools.sample_schema(plan, root)
            samples[plan.tool] = (schema, data.sample(schema, api.name, plan.tool) if schema else {})
    built = tools.build_tools(plans, samples)
    scenarios = {name: data.build_scenario(api.name, name, collections) for name in SCENARIOS}
    checks, gaps = build_checks(api.name, built, collections, scenarios["small"])
    return collections, built, scenarios, checks, gaps


def generate_offline(api: ApiModel, out_dir: Path) -> Path:
    """Write `out_dir/<api.name>/` (env.json, env.py, scenarios/, checks.json, server.py) and return its path."""
    try:
        collections, built, scenarios, checks, gaps = plan_environment(api)
    except GenerationError:
        raise
    except Exception as exc:  # a heuristic tripped on an unusual spec: say which API and why
        raise GenerationError(f"{api.name}: cannot plan the environment: {type(exc).__name__}: {exc}") from exc
    if not checks:
        raise GenerationError(f"{api.name}: no check could be written ({'; '.join(gaps[:3])})")
    source = render_env(api, collections, built)
    problems = static_problems(source, "env.py")
    if problems:
        raise GenerationError(f"{api.name}: generated env.py breaks the static policy: {problems[0]}")
    target = Path(out_dir) / api.name
    spec = envwriter.env_spec(
        api, generator="offline", tools=[t.spec for t in built], scenarios=list(SCENARIOS),
        version=api.version if api.version else "0.1.0",
        description=" ".join((api.description or api.title).split())[:600] or api.title)
    written = [Scenario(name=name, description=DESCRIPTIONS[name], state=state) for name, state in scenarios.items()]
    envwriter.write_env_dir(target, code=source, scenarios=written, checks=checks, spec=spec)
    try:
        found = envwriter.probe_state(target, PROBE_TIMEOUT)
    except ProbeError as exc:
        raise GenerationError(f"{api.name}: {exc}") from exc
    if found.problems:
        raise GenerationError(f"{api.name}: {'; '.join(found.problems)}")
    envwriter.set_state_schema(target, spec, found.schema)
    return target
