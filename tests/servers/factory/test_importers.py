"""Importers turn real API descriptions (the 15 specs in /work/shared/specs/openapi), live MCP servers and EnvSpecs
into ApiModels whose every operation is a valid, noise-free MCP tool."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registry.spec import TOOL_NAME_PATTERN
from servers.factory.apimodel import ApiModel
from servers.factory.importers import ImportFailure, env_name, import_source
from servers.factory.importers.openapi import GOOGLE_GLOBALS, derive_name
from tests.conftest import NOTES, HttpServer

SPECS = Path("/work/shared/specs/openapi")
if not SPECS.is_dir():
    pytest.skip(f"{SPECS} is missing", allow_module_level=True)

SPEC_FILES = sorted(SPECS.glob("*.yaml"))
PLUMBING = {"google-calendar.yaml": 5, "1password-connect.yaml": 3}  # watch/channels.stop; health/heartbeat/metrics
AUTH_NAMES = {"authorization", "x-api-key", "api_key", "access_token", "oauth_token", "key", "x-postmark-server-token",
              "accept", "content-type", "mediatypeextension"}


def sources_ops() -> dict[str, int]:
    """The "ops" column of SOURCES.md, per file."""
    out = {}
    for line in (SPECS / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 6 and re.fullmatch(r"`[\w.-]+\.yaml`", cells[0]) and cells[5].isdigit():
            out[cells[0].strip("`")] = int(cells[5])
    return out


_MODELS: dict[str, ApiModel] = {}


def model(file: str) -> ApiModel:
    if file not in _MODELS:
        _MODELS[file] = import_source(str(SPECS / file))
    return _MODELS[file]


def walk(node: Any):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def test_sources_table_covers_every_spec() -> None:
    assert set(sources_ops()) == {p.name for p in SPEC_FILES} and len(SPEC_FILES) == 15


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_real_spec_imports_cleanly(spec: Path) -> None:
    m = model(spec.name)
    expected = sources_ops()[spec.name]
    dropped_ops = [d for d in m.dropped if d.startswith("operation ")]
    assert len(m.operations) + len(dropped_ops) == expected
    assert len(m.operations) >= expected - PLUMBING.get(spec.name, 0)
    assert m.importer == ("swagger2" if "swagger: " in spec.read_text()[:200] else "openapi3")
    assert m.name == spec.stem.replace("-", "_").replace("1password", "api_1password")

    names = [op.tool for op in m.operations]
    assert len(set(names)) == len(names)
    for op in m.operations:
        assert re.match(TOOL_NAME_PATTERN, op.tool)
        spec_ = op.tool_spec()
        assert 0 < len(spec_.description) <= 1001
        Draft202012Validator.check_schema(op.input_schema)
        Draft202012Validator.check_schema(op.output_schema)
        assert op.output_schema["type"] == "object" and op.input_schema["additionalProperties"] is False
        props = op.input_schema["properties"]
        assert list(props) == [p.name for p in op.params]
        assert set(op.input_schema.get("required", [])) == {p.name for p in op.params if p.required}
        for p in op.params:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", p.name) and props[p.name]["description"]
            if p.location != "body":  # a body field (or a 1Password query) may well be called `fields`
                assert p.original.lower() not in AUTH_NAMES
                assert not (spec.name.startswith("google-") and p.original in GOOGLE_GLOBALS)
            if p.location == "path":
                assert p.required and "{" + p.original + "}" in op.path
        dumped = json.dumps([op.input_schema, op.output_schema, op.body_schema, op.response_schema])
        assert '"$ref"' not in dumped
        # annotations follow the HTTP method, every hint stated
        a = op.annotations.model_dump(by_alias=True, exclude_unset=True)
        assert {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} <= set(a)
        if op.method in ("get", "head"):
            assert a["readOnlyHint"] and a["idempotentHint"] and not a["destructiveHint"]
        elif op.method == "delete":
            assert not a["readOnlyHint"] and a["destructiveHint"] and a["idempotentHint"]
        elif op.method == "put":
            assert not a["readOnlyHint"] and a["idempotentHint"]
        elif op.method == "patch":
            assert not a["readOnlyHint"] and not a["destructiveHint"]
        else:
            assert not a["readOnlyHint"] and not a["idempotentHint"]


@pytest.mark.parametrize("file", ["spotify.yaml", "buffer.yaml", "hubspot-files.yaml"])
def test_derived_names_are_stable(file: str) -> None:
    first = import_source(str(SPECS / file)).model_dump()
    assert import_source(str(SPECS / file)).model_dump() == first


def test_derived_names_read_well() -> None:
    spotify = {op.tool: op for op in model("spotify.yaml").operations}
    assert {"list_user_playlists", "create_user_playlist", "get_user_playlist", "search", "get_album",
            "check_me_tracks", "delete_me_tracks"} <= set(spotify)
    buffer = {op.tool: op for op in model("buffer.yaml").operations}
    assert {"destroy_update", "create_update", "move_to_top_update", "list_profiles", "get_profile",
            "list_profile_updates_pending"} <= set(buffer)
    assert buffer["destroy_update"].annotations.destructive_hint  # a POST that deletes
    assert [(p.name, p.original) for p in buffer["get_profile"].params] == [("profile_id", "id")]
    assert "mediaTypeExtension" not in json.dumps([op.input_schema for op in buffer.values()])
    hub = {op.tool for op in model("hubspot-files.yaml").operations}  # operationIds there are paths: ignored
    assert {"create_file", "get_file", "get_folder", "get_folder_by_folder_path"} <= hub
    assert derive_name("get", "/v1/{resourceName}/connections") == "list_connections"
    assert derive_name("post", "/files/v3/folders/update/async") == "update_folders"


def test_operation_id_names_drop_the_common_prefix() -> None:
    tasks = [op.tool for op in model("google-tasks.yaml").operations]
    assert "tasklists_list" in tasks and "tasks_insert" in tasks and not any(t.startswith("tasks_tasks") for t in tasks)
    fitness = {op.tool for op in model("google-fitness.yaml").operations}
    assert {"data_sources_list", "sessions_delete", "dataset_aggregate"} <= fitness
    assert "get_vault_by_id" in {op.tool for op in model("1password-connect.yaml").operations}


def test_noise_is_dropped_and_listed() -> None:
    cal = model("google-calendar.yaml")
    assert any("watch" in d and "plumbing" in d for d in cal.dropped)
    assert any(d.startswith("parameter alt (query)") for d in cal.dropped)
    assert any("X-Postmark-Server-Token" in d for d in model("postmark-server.yaml").dropped)
    assert any("GetServerHealth" in d for d in model("1password-connect.yaml").dropped)


def test_swagger2_body_is_flattened() -> None:
    lyft = {op.tool: op for op in model("lyft.yaml").operations}
    params = {p.name: p for p in lyft["new_ride"].params}
    assert params["origin"].location == "body" and params["origin"].required
    assert params["ride_type"].json_schema["enum"][0] == "lyft"
    assert params["origin"].json_schema["properties"]["lat"]["type"] == "number"
    assert lyft["new_ride"].body_schema["type"] == "object"
    rating = {p.name: p for p in lyft["set_ride_rating"].params}
    assert rating["ride_id"].location == "path" and rating["rating"].location == "body"


def test_openapi3_body_and_output() -> None:
    pet = {op.tool: op for op in model("swagger-petstore.yaml").operations}
    add = pet["add_pet"]
    assert {"name", "photo_urls", "status"} <= set(add.input_schema["properties"])
    assert set(add.input_schema["required"]) == {"name", "photo_urls"}
    assert add.output_schema["properties"]["name"]["examples"] == ["doggie"]
    found = pet["find_pets_by_status"].output_schema  # array response wrapped
    assert found["properties"]["items"]["type"] == "array"
    assert pet["delete_pet"].output_schema == {"type": "object", "properties": {}}
    inventory = pet["get_inventory"].output_schema
    assert inventory["type"] == "object"
    google = {op.tool: op for op in model("google-tasks.yaml").operations}
    body = {p.name: p for p in google["tasks_insert"].params}
    assert body["parent"].location == "query" and body["title"].location == "body"
    assert "links" not in body and "body_parent" not in body  # "This field/collection is read-only."


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if name.endswith(".json") else doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


RECURSIVE = {
    "openapi": "3.0.3", "info": {"title": "Tree", "version": "1"},
    "paths": {
        "/nodes/{nodeId}": {
            "parameters": [{"$ref": "#/components/parameters/NodeId"}],
            "get": {"responses": {"200": {"$ref": "#/components/responses/NodeOk"}}},
            "put": {"parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Node"}}}},
                "responses": {"204": {"description": "done"}}},
        },
        "/nodes": {"get": {"parameters": [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "exclusiveMinimum": True}},
            {"name": "Authorization", "in": "header", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}}}}},
        "/count": {"get": {"responses": {"200": {"description": "n", "content": {"application/json": {
            "schema": {"type": "integer"}}}}}}},
    },
    "components": {
        "parameters": {"NodeId": {"name": "nodeId", "in": "path", "required": True, "schema": {"type": "string"}}},
        "responses": {"NodeOk": {"description": "a node", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Node"}}}}},
        "schemas": {
            "Node": {"type": "object", "required": ["name"], "properties": {
                "id": {"type": "string", "readOnly": True},
                "name": {"type": "string", "example": "root"},
                "note": {"type": "string", "nullable": True},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}},
    },
}


def test_refs_recursion_and_dialect(tmp_path: Path) -> None:
    m = import_source(write(tmp_path, "tree.json", RECURSIVE))
    ops = {op.tool: op for op in m.operations}
    assert set(ops) == {"get_node", "replace_node", "list_nodes", "count"}
    get = ops["get_node"]
    assert get.params[0].name == "node_id" and get.params[0].required
    children = get.output_schema["properties"]["children"]["items"]
    assert children["type"] == "object" and "recursive" in children["description"]
    assert get.output_schema["properties"]["note"]["type"] == ["string", "null"]
    assert get.output_schema["properties"]["name"]["examples"] == ["root"]
    put = ops["replace_node"]
    # the readOnly id is left out; the body's `name` clashes with the query's `name`
    assert [p.name for p in put.params] == ["node_id", "name", "body_name", "note", "children"]
    assert [p.location for p in put.params] == ["path", "query", "body", "body", "body"]
    assert put.input_schema["required"] == ["node_id", "body_name"]
    limit = ops["list_nodes"].input_schema["properties"]["limit"]
    assert limit["exclusiveMinimum"] == 1 and "minimum" not in limit
    assert "authorization" not in ops["list_nodes"].input_schema["properties"]
    assert ops["count"].output_schema["properties"]["result"] == {"type": "integer"}
    for op in m.operations:
        Draft202012Validator.check_schema(op.input_schema)
        assert '"$ref"' not in json.dumps(op.model_dump())


SWAGGER = """
swagger: "2.0"
info: {title: Files, version: "2"}
paths:
  /uploads{ext}:
    post:
      consumes: [multipart/form-data]
      parameters:
        - {name: ext, in: path, required: true, type: string, enum: [.json]}
        - {name: file, in: formData, type: file, required: true, description: The file.}
        - {name: from, in: formData, type: string}
      responses:
        "201": {description: ok, schema: {$ref: "#/definitions/Upload"}}
definitions:
  Upload: {type: object, properties: {id: {type: string}, size: {type: integer, x-nullable: true}}}
"""


def test_swagger2_form_data_and_file(tmp_path: Path) -> None:
    m = import_source(write(tmp_path, "files.yaml", SWAGGER))
    (op,) = m.operations
    assert op.tool == "create_upload" and m.importer == "swagger2"
    params = {p.name: p for p in op.params}
    assert params["file"].json_schema == {"type": "string", "format": "binary"} and params["file"].required
    assert params["from_"].original == "from"  # a Python keyword is not an argument name
    assert op.output_schema["properties"]["size"]["type"] == ["integer", "null"]
    assert any("ext (path)" in d for d in m.dropped)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.yaml", None, "no such file"),
    ("broken.yaml", "openapi: 3.0.0\ninfo: {title: x\n  version: 1\n", "invalid YAML at line 3"),
    ("broken.json", '{"openapi": "3.0.0",\n "info": }', "invalid JSON at line 2"),
    ("list.yaml", "- a\n- b\n", "not an API description"),
    ("config.yaml", "name: thing\nsettings: {debug: true}\n", "not an API description"),
    ("empty.yaml", "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n", "no paths"),
    ("noops.yaml", "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {/a: {summary: s}}\n", "no operations"),
    ("old.yaml", "swagger: '1.2'\npaths: {}\n", "unsupported"),
])
def test_bad_input_fails_with_one_line(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ImportFailure) as info:
        import_source(str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_env_name() -> None:
    assert env_name("/x/google-calendar.yaml", "Calendar API") == "google_calendar"
    assert env_name("/x/1password-connect.yaml", "") == "api_1password_connect"
    assert env_name("/apis/lyft/openapi.yaml", "Lyft") == "lyft"
    assert env_name("/openapi.yaml", "Pet Store!") == "pet_store"
    assert env_name(f"mcp+stdio:{sys.executable} {NOTES / 'server.py'}", "srv") == "notes"
    assert env_name("http://127.0.0.1:8000/mcp", "My Server") == "my_server"
    assert env_name("http://127.0.0.1:8000/mcp", "") == "api"


def check_notes(m: ApiModel, importer: str) -> None:
    spec = json.loads((NOTES / "env.json").read_text())
    assert m.importer == importer and m.name == "notes"
    assert [op.tool for op in m.operations] == [t["name"] for t in spec["tools"]]
    for op, tool in zip(m.operations, spec["tools"], strict=True):
        assert op.method is None and op.path is None
        assert op.input_schema["properties"] == tool["input_schema"]["properties"]
        assert {p.name for p in op.params if p.required} == set(tool["input_schema"].get("required", []))
        assert op.annotations.read_only_hint == tool["annotations"].get("readOnlyHint", False)
        assert op.output_schema["type"] == "object"
        op.tool_spec()


def test_mcp_stdio() -> None:
    check_notes(import_source(f"mcp+stdio:{sys.executable} {NOTES / 'server.py'}"), "mcp")


def test_mcp_http(notes_http: HttpServer) -> None:
    m = import_source(notes_http.url, name="notes")
    check_notes(m, "mcp")
    assert m.source == notes_http.url


def test_mcp_unreachable() -> None:
    with pytest.raises(ImportFailure, match="unreachable") as info:
        import_source("http://127.0.0.1:9/mcp")
    assert "\n" not in str(info.value)
    with pytest.raises(ImportFailure, match="unreachable"):
        import_source("mcp+stdio:/nonexistent/server --flag")


def test_envspec() -> None:
    m = import_source(str(NOTES / "env.json"))
    check_notes(m, "envspec")
    assert m.source_sha256 and m.domain == "productivity"


def test_envspec_yaml_with_bad_tool(tmp_path: Path) -> None:
    doc = "name: shop\ntools:\n  - name: 9bad\n    description: x\n    input_schema: {type: object}\n" \
          "    output_schema: {type: object}\n"
    with pytest.raises(ImportFailure, match=r"tools\[0\]"):
        import_source(write(tmp_path, "shop.yaml", doc))
