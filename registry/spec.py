"""The environment contract as data: the files of an environment directory, as pydantic models.

Every boundary (env.json, checks.json, report.json, scenarios) is parsed through these models, so a malformed file
fails with a message that names the file and the field instead of a KeyError deep inside the runtime.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOOL_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$"
ENV_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolAnnotationsSpec(Model):
    """MCP tool annotations (hints, camelCase on the wire as in the MCP spec).

    Defaults follow the MCP spec (a write is destructive unless it says otherwise), except `openWorldHint`: an
    environment is a closed world by construction (no network, no I/O).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str | None = None
    read_only_hint: bool = Field(False, alias="readOnlyHint")
    destructive_hint: bool = Field(True, alias="destructiveHint")
    idempotent_hint: bool = Field(False, alias="idempotentHint")
    open_world_hint: bool = Field(False, alias="openWorldHint")


class ToolSpec(Model):
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = Field(min_length=1)
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    annotations: ToolAnnotationsSpec = Field(default_factory=ToolAnnotationsSpec)

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _object_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        # MCP requires both schemas to describe objects: arguments and structuredContent are JSON objects.
        if schema.get("type") != "object":
            raise ValueError('must be a JSON schema with "type": "object"')
        return schema


class Provenance(Model):
    source: str = "hand-written"
    source_sha256: str | None = None
    importer: str | None = None
    generator: str = "hand-written"
    model: str | None = None
    attempts: int = 0


class EnvSpec(Model):
    name: str = Field(pattern=ENV_NAME_PATTERN)
    version: str = "0.1.0"
    domain: str
    description: str
    provenance: Provenance = Field(default_factory=Provenance)
    tools: list[ToolSpec] = Field(min_length=1)
    state_schema: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[str] = Field(min_length=1)
    default_scenario: str | None = None

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[ToolSpec]) -> list[ToolSpec]:
        names = [t.name for t in tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate tool names: {', '.join(dupes)}")
        return tools

    def tool(self, name: str) -> ToolSpec:
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def initial_scenario(self) -> str:
        return self.default_scenario or self.scenarios[0]


class Scenario(Model):
    """An initial State plus a short description of what situation it sets up."""

    name: str
    description: str = ""
    state: dict[str, Any]


class Expectation(Model):
    """What one call of a check must produce. `output` is matched as a subset of the structured result."""

    is_error: bool = False
    output: Any = None
    error_contains: str | None = None


class CheckCall(Model):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation = Field(default_factory=Expectation)


class Check(Model):
    """A deterministic validation case.

    String arguments of the form ``${N.path.to.field}`` are replaced by the value at that path in the structured
    output of call N of the same check, so checks can chain ids without hard-coding them. ``expect_state`` maps dotted
    paths in the final State to expected values.
    """

    id: str
    description: str = ""
    scenario: str
    calls: list[CheckCall] = Field(min_length=1)
    expect_state: dict[str, Any] = Field(default_factory=dict)


class CheckSuite(Model):
    checks: list[Check] = Field(min_length=1)


CheckName = Literal["static", "contract", "protocol", "behaviour", "robustness", "determinism"]
CHECK_ORDER: tuple[CheckName, ...] = ("static", "contract", "protocol", "behaviour", "robustness", "determinism")


class CheckResult(Model):
    name: CheckName
    passed: bool
    seconds: float = 0.0
    summary: str = ""
    failures: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class VerificationReport(Model):
    env: str
    version: str
    passed: bool
    env_hash: str
    checks: list[CheckResult]
    seconds: float
    generator: str = "hand-written"
    model: str | None = None
    attempts: int = 0
    verifier_version: str = "1"

    @property
    def summary(self) -> str:
        ok = sum(c.passed for c in self.checks)
        return f"{ok}/{len(self.checks)} checks passed" + ("" if self.passed else " - " + ", ".join(
            c.name for c in self.checks if not c.passed))
