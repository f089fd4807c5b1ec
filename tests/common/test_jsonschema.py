"""common.jsonschema.resolve: one `$ref` reading, with the keywords that tell its readers apart."""

from __future__ import annotations

from typing import Any

from common.jsonschema import lookup, resolve

ROOT: dict[str, Any] = {"$defs": {
    "Id": {"type": "string", "pattern": "^x_[0-9]+$", "description": "an id"},
    "Alias": {"$ref": "#/$defs/Id"},
    "Twice": {"$ref": "#/$defs/Alias", "description": "the alias"},
    "Ping": {"$ref": "#/$defs/Pong", "title": "ping"},
    "Pong": {"$ref": "#/$defs/Ping", "title": "pong"},
    "Self": {"$ref": "#/$defs/Self"},
    "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}},
    "Loop": {"anyOf": [{"$ref": "#/$defs/Loop"}, {"type": "null"}], "description": "loops"},
    "Base": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
             "required": ["id"], "description": "base"},
    "Named": {"allOf": [{"$ref": "#/$defs/Base"}, {"properties": {"name": {"type": "integer"}, "age": {}},
                                                   "required": ["name"], "format": "x"}]},
    "Junk": "not a schema",
}}


def test_lookup_walks_local_pointers_only() -> None:
    assert lookup(ROOT, "#/$defs/Id") == ROOT["$defs"]["Id"]
    assert lookup(ROOT, "#/$defs/Nope") is None
    assert lookup(ROOT, "#/$defs/Id/type/deeper") is None
    assert lookup(ROOT, "other.json#/x") is None


def test_chains_of_refs_are_followed_to_the_end() -> None:
    assert resolve({"$ref": "#/$defs/Alias"}, ROOT) == ROOT["$defs"]["Id"]
    assert resolve({"$ref": "#/$defs/Twice"}, ROOT)["pattern"] == "^x_[0-9]+$"


def test_sibling_keys_apply_only_when_asked_and_the_nearest_wins() -> None:
    node = {"$ref": "#/$defs/Twice", "description": "mine"}
    assert resolve(node, ROOT)["description"] == "an id"  # OpenAPI 3.0: siblings of a $ref are ignored
    read = resolve(node, ROOT, ref_siblings=True)
    assert read["description"] == "mine" and read["type"] == "string" and "$ref" not in read
    assert resolve({"$ref": "#/$defs/Twice"}, ROOT, ref_siblings=True)["description"] == "the alias"


def test_without_a_root_or_for_a_non_local_ref_nothing_is_followed() -> None:
    node = {"$ref": "#/$defs/Id", "type": "integer"}
    assert resolve(node, None) == node
    external = {"$ref": "https://example.com/s.json", "type": "integer"}
    assert resolve(external, ROOT, ref_siblings=True) == external


def test_a_dangling_ref_leaves_the_node_without_it() -> None:
    assert resolve({"$ref": "#/$defs/Nope", "type": "integer"}, ROOT) == {"type": "integer"}
    assert resolve({"$ref": "#/$defs/Junk"}, ROOT) == {}
    assert resolve("not a schema", ROOT) == {}


def test_ref_cycles_stop_at_the_first_repeated_ref() -> None:
    assert resolve({"$ref": "#/$defs/Self"}, ROOT) == {"$ref": "#/$defs/Self"}
    # Ping -> Pong -> Ping: stops on Pong, whose $ref would go back to Ping
    assert resolve({"$ref": "#/$defs/Ping"}, ROOT) == ROOT["$defs"]["Pong"]
    merged = resolve({"$ref": "#/$defs/Ping"}, ROOT, ref_siblings=True)
    assert merged == {"$ref": "#/$defs/Ping", "title": "ping"}  # Ping's own title beside the $ref wins


def test_recursion_through_items_is_not_expanded_and_through_unions_terminates() -> None:
    node = resolve({"$ref": "#/$defs/Node"}, ROOT)
    assert node["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    loop = resolve({"$ref": "#/$defs/Loop"}, ROOT, ref_siblings=True, collapse_unions=True)
    assert loop == {"$ref": "#/$defs/Loop", "description": "loops"}


def test_unions_collapse_to_their_first_non_null_branch_only_when_asked() -> None:
    nullable = {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Id"}], "description": "maybe"}
    assert resolve(nullable, ROOT) == nullable
    read = resolve(nullable, ROOT, collapse_unions=True)
    assert read == {"type": "string", "pattern": "^x_[0-9]+$", "description": "maybe"}
    only_null = {"oneOf": [{"type": "null"}]}
    assert resolve(only_null, ROOT, collapse_unions=True) == only_null


def test_all_of_merges_properties_and_required_and_the_first_part_wins_other_keys() -> None:
    assert "allOf" in resolve({"$ref": "#/$defs/Named"}, ROOT)  # not merged unless asked
    every = resolve({"$ref": "#/$defs/Named"}, ROOT, merge_all_of=True)
    assert every["properties"] == {"id": {"type": "string"}, "name": {"type": "integer"}, "age": {}}
    assert every["required"] == ["id", "name"]
    assert every["description"] == "base" and every["format"] == "x" and every["type"] == "object"
    some = resolve({"$ref": "#/$defs/Named"}, ROOT, merge_all_of=True, all_of_keys=("type", "description"))
    assert set(some) == {"type", "description", "properties"} and list(some["properties"]) == ["id", "name", "age"]


def test_all_of_keeps_the_nodes_own_keys_over_its_parts() -> None:
    node = {"allOf": [{"$ref": "#/$defs/Base"}], "description": "own", "properties": {"id": {"type": "integer"}}}
    read = resolve(node, ROOT, merge_all_of=True)
    assert read["description"] == "own"
    assert read["properties"]["id"] == {"type": "string"}  # a part's property replaces the node's of that name
    nested = {"allOf": [{"allOf": [{"$ref": "#/$defs/Base"}]}, {"properties": {"x": {}}}]}
    assert list(resolve(nested, ROOT, merge_all_of=True)["properties"]) == ["id", "name", "x"]
