"""What every importer produces and every generator consumes: an API as a list of operations.

An importer (OpenAPI 3, Swagger 2, a live MCP server's tools/list, a hand-written EnvSpec) resolves `$ref`s, names
tools, drops provider noise, classifies parameters and derives MCP-ready schemas. A generator (offline or model)
turns the operations into env.py, scenarios and checks. Keeping HTTP facts (method, path, where each argument came
from) beside the tool schemas is what lets the offline generator infer resources, ids and parent relations.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.spec import ENV_NAME_PATTERN, TOOL_NAME_PATTERN, ToolAnnotationsSpec, ToolSpec

Location = Literal["path", "query", "header", "body"]
Method = Literal["get", "put", "post", "patch", "delete", "head", "options"]


class Param(BaseModel):
    """One tool argument and where the HTTP API carried it."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(description="Argument name in the tool's input schema (snake_case, unique per operation).")
    original: str = Field(description="The name in the spec (path/query/header parameter or body property).")
    location: Location
    required: bool = False
    description: str = ""
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")


class Operation(BaseModel):
    tool: str = Field(pattern=TOOL_NAME_PATTERN)
    operation_id: str | None = None
    method: Method | None = Field(None, description="None for operations imported from an MCP server.")
    path: str | None = None
    summary: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    body_schema: dict[str, Any] | None = Field(None, description="The resolved request body schema, if any.")
    response_schema: dict[str, Any] | None = Field(None, description="The resolved 2xx JSON response schema.")
    input_schema: dict[str, Any] = Field(description="MCP input schema (type object) built from `params`.")
    output_schema: dict[str, Any] = Field(description="MCP output schema (type object; arrays are wrapped).")
    annotations: ToolAnnotationsSpec = Field(default_factory=ToolAnnotationsSpec)

    def tool_spec(self) -> ToolSpec:
        text = self.description or self.summary or f"{(self.method or 'call').upper()} {self.path or self.tool}"
        return ToolSpec(name=self.tool, description=text.strip(), input_schema=self.input_schema,
                        output_schema=self.output_schema, annotations=self.annotations)


class ApiModel(BaseModel):
    name: str = Field(pattern=ENV_NAME_PATTERN, description="Environment name derived from the file or title.")
    title: str
    version: str = "0.1.0"
    description: str = ""
    domain: str = ""
    source: str = Field(description="Where it came from: a file path, an MCP command or URL.")
    source_sha256: str | None = None
    importer: Literal["openapi3", "swagger2", "mcp", "envspec", "description"]
    operations: list[Operation] = Field(min_length=1)
    schemas: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Named schemas, refs resolved.")
    dropped: list[str] = Field(default_factory=list, description="Operations or parameters left out, and why.")
