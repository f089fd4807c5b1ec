"""Values over a server without a State come from its own listings: paths it listed (or new ones inside a listed
directory), never a word; a required path nothing listed fails the step."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from synthesizer.discovery.calls import CallFailed
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.observed import Observed, path_role

ROOT_DIR = "/srv/data"


def tool(name: str, required: list[str], props: dict[str, Any] | None = None, read_only: bool = True,
         description: str = "") -> ToolInfo:
    props = props or {p: {"type": "string"} for p in required}
    return ToolInfo(name=name, description=description, read_only=read_only,
                    input_schema={"type": "object", "properties": props, "required": required})


ALLOWED = tool("list_allowed_directories", [], description="Returns the directories this server may access.")
LIST = tool("list_directory", ["path"])
TREE = tool("directory_tree", ["path"])
READ = tool("read_text_file", ["path"], {"path": {"type": "string"}, "head": {"type": "number"}})
READ_MANY = tool("read_multiple_files", ["paths"], {"paths": {"type": "array", "items": {"type": "string"}}})
WRITE = tool("write_file", ["path", "content"], read_only=False)
MKDIR = tool("create_directory", ["path"], read_only=False)
MOVE = tool("move_file", ["source", "destination"], read_only=False)
SEARCH = tool("search_files", ["path", "pattern"], description="Search files; the patterns should be glob-style.")
ECHO = tool("echo", ["message"])


def listed() -> Observed:
    obs = Observed()
    obs.harvest(ALLOWED, {}, {"content": f"Allowed directories:\n{ROOT_DIR}"}, f"Allowed directories:\n{ROOT_DIR}")
    text = "[DIR] docs\n[FILE] todo.txt\n[FILE] big.bin                 34 B"
    obs.harvest(LIST, {"path": ROOT_DIR}, {"content": text}, text)
    tree = json.dumps([{"name": "README.md", "type": "file"},
                       {"name": "old", "type": "directory", "children": [{"name": "a.txt", "type": "file"}]}])
    obs.harvest(TREE, {"path": f"{ROOT_DIR}/docs"}, {"content": tree}, tree)
    return obs


def test_listings_are_parsed_into_paths_of_a_kind() -> None:
    obs = listed()
    assert obs.roots == [ROOT_DIR]
    assert obs.paths == {ROOT_DIR: "dir", f"{ROOT_DIR}/docs": "dir", f"{ROOT_DIR}/todo.txt": "file",
                         f"{ROOT_DIR}/big.bin": "file", f"{ROOT_DIR}/docs/README.md": "file",
                         f"{ROOT_DIR}/docs/old": "dir", f"{ROOT_DIR}/docs/old/a.txt": "file"}


def test_errors_contents_and_outside_paths_are_not_taken() -> None:
    obs = listed()
    before = dict(obs.paths)
    text = "/srv/data/nope: Error - ENOENT: no such file or directory, open '/srv/data/nope'\n/etc/passwd"
    obs.harvest(tool("search_files", ["path", "pattern"]), {"path": ROOT_DIR, "pattern": "x"}, {"content": text}, text)
    obs.harvest(READ, {"path": f"{ROOT_DIR}/todo.txt"}, {"content": "/srv/data/ghost.txt"}, "/srv/data/ghost.txt")
    obs.harvest(tool("list_directory", ["path"], read_only=False), {"path": ROOT_DIR}, None, "[FILE] w.txt")
    assert obs.paths == before


@pytest.mark.parametrize("seed", range(20))
def test_fill_takes_listed_paths_of_the_right_kind(seed: int) -> None:
    obs, rng = listed(), random.Random(seed)
    files = {p for p, k in obs.paths.items() if k == "file"}
    dirs = {p for p, k in obs.paths.items() if k == "dir"}
    assert obs.fill(READ, {}, rng)["path"] in files
    assert set(obs.fill(READ_MANY, {}, rng)["paths"]) <= files
    assert obs.fill(LIST, {}, rng)["path"] in dirs
    new = obs.fill(WRITE, {}, rng)["path"]  # a new file inside a listed directory, not an existing one
    assert new not in obs.paths and new.rsplit("/", 1)[0] in dirs and "." in new.rsplit("/", 1)[1]
    made = obs.fill(MKDIR, {}, rng)["path"]
    assert made not in obs.paths and made.rsplit("/", 1)[0] in dirs
    moved = obs.fill(MOVE, {}, rng)
    assert moved["source"] in files and moved["destination"] not in obs.paths
    assert moved["destination"].rsplit(".", 1)[-1] == moved["source"].rsplit(".", 1)[-1]  # the extension is kept
    search = obs.fill(SEARCH, {}, rng)
    assert search["path"] in dirs and search["pattern"].startswith("**/*.")
    assert "content" not in obs.fill(WRITE, {}, rng)  # not a path: left to the value generator
    assert obs.fill(READ, {"path": "/srv/data/fed.txt"}, rng)["path"] == "/srv/data/fed.txt"  # fed stays


def test_a_required_path_nothing_listed_fails_the_step() -> None:
    with pytest.raises(CallFailed, match="path"):
        Observed().fill(READ, {}, random.Random(0))
    with pytest.raises(CallFailed):
        Observed().fill(WRITE, {}, random.Random(0))  # a new file needs a listed directory to go in
    obs = Observed()
    assert obs.lacks(READ, {}) and not obs.lacks(ECHO, {}) and not obs.lacks(READ, {"path": "/x"})
    assert Observed().fill(ECHO, {}, random.Random(0)) == {}  # nothing to source: the generator says it


def test_settle_leaves_out_invented_optional_values() -> None:
    obs = listed()
    args = {"path": f"{ROOT_DIR}/todo.txt", "head": 8.13}
    assert obs.settle(READ, args, {"path": args["path"]}) == {"path": args["path"]}
    flags = tool("get_message", ["kind"], {"kind": {"type": "string"}, "image": {"type": "boolean"},
                                           "style": {"enum": ["a", "b"]}, "note": {"type": "string"}})
    assert obs.settle(flags, {"kind": "x", "image": True, "style": "a", "note": "hi"}, {}) == {
        "kind": "x", "image": True, "style": "a"}


def test_a_moved_path_is_gone_for_later_steps() -> None:
    obs = listed()
    obs.wrote(MOVE, {"source": f"{ROOT_DIR}/docs", "destination": f"{ROOT_DIR}/archive"})
    assert not any(p.startswith(f"{ROOT_DIR}/docs") for p in obs.paths) and f"{ROOT_DIR}/todo.txt" in obs.paths


def test_path_roles() -> None:
    assert path_role("path", {"type": "string"}, LIST) == path_role("path", {"type": "string"}, SEARCH)
    assert path_role("path", {"type": "string"}, LIST).kind == "dir"  # type: ignore[union-attr]
    assert path_role("path", {"type": "string"}, READ).kind == "file"  # type: ignore[union-attr]
    assert path_role("destination", {"type": "string"}, MOVE).new  # type: ignore[union-attr]
    assert not path_role("source", {"type": "string"}, MOVE).new  # type: ignore[union-attr]
    assert path_role("message", {"type": "string"}, ECHO) is None
    assert path_role("pattern", {"type": "string"}, SEARCH) is None
    assert path_role("file_id", {"type": "string"}, READ) is None
    assert path_role("url", {"type": "string", "format": "uri"}, READ) is None
    travel = tool("search_flights", ["destination"], description="Search flights to an airport.")
    assert path_role("destination", {"type": "string"}, travel) is None  # not a file-system tool


def test_ids_come_from_json_answers() -> None:
    obs = Observed()
    doc = {"items": [{"note_id": "n-17", "title": "Groceries"}]}
    obs.harvest(tool("list_notes", []), {}, doc, json.dumps(doc))
    got = obs.fill(tool("get_note", ["note_id"]), {}, random.Random(0))
    assert got == {"note_id": "n-17"}
