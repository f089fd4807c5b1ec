"""Synthesizer end to end against the notes fixture server: HTTP (--url), stdio (mcp.json), resume, CLI errors."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from registry.envdir import load_env_dir
from synthesizer import cli
from synthesizer.export import export_openai
from synthesizer.messages import validate_messages
from synthesizer.run import MANIFEST, TRAJECTORIES, SynthConfig, synthesize
from tests.conftest import HttpServer, free_port

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "tests" / "fixtures" / "envs" / "notes"


@pytest.fixture(scope="module")
def notes_url() -> Iterator[str]:
    server = HttpServer([sys.executable, str(NOTES / "server.py")])
    try:
        yield server.url
    finally:
        server.stop()


def run(out: Path, n: int, urls: list[str], seed: int = 0, mcp_config: Path | None = None):
    config = SynthConfig(n=n, seed=seed, out=out, urls=urls, mcp_config=mcp_config, progress=False)
    return asyncio.run(synthesize(config))


def lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / TRAJECTORIES).read_text(encoding="utf-8").splitlines()]


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("synthesize")(cli.synthesize)
    a.command("export")(cli.export)
    return a


def test_http_trajectories_are_verified_and_valid(tmp_path: Path, notes_url: str) -> None:
    summary = run(tmp_path / "r", 8, [notes_url])
    records = lines(tmp_path / "r")
    assert summary.count == len(records) == 8 and summary.skipped == []
    assert [r["index"] for r in records] == list(range(8))
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert manifest["finished"] and manifest["count"] == 8
    assert manifest["servers"][0]["server_name"] == "notes" and manifest["servers"][0]["tools"] == 4
    for r in records:
        names = {t["function"]["name"] for t in r["tools"]}
        assert names == {"list_notes", "get_note", "create_note", "delete_note"}
        assert r["checks"] == {"replay_state_match": True, "replay_outputs_match": True}
        assert r["final_state_hash"] == r["expected_state_hash"] and len(r["final_state_hash"]) == 64
        assert validate_messages(r["messages"], names) == []
        assert r["messages"][1] == {"role": "user", "content": r["query"]}
        calls = [m for m in r["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
        assert [c["tool_calls"][0]["function"]["name"] for c in calls] == [s["tool"] for s in r["plan"]]
        assert not any(name in r["query"] for name in names)
        assert not re.search(r"note_\d{4}", r["query"])
        assert 2 <= len(r["plan"]) <= 4 and r["topology"]["nodes"] == [s["tool"] for s in r["plan"]]
        assert r["models"] == {"user": "template", "assistant": "offline"}
        assert "time" not in json.dumps(r["checks"])
    assert any(next(t for t in r["tools"] if t["function"]["name"] == s["tool"]) is not None
               for r in records for s in r["plan"])


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "a", 6, [notes_url], seed=7)
    run(tmp_path / "b", 6, [notes_url], seed=7)
    run(tmp_path / "c", 6, [notes_url], seed=8)
    a = (tmp_path / "a" / TRAJECTORIES).read_bytes()
    assert a == (tmp_path / "b" / TRAJECTORIES).read_bytes()
    assert a != (tmp_path / "c" / TRAJECTORIES).read_bytes()


def test_resume_equals_direct_run_and_repairs_truncation(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "direct", 5, [notes_url], seed=3)
    direct = (tmp_path / "direct" / TRAJECTORIES).read_bytes()
    run(tmp_path / "resumed", 2, [notes_url], seed=3)
    assert len(lines(tmp_path / "resumed")) == 2
    summary = run(tmp_path / "resumed", 5, [notes_url], seed=3)
    assert summary.new == 3
    assert (tmp_path / "resumed" / TRAJECTORIES).read_bytes() == direct
    # a crash mid-write leaves a truncated last line: it is dropped and regenerated
    path = tmp_path / "resumed" / TRAJECTORIES
    path.write_bytes(direct[: len(direct) - 40])
    summary = run(tmp_path / "resumed", 5, [notes_url], seed=3)
    assert summary.new == 1 and path.read_bytes() == direct
    # nothing left to do: a re-run changes nothing
    assert run(tmp_path / "resumed", 5, [notes_url], seed=3).new == 0 and path.read_bytes() == direct


def test_resume_with_other_seed_or_sources_is_an_error(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "r", 1, [notes_url], seed=1)
    res = CliRunner().invoke(app(), ["synthesize", "--n", "2", "--seed", "2", "--out", str(tmp_path / "r"),
                                     "--url", notes_url])
    assert res.exit_code == 1 and "seed 1" in res.stderr and "Traceback" not in res.stderr
    res = CliRunner().invoke(app(), ["synthesize", "--n", "2", "--seed", "1", "--out", str(tmp_path / "r"),
                                     "--url", notes_url + "?x=1"])
    assert res.exit_code == 1 and "other servers" in res.stderr


def test_unreachable_url_is_one_clear_line(tmp_path: Path) -> None:
    port = free_port()  # closed: nothing listens there
    res = CliRunner().invoke(app(), ["synthesize", "--n", "2", "--out", str(tmp_path / "r"),
                                     "--url", f"http://127.0.0.1:{port}/mcp"])
    assert res.exit_code == 1
    err = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("error: cannot reach MCP server"), res.stderr
    assert f"127.0.0.1:{port}" in err[0] and "Traceback" not in res.output + res.stderr


def test_bad_mcp_json_and_bad_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {')
    res = CliRunner().invoke(app(), ["synthesize", "--out", str(tmp_path / "r"), "--mcp-config", str(bad)])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "invalid JSON" in res.stderr
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"ghost": {"command": str(tmp_path / "no-such-binary")}}}))
    res = CliRunner().invoke(app(), ["synthesize", "--out", str(tmp_path / "r2"), "--mcp-config", str(cfg)])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "cannot start MCP server 'ghost'" in res.stderr and "Traceback" not in res.stderr


def test_mcp_json_stdio_uses_catalog_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVFACTORY_ENVS", str(NOTES.parent))  # so `notes` resolves to its env.json scenarios
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"servers": {"notes": {"type": "stdio", "command": sys.executable,
                                                     "args": [str(NOTES / "server.py")]}}}))
    res = CliRunner().invoke(app(), ["synthesize", "--n", "6", "--seed", "5", "--out", str(tmp_path / "r"),
                                     "--mcp-config", str(cfg)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "notes" in res.stdout and "trajectories" in res.stdout
    records = lines(tmp_path / "r")
    assert len(records) == 6
    assert {r["scenario"] for r in records} <= {"empty", "small", "full"}
    assert all(r["env"]["transport"] == "stdio" and r["checks"]["replay_state_match"] for r in records)
    env_hash = load_env_dir(NOTES).content_hash()  # records name the exact environment files they came from
    assert all(r["env"]["env_hash"] == env_hash and len(r["env"]["tools_hash"]) == 64 for r in records)
    assert any(r["plan"][0]["tool"] == "list_notes" for r in records) or len({r["scenario"] for r in records}) > 1
    out = tmp_path / "sft.jsonl"
    res = CliRunner().invoke(app(), ["export", str(tmp_path / "r"), "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert len(out.read_text().splitlines()) == 6


def test_export_openai(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "r", 4, [notes_url], seed=11)
    count = export_openai(tmp_path / "r", tmp_path / "openai.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "openai.jsonl").read_text().splitlines()]
    assert count == len(rows) == 4
    for row in rows:
        assert set(row) == {"messages", "tools"}
        assert row["tools"][0]["type"] == "function" and "parameters" in row["tools"][0]["function"]
        assert validate_messages(row["messages"], {t["function"]["name"] for t in row["tools"]}) == []
    res = CliRunner().invoke(app(), ["export", str(tmp_path / "r"), "--format", "sharegpt"])
    assert res.exit_code == 1 and "unknown format" in res.stderr


def test_synthesizer_never_imports_servers() -> None:
    pattern = re.compile(r"^\s*(import servers|from servers)\b", re.MULTILINE)
    offenders = [p for p in (ROOT / "synthesizer").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    proc = subprocess.run(["grep", "-r", r"import servers\|from servers", str(ROOT / "synthesizer")],
                          capture_output=True, text=True)
    assert proc.stdout == ""
