"""Writing an environment directory: the one writer both generators (offline and model) use.

A generator decides the contents (env.py, scenarios, checks, the tools and description of the spec); this module
decides the files and their layout, the provenance, and where the State schema comes from: the written code loaded
in a child process under the sandbox's limits (servers/factory/probe.py), never in the generator's process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

from registry.server_template import write_server_py
from registry.spec import EnvSpec, Provenance, Scenario, ToolSpec
from servers.factory.apimodel import ApiModel
from servers.factory.probe import ProbeError, ProbeTimeout, StateProbe, probe

__all__ = ["ProbeError", "ProbeTimeout", "StateProbe", "dump_json", "env_spec", "probe_state", "set_state_schema",
           "write_env_dir", "write_spec"]

Generator = Literal["offline", "model"]
DEFAULT_SCENARIO = "small"


def dump_json(value: Any) -> str:
    """The layout of every JSON file of an environment directory: indented, UTF-8 as is, a final newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def env_spec(api: ApiModel, *, generator: Generator, tools: list[ToolSpec], scenarios: list[str], version: str,
             description: str, model: str | None = None, attempts: int = 0) -> EnvSpec:
    """env.json's contents before the State schema is known (it stays {} until `set_state_schema`)."""
    return EnvSpec(
        name=api.name, version=version, domain=api.domain or "general", description=description,
        provenance=Provenance(source=api.source, source_sha256=api.source_sha256, importer=api.importer,
                              generator=generator, model=model, attempts=attempts),
        tools=tools, state_schema={}, scenarios=scenarios,
        default_scenario=DEFAULT_SCENARIO if DEFAULT_SCENARIO in scenarios else None)


def write_spec(target: Path, spec: EnvSpec) -> None:
    """env.json, optional fields that are unset (None) left out."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    (target / "env.json").write_text(dump_json(data), encoding="utf-8")


def write_env_dir(target: Path, *, code: str, scenarios: list[Scenario], checks: list[dict[str, Any]],
                  spec: EnvSpec) -> None:
    """Replace `target` with a complete environment directory: env.py, scenarios/, checks.json, server.py, env.json.

    `checks` are written as given (each generator keeps its own layout of a check).
    """
    if target.exists():
        shutil.rmtree(target)
    (target / "scenarios").mkdir(parents=True)
    (target / "env.py").write_text(code, encoding="utf-8")
    for scenario in scenarios:
        (target / "scenarios" / f"{scenario.name}.json").write_text(dump_json(scenario.model_dump(mode="json")),
                                                                    encoding="utf-8")
    (target / "checks.json").write_text(dump_json({"checks": checks}), encoding="utf-8")
    write_server_py(target)
    write_spec(target, spec)


def probe_state(target: Path, timeout: float) -> StateProbe:
    """State's schema and the scenarios that do not fit it, from loading `target` in a limited child.

    Raises ProbeTimeout when loading outlives `timeout` seconds, ProbeError when the code does not load.
    """
    return probe(target, timeout)


def set_state_schema(target: Path, spec: EnvSpec, schema: dict[str, Any]) -> None:
    """Record the probed State schema in `spec` and in `target`'s env.json."""
    spec.state_schema = schema
    write_spec(target, spec)
