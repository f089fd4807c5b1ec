"""The synthesizer against third-party MCP servers installed from the npm registry (the reference knowledge-graph
memory server, TypeScript, stdio): verified trajectories with no code specific to it; a dead server beside it is
skipped, not fatal; the `--stdio` route works too. Over the reference filesystem and everything servers (one
mcp.json), values come from the servers' own outputs: every path is one the filesystem server listed under its
allowed directory (or a new one inside a listed directory), and no filler word appears.

The memory server sends no `envfactory/state_hash` and knows nothing of episodes: a record's `state_match` is None
and its reads are compared with the gold plan's instead (`outputs_match`); samples that must not act (irrelevance,
missing info) are judged by making no write (`state_match` True)."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from synthesizer.data.messages import validate_messages
from synthesizer.data.records import split_qualified
from synthesizer.run import MANIFEST, TRAJECTORIES, SynthConfig, SynthSummary, synthesize
from tests.conftest import ROOT

NPM = shutil.which("npm")
NODE = shutil.which("node")
if NPM is None or NODE is None:
    pytest.skip("needs npm and node to install and run @modelcontextprotocol/server-memory", allow_module_level=True)

PACKAGE = "@modelcontextprotocol/server-memory"
FILE_ENV = "MEMORY_FILE_PATH"  # the package README: "Path to the memory storage JSONL file"
READS = {"read_graph", "search_nodes", "open_nodes"}
DELETES = {"delete_entities", "delete_observations", "delete_relations"}
CREATES = {"create_entities", "create_relations", "add_observations"}
TOOLS = READS | DELETES | CREATES
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what OpenAI-style function names allow


@pytest.fixture(scope="module")
def entry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed server's entry script (its package.json `bin`). A failed install fails: it is not a skip."""
    prefix = tmp_path_factory.mktemp("npm")
    proc = subprocess.run([NPM, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", PACKAGE],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"npm install {PACKAGE} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")
    pkg = prefix / "node_modules" / "@modelcontextprotocol" / "server-memory"
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    binary = meta.get("bin")
    rel = binary if isinstance(binary, str) else next(iter(binary.values()), None) if isinstance(binary, dict) else None
    script = pkg / (rel or "dist/index.js")
    assert script.is_file(), f"{PACKAGE} has no entry script at {script}"
    assert FILE_ENV in (pkg / "README.md").read_text(encoding="utf-8"), f"{PACKAGE} no longer documents {FILE_ENV}"
    return script


def memory_entry(script: Path, store: Path) -> dict[str, Any]:
    return {"command": "node", "args": [str(script)], "env": {FILE_ENV: str(store)}}


def run(config: SynthConfig) -> tuple[SynthSummary, list[dict[str, Any]], dict[str, Any]]:
    summary = asyncio.run(synthesize(config))
    lines = (config.out / TRAJECTORIES).read_text(encoding="utf-8").splitlines()
    return summary, [json.loads(x) for x in lines], json.loads((config.out / MANIFEST).read_text(encoding="utf-8"))


def run_memory(tmp: Path, script: Path, n: int, seed: int) -> tuple[SynthSummary, list[dict], dict, Path]:
    store = tmp / "memory.jsonl"
    cfg = tmp / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"memory": memory_entry(script, store)}}), encoding="utf-8")
    config = SynthConfig(n=n, seed=seed, out=tmp / "run", mcp_config=cfg, progress=False, concurrency=1)
    return (*run(config), store)


@pytest.fixture(scope="module")
def memory_run(entry: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthSummary, list[dict], dict, Path]:
    return run_memory(tmp_path_factory.mktemp("memory"), entry, 8, 0)


def state_verdict(record: dict[str, Any]) -> bool | None:
    """No State hash is sent: None, then outputs are compared; a sample that must not act (no tool fits, a fact is
    missing) is judged by the absence of writes alone."""
    return True if record["kind"] in ("irrelevance", "missing_info") else None


def tool_results(record: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(namespaced tool, arguments, result text) of every call the assistant made, in order."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    out = []
    for m in record["messages"]:
        for tc in m.get("tool_calls") or []:
            calls[tc["id"]] = (tc["function"]["name"], json.loads(tc["function"]["arguments"]))
        if m["role"] == "tool":
            name, args = calls[m["tool_call_id"]]
            out.append((name, args, m["content"]))
    return out


def test_memory_server_records_are_verified(memory_run: tuple[SynthSummary, list[dict], dict, Path]) -> None:
    summary, records, _, store = memory_run
    # seed 0 makes all 8 (29 attempts: 8 dry runs fail because add_observations names an entity nobody created, 13
    # clarification/missing-info drafts find no top-level string to leave out: the memory tools take arrays); other
    # seeds leave ~1 index in 30 unfilled. The margin is for newer releases of the package (npm gives the latest).
    assert summary.count == len(records) >= 6
    assert summary.by_env == {"memory": len(records)} and summary.failed_servers == {}
    assert [r["index"] for r in records] == sorted(r["index"] for r in records)
    made_calls = 0
    for r in records:
        assert [e["name"] for e in r["envs"]] == ["memory"] and r["envs"][0]["transport"] == "stdio"
        assert r["envs"][0]["env_hash"] is None and r["scenarios"] == {"memory": None}  # no catalog environment
        shown = {t["function"]["name"] for t in r["tools"]}
        assert shown and all(n.startswith("memory__") for n in shown), shown
        assert {split_qualified(n)[1] for n in shown} >= TOOLS
        assert validate_messages(r["messages"], shown) == []
        checks = r["checks"]
        assert checks["verified"] is True and checks["state_match"] is state_verdict(r), checks
        assert checks["outputs_match"] is not False, (r["id"], checks)
        assert r["final_state_hashes"] == {} and r["expected_state_hashes"] in ({}, {"memory": None})
        assert all(p["name"] == f"memory__{p['tool']}" and p["server"] == "memory" for p in r["plan"])
        gold_reads = {json.dumps(p["arguments"], sort_keys=True): p["output"] for p in r["plan"] if p["read_only"]}
        for name, args, text in tool_results(r):
            made_calls += 1
            server, tool = split_qualified(name)
            assert server == "memory" and tool in TOOLS
            # the server's own answers, as its TypeScript code words them
            if tool in READS:
                graph = json.loads(text)
                assert set(graph) == {"entities", "relations"}
                key = json.dumps(args, sort_keys=True)
                if key in gold_reads:  # a read the plan made too: the same answer in the rollout
                    assert graph == gold_reads[key], (r["id"], name)
            elif tool in DELETES:
                assert text.endswith("deleted successfully"), text
            else:
                assert isinstance(json.loads(text), list), text
    assert made_calls >= len(records)  # irrelevance and missing-info samples make none; fan-outs make several
    kinds = {r["kind"] for r in records}
    assert "normal" in kinds and len(kinds) >= 2, kinds
    assert any(len(tool_results(r)) >= 2 for r in records)
    # the calls really reached the server with our environment: its JSONL store holds what the plans created
    stored = [json.loads(x) for x in store.read_text(encoding="utf-8").splitlines()]
    assert stored and all(x["type"] in ("entity", "relation") for x in stored)
    # a server without episodes shares one State between the gold run and the rollout: a creation repeated by the
    # assistant does nothing the second time, so such samples are rejected (outputs differ), never recorded
    assert all(r["checks"]["outputs_match"] is not False for r in records)


def test_manifest_lists_the_servers_tools(memory_run: tuple[SynthSummary, list[dict], dict, Path]) -> None:
    summary, records, manifest, _ = memory_run
    assert manifest["finished"] and manifest["count"] == len(records) and manifest["failed_servers"] == {}
    [server] = manifest["servers"]
    assert server["name"] == "memory" and server["transport"] == "stdio" and server["env_hash"] is None
    assert server["server_name"] and server["version"] and len(server["tools_hash"]) == 64
    assert set(server["tools"]) >= TOOLS
    assert manifest["graph"]["tools"] == len(server["tools"]) and manifest["graph"]["reachable"] == len(server["tools"])
    assert manifest["stats"]["rejected"] == summary.rejected and manifest["stats"]["attempts"] == summary.attempts
    assert all(r["envs"][0]["tools_hash"] == server["tools_hash"] for r in records)


def code_words(path: Path) -> list[str]:
    """Identifiers and string literals of a Python file (docstrings and comments are not code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value,
                                                                                                      str):
                docs.add(id(first.value))
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words.append(node.name)
        elif isinstance(node, ast.arg):
            words.append(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            words.append(node.arg)
        elif isinstance(node, ast.alias):
            words += [node.name, node.asname or ""]
    return words


def test_no_code_specific_to_the_memory_server() -> None:
    forbidden = ["memory", "@modelcontextprotocol/server", "knowledge graph", *sorted(TOOLS)]
    files = [p for p in (ROOT / "synthesizer").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len([p for p in files if p.suffix == ".py"]) >= 10
    hits = []
    for path in files:
        words = code_words(path) if path.suffix == ".py" else [path.read_text(encoding="utf-8", errors="replace")]
        hits += [f"{path.relative_to(ROOT)}: {w!r}" for w in words for f in forbidden if f in w.lower()]
    assert hits == []


def test_dead_server_is_skipped_not_fatal(entry: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "mcp.json"
    dead = {"command": "node", "args": ["-e", "process.stderr.write('dead: no config given\\n'); process.exit(3)"]}
    cfg.write_text(json.dumps({"mcpServers": {"memory": memory_entry(entry, tmp_path / "memory.jsonl"),
                                              "dead": dead}}), encoding="utf-8")
    summary, records, manifest = run(SynthConfig(n=4, seed=0, out=tmp_path / "run", mcp_config=cfg, progress=False,
                                                 concurrency=1))
    assert summary.count == len(records) == 4 and summary.by_env == {"memory": 4}
    assert all([e["name"] for e in r["envs"]] == ["memory"] and r["checks"]["verified"] for r in records)
    assert all(not any(t["function"]["name"].startswith("dead__") for t in r["tools"]) for r in records)
    assert set(summary.failed_servers) == {"dead"} and manifest["failed_servers"] == summary.failed_servers
    why = summary.failed_servers["dead"]
    assert why.startswith("cannot start MCP server 'dead'") and "dead: no config given" in why, why  # its stderr
    assert any(w.startswith("skipped server 'dead'") for w in summary.warnings)
    assert [s["name"] for s in manifest["servers"]] == ["memory"]


def stdio_command(script: Path, store: Path) -> str:
    return f"env {FILE_ENV}={store} node {script}"  # --stdio takes no env: `env` sets the store's path


def test_stdio_route(entry: Path, tmp_path: Path) -> None:
    config = SynthConfig(n=4, seed=0, out=tmp_path / "run", stdio=[stdio_command(entry, tmp_path / "m.jsonl")],
                         progress=False, concurrency=1)
    summary, records, manifest = run(config)
    assert summary.count == len(records) == 4 and summary.failed_servers == {}
    [server] = manifest["servers"]
    assert server["transport"] == "stdio" and set(server["tools"]) >= TOOLS
    for r in records:
        assert r["checks"]["verified"] and r["checks"]["state_match"] is state_verdict(r)
        assert all(FUNCTION_NAME.fullmatch(t["function"]["name"]) for t in r["tools"]), r["tools"][0]
        assert all(split_qualified(t["function"]["name"]) == (server["name"], t["function"]["name"].split("__", 1)[1])
                   for t in r["tools"])
    assert (tmp_path / "m.jsonl").exists()


def test_a_read_answered_differently_is_not_verified(entry: Path, tmp_path: Path) -> None:
    _, records, _, _ = run_memory(tmp_path, entry, 14, 1)
    bad = [r["id"] for r in records if r["checks"]["verified"] and r["checks"]["outputs_match"] is False]
    assert bad == []


def test_rollout_writes_take_effect(memory_run: tuple[SynthSummary, list[dict], dict, Path]) -> None:
    _, records, _, _ = memory_run
    noop = [(r["id"], name) for r in records for name, _, text in tool_results(r)
            if split_qualified(name)[1] in ("create_entities", "create_relations") and json.loads(text) == []]
    assert noop == []


REFERENCE = {"filesystem": "@modelcontextprotocol/server-filesystem",
             "everything": "@modelcontextprotocol/server-everything"}
FILLER = {"coffee", "blue", "travel", "weekly", "garden", "wireless"}  # the placeholder words values were drawn from
PATH_PARAMS = {"path", "paths", "source", "destination"}  # the filesystem server's path parameters (its schemas)
MISSING = re.compile(r"ENOENT|no such file|access denied|outside allowed|not a directory", re.IGNORECASE)


@pytest.fixture(scope="module")
def reference_scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Entry scripts of the reference filesystem and everything servers (one npm install; a failure fails)."""
    prefix = tmp_path_factory.mktemp("npm-reference")
    proc = subprocess.run([NPM, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", *REFERENCE.values()],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"npm install {' '.join(REFERENCE.values())} failed ({proc.returncode}): "
                    f"{(proc.stderr or proc.stdout)[-2000:]}")
    out = {}
    for name, package in REFERENCE.items():
        pkg = prefix / "node_modules" / package
        binary = json.loads((pkg / "package.json").read_text(encoding="utf-8")).get("bin")
        rel = binary if isinstance(binary, str) else next(iter(binary.values()), None) if isinstance(binary,
                                                                                                     dict) else None
        out[name] = pkg / (rel or "dist/index.js")
        assert out[name].is_file(), f"{package} has no entry script at {out[name]}"
    return out


def allowed_tree(root: Path) -> None:
    """A small home for the filesystem server: directories, text files, an empty folder."""
    for rel, text in {"docs/README.md": "# Plans\nShip the beta in March.\n", "projects/notes/todo.txt": "Buy milk\n",
                      "projects/budget.csv": "item,cost\nrent,1200\n", "photos/.keep": ""}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def files_run(reference_scripts: dict[str, Path],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthSummary, list[dict], Path]:
    tmp = tmp_path_factory.mktemp("reference")
    root = (tmp / "allowed").resolve()
    allowed_tree(root)
    cfg = tmp / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {
        "filesystem": {"command": "node", "args": [str(reference_scripts["filesystem"]), str(root)]},
        "everything": {"command": "node", "args": [str(reference_scripts["everything"]), "stdio"]}}}),
        encoding="utf-8")
    summary, records, _ = run(SynthConfig(n=12, seed=0, out=tmp / "run", mcp_config=cfg, progress=False,
                                          concurrency=1))
    return summary, records, root


def calls_of(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(namespaced tool, arguments) of the gold plan and of every call the assistant made."""
    out = [(p["name"], p["arguments"]) for p in record["plan"]]
    out += [(tc["function"]["name"], json.loads(tc["function"]["arguments"])) for m in record["messages"]
            for tc in m.get("tool_calls") or []]
    return out


def leaves(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [v for y in x.values() for v in leaves(y)]
    if isinstance(x, list):
        return [v for y in x for v in leaves(y)]
    return [x]


def test_filesystem_paths_are_ones_the_server_listed(files_run: tuple[SynthSummary, list[dict], Path]) -> None:
    summary, records, root = files_run
    assert summary.count == len(records) >= 8 and summary.failed_servers == {}
    assert "filesystem" in summary.by_env
    paths: list[str] = []
    for r in records:
        assert r["checks"]["verified"] is True
        for name, args in calls_of(r):
            server, tool = split_qualified(name)
            if server != "filesystem":
                continue
            for p in PATH_PARAMS & set(args):
                values = args[p] if isinstance(args[p], list) else [args[p]]
                assert values and all(isinstance(v, str) for v in values), (r["id"], tool, args)
                paths += values
                for v in values:  # an absolute path inside the allowed directory, never a word
                    assert Path(v).is_absolute() and Path(v).resolve().is_relative_to(root), (r["id"], tool, v)
        # the server itself answered that each path it was given exists (a read of a made-up path is an ENOENT)
        for name, _, text in tool_results(r):
            if split_qualified(name)[0] == "filesystem":
                assert not MISSING.search(text), (r["id"], name, text[:300])
        for p in r["plan"]:
            if p["server"] == "filesystem":
                assert not MISSING.search(json.dumps(p["output"])), (r["id"], p["name"], p["output"])
    assert len(paths) >= 3  # the run did use the filesystem's paths
    listed = {str(p) for p in root.rglob("*")} | {str(root)}
    assert any(v in listed for v in paths)  # and some of them are still there after the run's writes


def test_no_filler_values_over_the_reference_servers(files_run: tuple[SynthSummary, list[dict], Path]) -> None:
    _, records, _ = files_run
    filler = [(r["id"], name, v) for r in records for name, args in calls_of(r) for v in leaves(args)
              if isinstance(v, str) and v.strip().lower() in FILLER]
    assert filler == []
    assert {split_qualified(n)[0] for r in records for n, _ in calls_of(r)} == {"filesystem", "everything"}
