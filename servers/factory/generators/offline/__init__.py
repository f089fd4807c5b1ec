"""The offline generator: an imported API (ApiModel) -> a complete, deterministic environment directory, no model.

Pipeline: resources (collections and one plan per operation) -> records (record schemas, argument wiring) ->
tools (specs) -> data (scenarios) -> codegen (env.py) -> checks (checks.json); the State schema comes from loading
the generated code in a child process (schema_probe).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from registry.server_template import write_server_py
from registry.spec import EnvSpec, Provenance
from servers.factory.apimodel import ApiModel
from servers.factory.generators.offline import data, tools
from servers.factory.generators.offline.checks import build_checks
from servers.factory.generators.offline.codegen import render_env
from servers.factory.generators.offline.resources import infer
from servers.factory.generators.offline.schema_probe import ProbeError, state_schema
from servers.runtime.policy import static_problems

__all__ = ["GenerationError", "generate_offline"]

PROJECT_ROOT = Path(__file__).resolve().parents[4]
SCENARIOS = ("small", "typical", "edge")
RESERVED = {"now", "counters", "actions", "model_config", "model_fields"}


class GenerationError(Exception):
    """The API cannot be turned into an environment; the message says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def plan_environment(api: ApiModel) -> tuple[list, list[tools.Tool], dict[str, dict[str, Any]], list[dict],
                                             list[str]]:
    """Everything but the files: collections, tools, scenarios, checks and coverage gaps."""
    collections, plans = infer(api)
    for col in collections:
        if col.key in RESERVED or not col.key.isidentifier():
            col.key = f"{col.key}_records" if col.key.isidentifier() else "records_" + str(len(col.key))
    root = {"components": {"schemas": api.schemas}, "definitions": api.schemas, "$defs": api.schemas}
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
    if target.exists():
        shutil.rmtree(target)
    (target / "scenarios").mkdir(parents=True)
    (target / "env.py").write_text(source, encoding="utf-8")
    descriptions = {"small": "A handful of records per collection.",
                    "typical": "A realistic working set: a dozen top-level records and their children.",
                    "edge": "Unicode names, records in terminal statuses, and empty child collections."}
    for name, state in scenarios.items():
        (target / "scenarios" / f"{name}.json").write_text(
            _dump({"name": name, "description": descriptions[name], "state": state}), encoding="utf-8")
    (target / "checks.json").write_text(_dump({"checks": checks}), encoding="utf-8")
    write_server_py(target)
    spec = EnvSpec(
        name=api.name, version=api.version if api.version else "0.1.0", domain=api.domain or "general",
        description=" ".join((api.description or api.title).split())[:600] or api.title,
        provenance=Provenance(source=api.source, source_sha256=api.source_sha256, importer=api.importer,
                              generator="offline"),
        tools=[t.spec for t in built], state_schema={}, scenarios=list(SCENARIOS), default_scenario="small")
    (target / "env.json").write_text(_dump(_spec_json(spec)), encoding="utf-8")
    try:
        spec.state_schema = state_schema(target)
    except ProbeError as exc:
        raise GenerationError(f"{api.name}: {exc}") from exc
    (target / "env.json").write_text(_dump(_spec_json(spec)), encoding="utf-8")
    return target


def _spec_json(spec: EnvSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json", by_alias=True)
    for tool in data["tools"]:
        if tool["annotations"].get("title") is None:
            tool["annotations"].pop("title", None)
    if data["provenance"].get("model") is None:
        data["provenance"].pop("model", None)
    if data["provenance"].get("source_sha256") is None:
        data["provenance"].pop("source_sha256", None)
    return data
